import { replyTo } from '@tcc/contracts';
import type { MessageOfType, PaymentReply } from '@tcc/contracts';
import type { HoldStatus } from '../domain/hold-rules';

/** The phases whose reply a hold stores; `refund` is payment's compensation (undoes a capture). */
export type Phase = 'try' | 'confirm' | 'cancel' | 'refund';

/** A hold row as the rules read it: the TCC fence record of one order. */
export interface FenceRow {
  customer_id: string;
  amount: number;
  status: HoldStatus;
  replies: Partial<Record<Phase, PaymentReply>>;
}

/** Whether the fence stores a reply to this phase already: the command is a duplicate. */
export function replied(fence: FenceRow | undefined, phase: Phase): boolean {
  return fence !== undefined && Object.hasOwn(fence.replies, phase);
}

/** The line logged once a reply is sent, the same whichever path (single, locked, batch) sent it. */
export const sentLine = {
  held: (amount: number | string, customerId: string) => `held ${amount} of ${customerId}'s points`,
  captured: (amount: number | string, customerId: string) => `captured ${amount} of ${customerId}'s points`,
  released: (amount: number | string, customerId: string) => `released ${amount} of ${customerId}'s points`,
  rejected: (customerId: string, reason: string) => `try for ${customerId} rejected: ${reason}`,
};

/** The reply to a try that held the points: what every path (single, locked, batch) sends. */
export function heldReply(
  command: MessageOfType<'PaymentTry'>,
  expiresAt: Date,
): MessageOfType<'PaymentHeld'> {
  const { orderId, customerId, amount } = command.payload;
  return replyTo(command, 'PaymentHeld', { orderId, customerId, amount, expiresAt: expiresAt.toISOString() });
}
