/*
 * Stock as a TCC participant: a try reserves a product's quantity (available -> reserved), a
 * confirm sells it (reserved -> sold), a cancel or the sweeper releases it (reserved ->
 * available), a return takes a sale back (sold -> available). Each order has one reservation per
 * product: the fence record, with the reply of each phase, and the catalog price the try reserved
 * at. Everything else (the rules, batching, locking, the sweeper, replies) is @tcc/tcc's engine.
 */
import { createMessage, replyTo } from '@tcc/contracts';
import type { StockCommand, StockReply } from '@tcc/contracts';
import { rejectionWord } from '@tcc/tcc';
import type { BranchCommand, Outcome, Participant, ParticipantEngine, Resource } from '@tcc/tcc';

export type ReservationStatus = 'RESERVED' | 'CONFIRMED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED' | 'RETURNED';

const words = { SHORT: 'OUT_OF_STOCK', UNKNOWN: 'UNKNOWN_PRODUCT' } as const;

/** Where the app injects the engine running this declaration: `@Inject(STOCK_ENGINE)`. */
export const STOCK_ENGINE = Symbol('stock engine');
export type StockEngine = ParticipantEngine<StockCommand, StockReply>;

export function stockParticipant(settings: { maxHoldMs: number }): Participant<StockCommand, StockReply> {
  return {
    name: 'stock',
    words,
    maxHoldMs: settings.maxHoldMs,
    branchPerResource: true,
    tables: {
      fences: {
        table: 'reservations',
        resource: 'product_id',
        amount: 'quantity',
        statuses: {
          tried: 'RESERVED',
          confirmed: 'CONFIRMED',
          cancelled: 'CANCELLED',
          expired: 'EXPIRED',
          rejected: 'REJECTED',
          compensated: 'RETURNED',
        },
        phases: { try: 'try', confirm: 'confirm', cancel: 'cancel', compensate: 'return' },
        copied: { unit_price: 'bigint' },
      },
      resources: {
        table: 'products',
        id: 'id',
        free: 'available',
        held: 'reserved',
        final: 'sold',
        type: 'integer',
        attributes: ['price'],
      },
    },
    toBranch,
    reply,
    lines: {
      tried: (quantity, id, product) => `reserved ${quantity} of ${id} at ${priceOf(product)}`,
      confirmed: (quantity, id) => `sold ${quantity} of ${id}`,
      released: (quantity, id) => `released ${quantity} of ${id}`,
      compensated: (quantity, id) => `took back ${quantity} of ${id}`,
    },
    copy: (product) => ({ unit_price: priceOf(product) }),
    expired: (orderId, fence) =>
      createMessage(
        'StockReservationExpired',
        { orderId, productId: fence.resourceId, quantity: fence.amount },
        { correlationId: orderId },
      ),
    expiredLog: (orderId, fence) => ({
      msg: 'reservation expired and released',
      correlationId: orderId,
      productId: fence.resourceId,
      quantity: fence.amount,
    }),
  };
}

function toBranch(command: StockCommand): BranchCommand {
  const { orderId, productId: resourceId } = command.payload;
  switch (command.type) {
    case 'StockTry':
      return {
        phase: 'try',
        orderId,
        resourceId,
        amount: command.payload.quantity,
        deadline: new Date(command.payload.deadline),
        holdUntil: new Date(command.payload.holdUntil),
      };
    case 'StockConfirm':
      return { phase: 'confirm', orderId, resourceId };
    case 'StockCancel':
      return { phase: 'cancel', orderId, resourceId };
    case 'StockReturn':
      return { phase: 'compensate', orderId, resourceId };
  }
}

function priceOf(product: Resource | undefined): number {
  return Number(product?.attributes['price'] ?? 0);
}

function reply(
  command: StockCommand,
  outcome: Outcome<StockReply>,
  product: Resource | undefined,
): StockReply {
  const { orderId, productId } = command.payload;
  switch (outcome.kind) {
    case 'tried':
      return replyTo(command, 'StockReserved', {
        orderId,
        productId,
        quantity: outcome.amount,
        unitPrice: priceOf(product),
        expiresAt: outcome.expiresAt.toISOString(),
      });
    case 'rejected':
      return replyTo(command, 'StockRejected', {
        orderId,
        productId,
        reason: rejectionWord(outcome.reason, words),
      });
    case 'confirmed':
      return replyTo(command, 'StockConfirmed', { orderId, productId, quantity: outcome.amount });
    case 'cancelled':
      return replyTo(command, 'StockCancelled', {
        orderId,
        productId,
        released: outcome.released,
        emptyRollback: outcome.effect === 'empty-rollback',
      });
    case 'compensated':
      return replyTo(command, 'StockReturned', { orderId, productId, quantity: outcome.amount });
    case 'refused': {
      const type =
        command.type === 'StockConfirm'
          ? 'StockConfirmRefused'
          : command.type === 'StockCancel'
            ? 'StockCancelRefused'
            : 'StockReturnRefused';
      return replyTo(command, type, { orderId, productId, reason: outcome.reason });
    }
    case 'replay':
    case 'expired':
    case 'foreign':
      throw new Error(`no new reply for a ${outcome.kind} outcome`);
  }
}
