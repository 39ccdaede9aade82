import {
  deadlinePassed,
  frozen,
  given,
  held,
  reply,
  reserved,
  retryDue,
  states,
} from '../../test/saga-fixtures';
import { evolve } from './evolve';

/*
 * evolve alone: given the order so far, when an event arrives, then its next state. What it sends
 * and records is decide's (decide.spec.ts).
 */

describe('evolve: the order state after an event', () => {
  const twoLines = (): [string, number][] => [
    ['keyboard', 1],
    ['mouse', 2],
  ];

  it('moves a reserved line to RESERVED with its catalog price', () => {
    const { state } = given(twoLines());
    const then = evolve(frozen(state), reserved('keyboard', 8_900));
    expect(then.lines[0]).toEqual({
      productId: 'keyboard',
      quantity: 1,
      unitPrice: 8_900,
      state: 'RESERVED',
    });
    expect(then.status).toBe('TRYING');
    expect(then.payment).toBe('NOT_TRIED');
  });

  it('once every line is reserved, tries the payment for the total of price times quantity', () => {
    const { state } = given(twoLines(), reserved('keyboard', 8_900));
    const then = evolve(frozen(state), reserved('mouse', 2_900, 2));
    expect(then).toMatchObject({ status: 'TRYING', payment: 'PENDING', total: 8_900 + 2 * 2_900 });
  });

  it('once the payment is held too, CONFIRMING', () => {
    const { state } = given(twoLines(), reserved('keyboard', 1), reserved('mouse', 1));
    expect(states(evolve(frozen(state), held(3)))).toEqual({
      status: 'CONFIRMING',
      lines: ['keyboard=RESERVED', 'mouse=RESERVED'],
      payment: 'RESERVED',
    });
  });

  it('once every participant confirmed, CONFIRMED', () => {
    const { state } = given(
      [['keyboard', 1]],
      reserved('keyboard', 1),
      held(1),
      reply('StockConfirmed', { productId: 'keyboard', quantity: 1 }),
    );
    const then = evolve(frozen(state), reply('PaymentCaptured', { customerId: 'alice', amount: 1 }));
    expect(then.status).toBe('CONFIRMED');
  });

  it('a rejection while trying: CANCELLING, with the reason and which branch said so', () => {
    const { state } = given(twoLines(), reserved('keyboard', 1));
    const then = evolve(
      frozen(state),
      reply('StockRejected', { productId: 'mouse', reason: 'OUT_OF_STOCK' }),
    );
    expect(then).toMatchObject({
      status: 'CANCELLING',
      reason: 'OUT_OF_STOCK',
      reasonDetail: 'mouse: OUT_OF_STOCK',
    });
  });

  it('a try refused for coming too late counts as a TIMEOUT', () => {
    const { state } = given(twoLines());
    const stock = evolve(state, reply('StockRejected', { productId: 'mouse', reason: 'DEADLINE_PASSED' }));
    expect(stock).toMatchObject({ reason: 'TIMEOUT', reasonDetail: 'mouse: DEADLINE_PASSED' });
    const tried = given(twoLines(), reserved('keyboard', 1), reserved('mouse', 1)).state;
    const payment = evolve(
      tried,
      reply('PaymentRejected', { customerId: 'alice', reason: 'ALREADY_CANCELLED' }),
    );
    expect(payment).toMatchObject({ reason: 'TIMEOUT', reasonDetail: 'payment: ALREADY_CANCELLED' });
  });

  it('the deadline while trying: CANCELLING with reason TIMEOUT; in any later phase, nothing', () => {
    const trying = given(twoLines()).state;
    expect(evolve(frozen(trying), deadlinePassed)).toMatchObject({ status: 'CANCELLING', reason: 'TIMEOUT' });
    const confirming = given([['keyboard', 1]], reserved('keyboard', 1), held(1)).state;
    expect(evolve(confirming, deadlinePassed)).toBe(confirming);
  });

  it('an expired reservation aborts a trying order, and only marks the branch of a confirming one', () => {
    const trying = given(twoLines(), reserved('keyboard', 1)).state;
    const expiredTrying = reply('StockReservationExpired', { productId: 'keyboard', quantity: 1 });
    expect(evolve(trying, expiredTrying)).toMatchObject({ status: 'CANCELLING', reason: 'TIMEOUT' });
    const confirming = given([['keyboard', 1]], reserved('keyboard', 1), held(1)).state;
    expect(states(evolve(confirming, expiredTrying))).toEqual({
      status: 'CONFIRMING',
      lines: ['keyboard=EXPIRED'],
      payment: 'RESERVED',
    });
  });

  it('CANCELLED once no participant holds anything', () => {
    const { state } = given(
      twoLines(),
      reply('StockRejected', { productId: 'mouse', reason: 'OUT_OF_STOCK' }),
    );
    const then = evolve(
      frozen(state),
      reply('StockCancelled', { productId: 'keyboard', released: 0, emptyRollback: true }),
    );
    expect(states(then)).toEqual({
      status: 'CANCELLED',
      lines: ['keyboard=CANCELLED', 'mouse=REJECTED'],
      payment: 'NOT_TRIED',
    });
  });

  it('a return refused because the sale never happened puts the line back to RESERVED, to be cancelled', () => {
    const { state } = given(
      [['keyboard', 1]],
      reserved('keyboard', 1),
      held(1),
      reply('StockConfirmed', { productId: 'keyboard', quantity: 1 }),
      reply('PaymentConfirmRefused', { customerId: 'alice', reason: 'EXPIRED' }),
    );
    const then = evolve(
      state,
      reply('StockReturnRefused', { productId: 'keyboard', reason: 'NOT_CONFIRMED' }),
    );
    expect(then.lines[0]?.state).toBe('RESERVED');
    const gone = evolve(state, reply('StockReturnRefused', { productId: 'keyboard', reason: 'CANCELLED' }));
    expect(gone.lines[0]?.state).toBe('CANCELLED');
  });

  it('leaves the state as it was (the same object) when the event moves nothing', () => {
    const { state } = given(twoLines(), reserved('keyboard', 1));
    expect(evolve(state, reserved('keyboard', 1))).toBe(state); // a repeat
    expect(evolve(state, reserved('cable', 1))).toBe(state); // not a line of this order
    expect(evolve(state, retryDue)).toBe(state);
  });

  it('a final order never changes', () => {
    const { state } = given(
      [['ghost', 1]],
      reply('StockRejected', { productId: 'ghost', reason: 'UNKNOWN_PRODUCT' }),
    );
    expect(state.status).toBe('CANCELLED');
    expect(evolve(state, reserved('ghost', 1))).toBe(state);
    expect(evolve(state, deadlinePassed)).toBe(state);
  });
});
