/*
 * The saga's test vocabulary: one order, replies to it, and the given / when of its specification
 * (given the messages so far, when the next one arrives).
 */
import { randomUUID } from 'node:crypto';
import { createMessage } from '@tcc/contracts';
import type { OrderReply, PayloadOf } from '@tcc/contracts';
import { startSaga, step } from '../src/saga/order-saga';
import type { SagaCommand, SagaEvent, SagaState, SagaStep } from '../src/saga/order-saga';

export const orderId = randomUUID();
export const customerId = 'alice';
export const deadline = '2026-01-01T00:00:10.000Z';
export const holdUntil = '2026-01-01T00:01:10.000Z';

export function reply<T extends OrderReply['type']>(
  type: T,
  payload: Omit<PayloadOf<T>, 'orderId'>,
): SagaEvent {
  return createMessage(type, { orderId, ...payload } as PayloadOf<T>, { correlationId: orderId });
}

export const reserved = (productId: string, unitPrice: number, quantity = 1) =>
  reply('StockReserved', { productId, quantity, unitPrice, expiresAt: holdUntil });
export const held = (amount: number) => reply('PaymentHeld', { customerId, amount, expiresAt: holdUntil });
export const deadlinePassed: SagaEvent = { type: 'DeadlinePassed' };
export const retryDue: SagaEvent = { type: 'RetryDue' };

/** The order of `lines` ([product, quantity]) after `events`, each applied whole (evolve + decide). */
export function given(lines: [string, number][], ...events: SagaEvent[]): SagaStep {
  let d = startSaga({
    orderId,
    customerId,
    lines: lines.map(([productId, quantity]) => ({ productId, quantity })),
    deadline,
    holdUntil,
  });
  for (const e of events) d = step(d.state, e);
  return d;
}

export function when(d: SagaStep, event: SagaEvent): SagaStep {
  return step(d.state, event);
}

/** Commands as `type:productId` or `type:customerId`, to compare in one line. */
export const types = (commands: SagaCommand[]) =>
  commands.map((c) => `${c.type}:${'productId' in c.payload ? c.payload.productId : c.payload.customerId}`);

/** The status and every branch's state, to compare in one line. */
export function states(s: SagaState) {
  return { status: s.status, lines: s.lines.map((l) => `${l.productId}=${l.state}`), payment: s.payment };
}

/** `value`, frozen all the way down: a function that changes its input in place throws. */
export function frozen<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) frozen(v);
    Object.freeze(value);
  }
  return value;
}
