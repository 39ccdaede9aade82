import {
  customerId,
  deadline,
  deadlinePassed,
  frozen,
  given,
  held,
  holdUntil,
  orderId,
  reply,
  reserved,
  retryDue,
  types,
  when,
} from '../../test/saga-fixtures';
import { decide } from './decide';

/*
 * decide alone: given the order so far, when an event arrives, then the commands it sends and the
 * timeline entries it records. The state it leads to is evolve's (evolve.spec.ts).
 */

describe('decide: what an event makes the order send and record', () => {
  const twoLines = (): [string, number][] => [
    ['keyboard', 1],
    ['mouse', 2],
  ];

  it('records a branch that moved, and sends nothing while lines are still pending', () => {
    const { state } = given(twoLines());
    expect(decide(frozen(state), reserved('keyboard', 8_900))).toEqual({
      commands: [],
      timeline: [{ participant: 'stock:keyboard', state: 'tried', detail: 'reserved at 8900' }],
    });
  });

  it('tries the payment for the total when the last line is reserved', () => {
    const { state } = given(twoLines(), reserved('keyboard', 8_900));
    expect(decide(frozen(state), reserved('mouse', 2_900, 2)).commands).toEqual([
      { type: 'PaymentTry', payload: { orderId, customerId, amount: 14_700, deadline, holdUntil } },
    ]);
  });

  it('confirms every participant, after recording the hold and the phase', () => {
    const { state } = given(twoLines(), reserved('keyboard', 1), reserved('mouse', 1));
    const then = decide(frozen(state), held(3));
    expect(types(then.commands)).toEqual([
      'StockConfirm:keyboard',
      'StockConfirm:mouse',
      `PaymentConfirm:${customerId}`,
    ]);
    expect(then.timeline).toEqual([
      { participant: 'payment', state: 'tried', detail: 'held 3' },
      { participant: 'order', state: 'confirming', detail: 'total 3' },
    ]);
  });

  it('on an abort, records the branch, then why the order cancels, and releases what may be held', () => {
    const { state } = given(twoLines(), reserved('keyboard', 1));
    const then = decide(
      frozen(state),
      reply('StockRejected', { productId: 'mouse', reason: 'OUT_OF_STOCK' }),
    );
    expect(then.timeline).toEqual([
      { participant: 'stock:mouse', state: 'rejected', detail: 'OUT_OF_STOCK' },
      { participant: 'order', state: 'cancelling', detail: 'OUT_OF_STOCK: mouse: OUT_OF_STOCK' },
    ]);
    expect(types(then.commands)).toEqual(['StockCancel:keyboard']);
  });

  it('on the deadline, records it before the cancelling, and cancels the payment try in flight', () => {
    const { state } = given([['keyboard', 1]], reserved('keyboard', 1));
    const then = decide(frozen(state), deadlinePassed);
    expect(then.timeline.map((t) => t.state)).toEqual(['deadline-passed', 'cancelling']);
    expect(then.timeline[0]?.detail).toBe(deadline);
    expect(types(then.commands)).toEqual(['StockCancel:keyboard', `PaymentCancel:${customerId}`]);
  });

  it('records the end: CANCELLED with its reason', () => {
    const { state } = given([['ghost', 1]]);
    const then = decide(
      frozen(state),
      reply('StockRejected', { productId: 'ghost', reason: 'UNKNOWN_PRODUCT' }),
    );
    expect(then.timeline.map((t) => [t.state, t.detail])).toEqual([
      ['rejected', 'UNKNOWN_PRODUCT'],
      ['cancelling', 'UNKNOWN_PRODUCT: ghost: UNKNOWN_PRODUCT'],
      ['cancelled', 'UNKNOWN_PRODUCT'],
    ]);
    expect(then.commands).toEqual([]);
  });

  describe('compensations', () => {
    const cancelling = () =>
      given(
        [['keyboard', 1]],
        reserved('keyboard', 1),
        held(1),
        reply('PaymentConfirmRefused', { customerId, reason: 'EXPIRED' }),
      );

    it('a confirm that lands while the order cancels is taken back', () => {
      const then = decide(
        cancelling().state,
        reply('StockConfirmed', { productId: 'keyboard', quantity: 1 }),
      );
      expect(types(then.commands)).toEqual(['StockReturn:keyboard']);
    });

    it('a confirm while the order confirms is just recorded', () => {
      const confirming = given([['keyboard', 1]], reserved('keyboard', 1), held(1));
      const then = decide(confirming.state, reply('StockConfirmed', { productId: 'keyboard', quantity: 1 }));
      expect(then).toEqual({
        commands: [],
        timeline: [{ participant: 'stock:keyboard', state: 'confirmed', detail: null }],
      });
    });

    it('a return refused because nothing was sold yet becomes a cancel; refused for another reason, nothing', () => {
      const sold = when(cancelling(), reply('StockConfirmed', { productId: 'keyboard', quantity: 1 })).state;
      const notConfirmed = decide(
        sold,
        reply('StockReturnRefused', { productId: 'keyboard', reason: 'NOT_CONFIRMED' }),
      );
      expect(types(notConfirmed.commands)).toEqual(['StockCancel:keyboard']);
      const cancelled = decide(
        sold,
        reply('StockReturnRefused', { productId: 'keyboard', reason: 'CANCELLED' }),
      );
      expect(cancelled.commands).toEqual([]);
      expect(cancelled.timeline[0]).toEqual({
        participant: 'stock:keyboard',
        state: 'return-refused',
        detail: 'nothing sold: CANCELLED',
      });
    });

    it('a refund refused because nothing was captured yet becomes a cancel of the hold', () => {
      const captured = given(
        [['keyboard', 1]],
        reserved('keyboard', 1),
        held(1),
        reply('PaymentCaptured', { customerId, amount: 1 }),
        reply('StockConfirmRefused', { productId: 'keyboard', reason: 'EXPIRED' }),
      );
      const then = decide(
        captured.state,
        reply('PaymentRefundRefused', { customerId, reason: 'NOT_CONFIRMED' }),
      );
      expect(types(then.commands)).toEqual([`PaymentCancel:${customerId}`]);
    });
  });

  it('on RetryDue, sends again what is unanswered in the phase; while trying, nothing', () => {
    const confirming = given([['keyboard', 1]], reserved('keyboard', 1), held(1));
    expect(types(decide(confirming.state, retryDue).commands)).toEqual([
      'StockConfirm:keyboard',
      `PaymentConfirm:${customerId}`,
    ]);
    expect(decide(given([['keyboard', 1]]).state, retryDue)).toEqual({ commands: [], timeline: [] });
  });

  it('a reply that moves nothing sends and records nothing', () => {
    const { state } = given([['keyboard', 1]], reserved('keyboard', 1));
    expect(decide(state, reserved('keyboard', 1))).toEqual({ commands: [], timeline: [] });
  });

  it('a final order records a late reply, and ignores the deadline and retries silently', () => {
    const { state } = given(
      [['ghost', 1]],
      reply('StockRejected', { productId: 'ghost', reason: 'UNKNOWN_PRODUCT' }),
    );
    expect(decide(state, reserved('ghost', 1))).toEqual({
      commands: [],
      timeline: [{ participant: 'order', state: 'late-reply-ignored', detail: 'StockReserved' }],
    });
    expect(decide(state, deadlinePassed)).toEqual({ commands: [], timeline: [] });
    expect(decide(state, retryDue)).toEqual({ commands: [], timeline: [] });
  });
});
