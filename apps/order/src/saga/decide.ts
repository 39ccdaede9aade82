/*
 * decide: (state, event) -> the commands the order sends and the timeline entries it records. It
 * reads what the event does from evolve's transition (which branch moved, whether the order
 * aborted or entered a phase) and never changes a state itself.
 */
import { transition } from './evolve';
import type { Transition } from './evolve';
import { isFinal } from './saga-state';
import type { SagaCommand, SagaDecision, SagaEvent, SagaState, TimelineEntry } from './saga-state';

export function decide(state: SagaState, event: SagaEvent): SagaDecision {
  return decideTransition(transition(state, event), event);
}

/** decide, for a transition evolve has computed already. */
export function decideTransition(t: Transition, event: SagaEvent): SagaDecision {
  if (isFinal(t.before.status)) return { commands: [], timeline: lateEntry(event) };
  const own = eventOutcome(t, event);
  const phase = phaseOutcome(t);
  return { commands: [...own.commands, ...phase.commands], timeline: [...own.timeline, ...phase.timeline] };
}

/** What the event itself says and sends: its branch's step, the abort it caused, a compensation. */
function eventOutcome({ before, changed }: Transition, event: SagaEvent): SagaDecision {
  const timeline: TimelineEntry[] = [];
  const commands: SagaCommand[] = [];
  const { orderId, customerId } = before;
  const aborted = changed.status !== before.status;
  /** records the stock branch's step, if the event moved it; whether it did */
  const stockStep = (productId: string, state: string, detail: string | null = null) => {
    const moved = lineState(before, productId) !== lineState(changed, productId);
    if (moved) timeline.push({ participant: `stock:${productId}`, state, detail });
    return moved;
  };
  /** records the payment branch's step, if the event moved it; whether it did */
  const paymentStep = (state: string, detail: string | null = null) => {
    const moved = before.payment !== changed.payment;
    if (moved) timeline.push({ participant: 'payment', state, detail });
    return moved;
  };
  switch (event.type) {
    case 'DeadlinePassed':
      if (aborted) timeline.push({ participant: 'order', state: 'deadline-passed', detail: before.deadline });
      break;
    case 'RetryDue':
      if (before.status === 'CONFIRMING') commands.push(...confirmCommands(before));
      if (before.status === 'CANCELLING') commands.push(...releaseCommands(before));
      break;

    // ---------------------------------------------------------------- stock replies
    case 'StockReserved':
      stockStep(event.payload.productId, 'tried', `reserved at ${event.payload.unitPrice}`);
      break;
    case 'StockRejected':
      stockStep(event.payload.productId, 'rejected', event.payload.reason);
      break;
    case 'StockConfirmed': {
      const { productId } = event.payload;
      // confirmed while the order cancels: take the sale back
      if (stockStep(productId, 'confirmed') && before.status === 'CANCELLING') {
        commands.push({ type: 'StockReturn', payload: { orderId, productId } });
      }
      break;
    }
    case 'StockConfirmRefused':
      stockStep(event.payload.productId, 'confirm-refused', event.payload.reason);
      break;
    case 'StockCancelled':
      stockStep(event.payload.productId, 'cancelled', event.payload.emptyRollback ? 'empty rollback' : null);
      break;
    case 'StockCancelRefused': {
      const { productId } = event.payload;
      if (stockStep(productId, 'confirmed', 'cancel came too late')) {
        commands.push({ type: 'StockReturn', payload: { orderId, productId } });
      }
      break;
    }
    case 'StockReturned':
      stockStep(event.payload.productId, 'compensated', 'sale taken back');
      break;
    case 'StockReturnRefused': {
      const { productId, reason } = event.payload;
      if (reason !== 'NOT_CONFIRMED') stockStep(productId, 'return-refused', `nothing sold: ${reason}`);
      else if (stockStep(productId, 'return-refused', reason)) {
        // still only reserved: release it instead
        commands.push({ type: 'StockCancel', payload: { orderId, productId } });
      }
      break;
    }
    case 'StockReservationExpired':
      stockStep(event.payload.productId, 'expired', 'released by the stock sweeper');
      break;

    // ---------------------------------------------------------------- payment replies
    case 'PaymentHeld':
      paymentStep('tried', `held ${event.payload.amount}`);
      break;
    case 'PaymentRejected':
      paymentStep('rejected', event.payload.reason);
      break;
    case 'PaymentCaptured':
      if (paymentStep('confirmed', `captured ${event.payload.amount}`) && before.status === 'CANCELLING') {
        commands.push({ type: 'PaymentRefund', payload: { orderId, customerId } });
      }
      break;
    case 'PaymentConfirmRefused':
      paymentStep('confirm-refused', event.payload.reason);
      break;
    case 'PaymentReleased':
      paymentStep('cancelled', event.payload.emptyRollback ? 'empty rollback' : null);
      break;
    case 'PaymentCancelRefused':
      if (paymentStep('confirmed', 'cancel came too late')) {
        commands.push({ type: 'PaymentRefund', payload: { orderId, customerId } });
      }
      break;
    case 'PaymentRefunded':
      paymentStep('compensated', `refunded ${event.payload.amount}`);
      break;
    case 'PaymentRefundRefused': {
      const { reason } = event.payload;
      if (reason !== 'NOT_CONFIRMED') paymentStep('refund-refused', `nothing captured: ${reason}`);
      else if (paymentStep('refund-refused', reason)) {
        commands.push({ type: 'PaymentCancel', payload: { orderId, customerId } });
      }
      break;
    }
    case 'PaymentHoldExpired':
      paymentStep('expired', 'released by the payment sweeper');
      break;
  }
  if (aborted) {
    const { reason, reasonDetail } = changed;
    timeline.push({ participant: 'order', state: 'cancelling', detail: `${reason}: ${reasonDetail}` });
    commands.push(...releaseCommands(changed));
  }
  return { commands, timeline };
}

/** What follows from the branch states: the payment's try, the confirms, the end. */
function phaseOutcome({ changed, after }: Transition): SagaDecision {
  const timeline: TimelineEntry[] = [];
  const commands: SagaCommand[] = [];
  const { orderId, customerId, deadline, holdUntil } = after;
  if (changed.payment === 'NOT_TRIED' && after.payment === 'PENDING') {
    commands.push({
      type: 'PaymentTry',
      payload: { orderId, customerId, amount: after.total ?? 0, deadline, holdUntil },
    });
  }
  if (changed.status === 'TRYING' && after.status === 'CONFIRMING') {
    timeline.push({ participant: 'order', state: 'confirming', detail: `total ${after.total}` });
    commands.push(...confirmCommands(after));
  }
  if (after.status === 'CONFIRMED' && changed.status !== 'CONFIRMED') {
    timeline.push({ participant: 'order', state: 'confirmed', detail: null });
  }
  if (after.status === 'CANCELLED' && changed.status !== 'CANCELLED') {
    timeline.push({ participant: 'order', state: 'cancelled', detail: after.reason });
  }
  return { commands, timeline };
}

function lineState(s: SagaState, productId: string) {
  return s.lines.find((l) => l.productId === productId)?.state;
}

/** confirm every branch that is reserved (or expired: the participant takes it again if it can) */
function confirmCommands(s: SagaState): SagaCommand[] {
  const { orderId, customerId } = s;
  const commands: SagaCommand[] = s.lines
    .filter((l) => l.state === 'RESERVED' || l.state === 'EXPIRED')
    .map((l) => ({ type: 'StockConfirm', payload: { orderId, productId: l.productId } }));
  if (s.payment === 'RESERVED' || s.payment === 'EXPIRED') {
    commands.push({ type: 'PaymentConfirm', payload: { orderId, customerId } });
  }
  return commands;
}

/** release every branch that may hold something; take back what was already confirmed */
function releaseCommands(s: SagaState): SagaCommand[] {
  const { orderId, customerId } = s;
  const commands: SagaCommand[] = [];
  for (const l of s.lines) {
    if (l.state === 'PENDING' || l.state === 'RESERVED') {
      commands.push({ type: 'StockCancel', payload: { orderId, productId: l.productId } });
    } else if (l.state === 'CONFIRMED') {
      commands.push({ type: 'StockReturn', payload: { orderId, productId: l.productId } });
    }
  }
  if (s.payment === 'PENDING' || s.payment === 'RESERVED') {
    commands.push({ type: 'PaymentCancel', payload: { orderId, customerId } });
  } else if (s.payment === 'CONFIRMED') {
    commands.push({ type: 'PaymentRefund', payload: { orderId, customerId } });
  }
  return commands;
}

function lateEntry(event: SagaEvent): TimelineEntry[] {
  if (event.type === 'DeadlinePassed' || event.type === 'RetryDue') return [];
  return [{ participant: 'order', state: 'late-reply-ignored', detail: event.type }];
}
