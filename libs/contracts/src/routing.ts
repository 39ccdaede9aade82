import { randomUUID } from 'node:crypto';
import { Topics } from './topics';
import { orderReplies, paymentCommands, stockCommands } from './messages';
import type { MessageOfType, PayloadOf, SagaMessage } from './messages';

export interface MessageContext {
  /** the order id */
  correlationId: string;
  /** the message this one answers or follows from */
  causationId?: string | null;
  now?: Date;
}

/** A new message in its envelope. */
export function createMessage<T extends SagaMessage['type']>(
  type: T,
  payload: PayloadOf<T>,
  { correlationId, causationId = null, now = new Date() }: MessageContext,
): MessageOfType<T> {
  return {
    messageId: randomUUID(),
    type,
    schemaVersion: 1,
    correlationId,
    causationId,
    occurredAt: now.toISOString(),
    payload,
  } as MessageOfType<T>;
}

export interface Route {
  topic: string;
  key: string;
}

/**
 * Where a message goes and with which key: stock commands by productId, payment commands by
 * customerId, every reply by orderId. One rule, so no sender can key a message differently.
 */
export function routeOf(message: SagaMessage): Route {
  if (message.type in stockCommands) {
    return { topic: Topics.stockCommands, key: (message.payload as { productId: string }).productId };
  }
  if (message.type in paymentCommands) {
    return { topic: Topics.paymentCommands, key: (message.payload as { customerId: string }).customerId };
  }
  if (message.type in orderReplies) {
    return { topic: Topics.orderReplies, key: message.payload.orderId };
  }
  throw new Error(`no route for message type ${(message as { type: string }).type}`);
}

/** A reply to a command: same correlation id, caused by the command. */
export function replyTo<T extends SagaMessage['type']>(
  command: SagaMessage,
  type: T,
  payload: PayloadOf<T>,
): MessageOfType<T> {
  return createMessage(type, payload, {
    correlationId: command.correlationId,
    causationId: command.messageId,
  });
}
