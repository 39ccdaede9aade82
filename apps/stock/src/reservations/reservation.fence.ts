import { replyTo } from '@tcc/contracts';
import type { MessageOfType, StockReply } from '@tcc/contracts';
import type { ReservationStatus } from '../domain/reservation-rules';

/** The phases whose reply a reservation stores; `return` is stock's compensation (undoes a sale). */
export type Phase = 'try' | 'confirm' | 'cancel' | 'return';

/** What the rules and the replies need of a reservation row (the TCC fence). */
export interface FenceRow {
  status: ReservationStatus;
  quantity: number;
  replies: Partial<Record<Phase, StockReply>>;
}

/** Whether the fence stores a reply to this phase already: the command is a duplicate. */
export function replied(fence: FenceRow | undefined, phase: Phase): boolean {
  return fence !== undefined && Object.hasOwn(fence.replies, phase);
}

/** The reply to a try that reserved: what every path (single, locked, batch) sends. */
export function reservedReply(
  command: MessageOfType<'StockTry'>,
  unitPrice: number,
  expiresAt: Date,
): MessageOfType<'StockReserved'> {
  const { orderId, productId, quantity } = command.payload;
  return replyTo(command, 'StockReserved', {
    orderId,
    productId,
    quantity,
    unitPrice,
    expiresAt: expiresAt.toISOString(),
  });
}
