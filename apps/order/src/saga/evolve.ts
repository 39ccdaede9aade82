/*
 * evolve: (state, event) -> the order's next state. Every rule of where a branch or the order
 * moves is here; what the order sends and records on the way is decide's (decide.ts), read from
 * the transition this file computes. Nothing is changed in place: a rule that does not apply
 * returns the very state it was given.
 */
import { isFinal, RELEASED } from './saga-state';
import type { BranchState, CancelReason, PaymentState, SagaEvent, SagaState } from './saga-state';

/**
 * One step's states: as it was (`before`), after the event's own effect (`changed`: a branch
 * moved, perhaps the order aborted), and after what follows from the branch states (`after`: the
 * payment tried, the next phase, the end).
 */
export interface Transition {
  before: SagaState;
  changed: SagaState;
  after: SagaState;
}

export function evolve(state: SagaState, event: SagaEvent): SagaState {
  return transition(state, event).after;
}

/** A final order stays as it is, whatever arrives. */
export function transition(before: SagaState, event: SagaEvent): Transition {
  if (isFinal(before.status)) return { before, changed: before, after: before };
  const changed = applyEvent(before, event);
  return { before, changed, after: advance(changed) };
}

function applyEvent(s: SagaState, event: SagaEvent): SagaState {
  switch (event.type) {
    case 'DeadlinePassed':
      return s.status === 'TRYING'
        ? abort(s, 'TIMEOUT', `not every participant answered the try by ${s.deadline}`)
        : s;
    case 'RetryDue':
      return s;

    // ---------------------------------------------------------------- stock replies
    case 'StockReserved': {
      const { productId, unitPrice } = event.payload;
      return moveLine(s, productId, ['PENDING'], 'RESERVED', unitPrice);
    }
    case 'StockRejected': {
      const { productId, reason } = event.payload;
      const moved = moveLine(s, productId, ['PENDING'], 'REJECTED');
      const why: CancelReason =
        reason === 'OUT_OF_STOCK' || reason === 'UNKNOWN_PRODUCT' ? reason : 'TIMEOUT';
      return moved === s ? s : abort(moved, why, `${productId}: ${reason}`);
    }
    case 'StockConfirmed':
      return moveLine(s, event.payload.productId, ['RESERVED', 'EXPIRED', 'PENDING'], 'CONFIRMED');
    case 'StockConfirmRefused': {
      const { productId, reason } = event.payload;
      const moved = moveLine(s, productId, ['RESERVED', 'EXPIRED'], 'CONFIRM_REFUSED');
      return moved === s
        ? s
        : abort(moved, 'CONFIRM_FAILED', `stock ${productId} could not confirm: ${reason}`);
    }
    case 'StockCancelled':
      return moveLine(s, event.payload.productId, ['PENDING', 'RESERVED', 'EXPIRED'], 'CANCELLED');
    case 'StockCancelRefused':
      // only a confirmed reservation refuses a cancel: the sale stands (decide takes it back)
      return event.payload.reason === 'CONFIRMED'
        ? moveLine(s, event.payload.productId, ['PENDING', 'RESERVED', 'EXPIRED'], 'CONFIRMED')
        : s;
    case 'StockReturned':
      return moveLine(s, event.payload.productId, ['CONFIRMED'], 'RETURNED');
    case 'StockReturnRefused': {
      // NOT_CONFIRMED: still only reserved (decide releases it instead); otherwise nothing was sold
      const { productId, reason } = event.payload;
      return moveLine(s, productId, ['CONFIRMED'], reason === 'NOT_CONFIRMED' ? 'RESERVED' : 'CANCELLED');
    }
    case 'StockReservationExpired': {
      const moved = moveLine(s, event.payload.productId, ['RESERVED'], 'EXPIRED');
      return moved !== s && s.status === 'TRYING'
        ? abort(moved, 'TIMEOUT', `${event.payload.productId}: reservation expired`)
        : moved;
    }

    // ---------------------------------------------------------------- payment replies
    case 'PaymentHeld':
      return movePayment(s, ['PENDING'], 'RESERVED');
    case 'PaymentRejected': {
      const { reason } = event.payload;
      const moved = movePayment(s, ['PENDING'], 'REJECTED');
      const why: CancelReason =
        reason === 'INSUFFICIENT_FUNDS' || reason === 'UNKNOWN_WALLET' ? reason : 'TIMEOUT';
      return moved === s ? s : abort(moved, why, `payment: ${reason}`);
    }
    case 'PaymentCaptured':
      return movePayment(s, ['RESERVED', 'EXPIRED', 'PENDING'], 'CONFIRMED');
    case 'PaymentConfirmRefused': {
      const moved = movePayment(s, ['RESERVED', 'EXPIRED'], 'CONFIRM_REFUSED');
      return moved === s
        ? s
        : abort(moved, 'CONFIRM_FAILED', `payment could not be captured: ${event.payload.reason}`);
    }
    case 'PaymentReleased':
      return movePayment(s, ['PENDING', 'RESERVED', 'EXPIRED'], 'CANCELLED');
    case 'PaymentCancelRefused':
      return event.payload.reason === 'CONFIRMED'
        ? movePayment(s, ['PENDING', 'RESERVED', 'EXPIRED'], 'CONFIRMED')
        : s;
    case 'PaymentRefunded':
      return movePayment(s, ['CONFIRMED'], 'RETURNED');
    case 'PaymentRefundRefused':
      return movePayment(
        s,
        ['CONFIRMED'],
        event.payload.reason === 'NOT_CONFIRMED' ? 'RESERVED' : 'CANCELLED',
      );
    case 'PaymentHoldExpired': {
      const moved = movePayment(s, ['RESERVED'], 'EXPIRED');
      return moved !== s && s.status === 'TRYING' ? abort(moved, 'TIMEOUT', 'payment hold expired') : moved;
    }
  }
}

/** What follows from the branch states: the payment tried, the next phase, or the end. */
function advance(changed: SagaState): SagaState {
  let s = changed;
  const allLines = (state: BranchState) => s.lines.every((l) => l.state === state);
  if (s.status === 'TRYING' && allLines('RESERVED')) {
    if (s.payment === 'NOT_TRIED') {
      const total = s.lines.reduce((sum, l) => sum + (l.unitPrice ?? 0) * l.quantity, 0);
      s = { ...s, total, payment: 'PENDING' };
    } else if (s.payment === 'RESERVED') {
      s = { ...s, status: 'CONFIRMING' };
    }
  }
  if (s.status === 'CONFIRMING' && allLines('CONFIRMED') && s.payment === 'CONFIRMED') {
    s = { ...s, status: 'CONFIRMED' };
  }
  if (
    s.status === 'CANCELLING' &&
    s.lines.every((l) => RELEASED.includes(l.state)) &&
    RELEASED.includes(s.payment)
  ) {
    s = { ...s, status: 'CANCELLED' };
  }
  return s;
}

/** The order given up while it could still be: CANCELLING, with why. */
function abort(s: SagaState, reason: CancelReason, detail: string): SagaState {
  if (s.status !== 'TRYING' && s.status !== 'CONFIRMING') return s;
  return { ...s, status: 'CANCELLING', reason, reasonDetail: detail };
}

/** The stock branch of `productId` moved to `to`, if it is in one of `from` (with its price, if given). */
function moveLine(
  s: SagaState,
  productId: string,
  from: readonly BranchState[],
  to: BranchState,
  unitPrice?: number,
): SagaState {
  const i = s.lines.findIndex((l) => l.productId === productId);
  const line = s.lines[i];
  if (!line || !from.includes(line.state)) return s;
  const lines = [...s.lines];
  lines[i] = { ...line, state: to, ...(unitPrice === undefined ? {} : { unitPrice }) };
  return { ...s, lines };
}

function movePayment(s: SagaState, from: readonly PaymentState[], to: PaymentState): SagaState {
  return from.includes(s.payment) ? { ...s, payment: to } : s;
}
