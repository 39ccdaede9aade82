import {
  customerId,
  deadline,
  given,
  held,
  holdUntil,
  orderId,
  reply,
  reserved,
  states,
  types,
  when,
} from '../../test/saga-fixtures';

/*
 * The saga's specification, given / when / then: given the messages so far, when the next one
 * arrives, then this state (evolve) and these commands and timeline entries (decide), as the order
 * service applies them together (step).
 */

describe('order saga', () => {
  describe('the try phase', () => {
    it('starts by reserving every line at stock, with the deadline and how long to hold', () => {
      const d = given([
        ['keyboard', 1],
        ['mouse', 2],
      ]);
      expect(d.state.status).toBe('TRYING');
      expect(d.commands).toEqual([
        { type: 'StockTry', payload: { orderId, productId: 'keyboard', quantity: 1, deadline, holdUntil } },
        { type: 'StockTry', payload: { orderId, productId: 'mouse', quantity: 2, deadline, holdUntil } },
      ]);
    });

    it('tries a product named on several lines once, for their quantities together', () => {
      const d = given([
        ['keyboard', 1],
        ['mouse', 1],
        ['keyboard', 2],
      ]);
      expect(d.state.lines.map((l) => [l.productId, l.quantity])).toEqual([
        ['keyboard', 3],
        ['mouse', 1],
      ]);
      expect(types(d.commands)).toEqual(['StockTry:keyboard', 'StockTry:mouse']);
      expect(d.timeline).toEqual([
        { participant: 'order', state: 'trying', detail: `2 line(s), deadline ${deadline}` },
      ]);
    });

    it('tries the payment for the catalog total once every line is reserved', () => {
      const d = given(
        [
          ['keyboard', 1],
          ['mouse', 2],
        ],
        reserved('keyboard', 8_900),
      );
      expect(d.commands).toEqual([]);
      const then = when(d, reserved('mouse', 2_900, 2));
      expect(then.state.total).toBe(8_900 + 2 * 2_900);
      expect(then.commands).toEqual([
        { type: 'PaymentTry', payload: { orderId, customerId, amount: 14_700, deadline, holdUntil } },
      ]);
    });

    it('confirms everyone once the payment is held too', () => {
      const d = given(
        [
          ['keyboard', 1],
          ['mouse', 1],
        ],
        reserved('keyboard', 10),
        reserved('mouse', 20),
      );
      const then = when(d, held(30));
      expect(then.state.status).toBe('CONFIRMING');
      expect(types(then.commands)).toEqual([
        'StockConfirm:keyboard',
        'StockConfirm:mouse',
        `PaymentConfirm:${customerId}`,
      ]);
    });
  });

  describe('the happy path', () => {
    it('ends CONFIRMED when every participant confirmed', () => {
      const d = given(
        [['keyboard', 1]],
        reserved('keyboard', 10),
        held(10),
        reply('StockConfirmed', { productId: 'keyboard', quantity: 1 }),
      );
      expect(d.state.status).toBe('CONFIRMING');
      const then = when(d, reply('PaymentCaptured', { customerId, amount: 10 }));
      expect(states(then.state)).toEqual({
        status: 'CONFIRMED',
        lines: ['keyboard=CONFIRMED'],
        payment: 'CONFIRMED',
      });
      expect(then.commands).toEqual([]);
    });
  });

  describe('cancellation', () => {
    it('out of stock: cancels every line that may be reserved and never touches payment', () => {
      const d = given(
        [
          ['keyboard', 1],
          ['mouse', 1],
          ['cable', 1],
        ],
        reserved('keyboard', 10),
      );
      const then = when(d, reply('StockRejected', { productId: 'mouse', reason: 'OUT_OF_STOCK' }));
      expect(then.state).toMatchObject({
        status: 'CANCELLING',
        reason: 'OUT_OF_STOCK',
        reasonDetail: 'mouse: OUT_OF_STOCK',
      });
      // the cable's try is still in flight: its cancel is remembered, so a late try is refused
      expect(types(then.commands)).toEqual(['StockCancel:keyboard', 'StockCancel:cable']);
      const done = [
        reply('StockCancelled', { productId: 'keyboard', released: 1, emptyRollback: false }),
        reply('StockCancelled', { productId: 'cable', released: 0, emptyRollback: true }),
      ].reduce(when, then);
      expect(states(done.state)).toEqual({
        status: 'CANCELLED',
        lines: ['keyboard=CANCELLED', 'mouse=REJECTED', 'cable=CANCELLED'],
        payment: 'NOT_TRIED',
      });
    });

    it('unknown product: CANCELLED with that reason', () => {
      const then = given(
        [['ghost', 1]],
        reply('StockRejected', { productId: 'ghost', reason: 'UNKNOWN_PRODUCT' }),
      );
      expect(then.state).toMatchObject({ status: 'CANCELLED', reason: 'UNKNOWN_PRODUCT' });
      expect(then.commands).toEqual([]);
    });

    it('insufficient funds: releases every reserved line', () => {
      const d = given(
        [
          ['keyboard', 1],
          ['mouse', 1],
        ],
        reserved('keyboard', 10),
        reserved('mouse', 10),
      );
      const then = when(d, reply('PaymentRejected', { customerId, reason: 'INSUFFICIENT_FUNDS' }));
      expect(then.state).toMatchObject({ status: 'CANCELLING', reason: 'INSUFFICIENT_FUNDS' });
      expect(types(then.commands)).toEqual(['StockCancel:keyboard', 'StockCancel:mouse']);
    });

    it('timeout: cancels stock and the payment whose try never answered', () => {
      const d = given([['keyboard', 1]], reserved('keyboard', 10));
      const then = when(d, { type: 'DeadlinePassed' });
      expect(then.state).toMatchObject({ status: 'CANCELLING', reason: 'TIMEOUT' });
      expect(types(then.commands)).toEqual(['StockCancel:keyboard', `PaymentCancel:${customerId}`]);
      const late = when(then, held(10)); // the payment's try was handled before the cancel
      expect(late.state.status).toBe('CANCELLING');
      const done = [
        reply('StockCancelled', { productId: 'keyboard', released: 1, emptyRollback: false }),
        reply('PaymentReleased', { customerId, released: 10, emptyRollback: false }),
      ].reduce(when, late);
      expect(done.state).toMatchObject({ status: 'CANCELLED', reason: 'TIMEOUT' });
    });

    it('ignores the deadline once the try phase is over', () => {
      const d = given([['keyboard', 1]], reserved('keyboard', 10), held(10));
      expect(when(d, { type: 'DeadlinePassed' }).state.status).toBe('CONFIRMING');
    });
  });

  describe('a participant that can no longer confirm', () => {
    const confirming = () => given([['keyboard', 1]], reserved('keyboard', 10), held(10));

    it('stock refuses: the payment is refunded if it was captured, and the order says why', () => {
      const d = when(confirming(), reply('PaymentCaptured', { customerId, amount: 10 }));
      const then = when(d, reply('StockConfirmRefused', { productId: 'keyboard', reason: 'EXPIRED' }));
      expect(then.state).toMatchObject({
        status: 'CANCELLING',
        reason: 'CONFIRM_FAILED',
        reasonDetail: 'stock keyboard could not confirm: EXPIRED',
      });
      expect(types(then.commands)).toEqual([`PaymentRefund:${customerId}`]);
      const done = when(then, reply('PaymentRefunded', { customerId, amount: 10 }));
      expect(states(done.state)).toEqual({
        status: 'CANCELLED',
        lines: ['keyboard=CONFIRM_REFUSED'],
        payment: 'RETURNED',
      });
    });

    it('stock refuses before the capture is known: the capture that follows is refunded', () => {
      const d = when(
        confirming(),
        reply('StockConfirmRefused', { productId: 'keyboard', reason: 'EXPIRED' }),
      );
      expect(types(d.commands)).toEqual([`PaymentCancel:${customerId}`]);
      const captured = when(d, reply('PaymentCaptured', { customerId, amount: 10 }));
      expect(types(captured.commands)).toEqual([`PaymentRefund:${customerId}`]);
      const refusedCancel = when(
        captured,
        reply('PaymentCancelRefused', { customerId, reason: 'CONFIRMED' }),
      );
      expect(refusedCancel.commands).toEqual([]);
      expect(when(refusedCancel, reply('PaymentRefunded', { customerId, amount: 10 })).state.status).toBe(
        'CANCELLED',
      );
    });

    it('payment refuses: the goods already sold are taken back', () => {
      const d = when(confirming(), reply('StockConfirmed', { productId: 'keyboard', quantity: 1 }));
      const then = when(d, reply('PaymentConfirmRefused', { customerId, reason: 'EXPIRED' }));
      expect(then.state).toMatchObject({ status: 'CANCELLING', reason: 'CONFIRM_FAILED' });
      expect(types(then.commands)).toEqual(['StockReturn:keyboard']);
      const done = when(then, reply('StockReturned', { productId: 'keyboard', quantity: 1 }));
      expect(done.state.status).toBe('CANCELLED');
    });
  });

  describe('retries and duplicates', () => {
    it('re-sends confirms only to participants that have not answered', () => {
      const d = given(
        [
          ['keyboard', 1],
          ['mouse', 1],
        ],
        reserved('keyboard', 1),
        reserved('mouse', 1),
        held(2),
        reply('StockConfirmed', { productId: 'keyboard', quantity: 1 }),
      );
      expect(types(when(d, { type: 'RetryDue' }).commands)).toEqual([
        'StockConfirm:mouse',
        `PaymentConfirm:${customerId}`,
      ]);
    });

    it('re-sends cancels until everything is released', () => {
      const d = given([['keyboard', 1]], { type: 'DeadlinePassed' });
      expect(types(when(d, { type: 'RetryDue' }).commands)).toEqual(['StockCancel:keyboard']);
    });

    it('a repeated reply changes nothing', () => {
      const d = given([['keyboard', 1]], reserved('keyboard', 10));
      const again = when(d, reserved('keyboard', 10));
      expect(again.state).toEqual(d.state);
      expect(again.commands).toEqual([]);
    });

    it('a late reserve after the cancel does not revive the order', () => {
      const d = given(
        [
          ['keyboard', 1],
          ['mouse', 1],
        ],
        reply('StockRejected', { productId: 'mouse', reason: 'OUT_OF_STOCK' }),
      );
      const then = when(d, reserved('keyboard', 10));
      expect(then.state.status).toBe('CANCELLING');
      expect(then.commands).toEqual([]);
    });

    it('a final order ignores anything that arrives later', () => {
      const d = given(
        [['ghost', 1]],
        reply('StockRejected', { productId: 'ghost', reason: 'UNKNOWN_PRODUCT' }),
      );
      const then = when(d, reserved('ghost', 1));
      expect(then.state).toEqual(d.state);
      expect(then.timeline).toEqual([
        { participant: 'order', state: 'late-reply-ignored', detail: 'StockReserved' },
      ]);
    });
  });

  it('records every participant step in the timeline', () => {
    const d = given([['keyboard', 1]], reserved('keyboard', 10), held(10));
    expect(d.timeline).toEqual([
      { participant: 'payment', state: 'tried', detail: 'held 10' },
      { participant: 'order', state: 'confirming', detail: 'total 10' },
    ]);
  });
});
