import { z } from 'zod';
import { messageSchema } from './envelope';

/*
 * Every message of the TCC saga. Commands go to a participant's topic keyed by the resource they
 * change (productId, customerId); replies go to the order service keyed by orderId. Business
 * outcomes are typed replies (StockRejected{reason}), never errors.
 */

const orderId = z.uuid();
const productId = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9._:-]+$/, 'letters, digits and . _ : - only');
const customerId = productId;
const quantity = z.int().positive().max(1_000_000);
/** minor units (cents, points); kept below 2^53 */
const amount = z.int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const instant = z.iso.datetime({ offset: true });

export const ids = { orderId, productId, customerId, quantity, amount, instant };

// ---------------------------------------------------------------- stock commands (key: productId)

export const StockTry = messageSchema(
  'StockTry',
  z.object({
    orderId,
    productId,
    quantity,
    /** a try handled after this is refused: the order has given up on it */
    deadline: instant,
    /** how long the reservation may live if neither confirm nor cancel arrives */
    holdUntil: instant,
  }),
);
export const StockConfirm = messageSchema('StockConfirm', z.object({ orderId, productId }));
export const StockCancel = messageSchema('StockCancel', z.object({ orderId, productId }));
/** compensation of a confirmed sale, when another participant could not confirm */
export const StockReturn = messageSchema('StockReturn', z.object({ orderId, productId }));

// ---------------------------------------------------------------- stock replies (key: orderId)

export const StockRejectReason = z.enum([
  'OUT_OF_STOCK',
  'UNKNOWN_PRODUCT',
  /** the try arrived after its deadline */
  'DEADLINE_PASSED',
  /** the try arrived after a cancel for the same order (hanging try) */
  'ALREADY_CANCELLED',
]);
export const StockRefuseReason = z.enum([
  'NOT_RESERVED',
  'CANCELLED',
  'EXPIRED',
  'REJECTED',
  'CONFIRMED',
  'NOT_CONFIRMED',
]);

export const StockReserved = messageSchema(
  'StockReserved',
  z.object({ orderId, productId, quantity, unitPrice: amount, expiresAt: instant }),
);
export const StockRejected = messageSchema(
  'StockRejected',
  z.object({ orderId, productId, reason: StockRejectReason }),
);
export const StockConfirmed = messageSchema('StockConfirmed', z.object({ orderId, productId, quantity }));
export const StockConfirmRefused = messageSchema(
  'StockConfirmRefused',
  z.object({ orderId, productId, reason: StockRefuseReason }),
);
export const StockCancelled = messageSchema(
  'StockCancelled',
  /** emptyRollback: nothing had been reserved; the cancel is remembered so a late try is refused */
  z.object({ orderId, productId, released: z.int().nonnegative(), emptyRollback: z.boolean() }),
);
export const StockCancelRefused = messageSchema(
  'StockCancelRefused',
  z.object({ orderId, productId, reason: StockRefuseReason }),
);
export const StockReturned = messageSchema('StockReturned', z.object({ orderId, productId, quantity }));
export const StockReturnRefused = messageSchema(
  'StockReturnRefused',
  z.object({ orderId, productId, reason: StockRefuseReason }),
);
/** the sweeper released a reservation nobody confirmed or cancelled in time */
export const StockReservationExpired = messageSchema(
  'StockReservationExpired',
  z.object({ orderId, productId, quantity }),
);

// ---------------------------------------------------------------- payment commands (key: customerId)

export const PaymentTry = messageSchema(
  'PaymentTry',
  z.object({ orderId, customerId, amount, deadline: instant, holdUntil: instant }),
);
export const PaymentConfirm = messageSchema('PaymentConfirm', z.object({ orderId, customerId }));
export const PaymentCancel = messageSchema('PaymentCancel', z.object({ orderId, customerId }));
/** compensation of a captured payment, when stock could not confirm */
export const PaymentRefund = messageSchema('PaymentRefund', z.object({ orderId, customerId }));

// ---------------------------------------------------------------- payment replies (key: orderId)

export const PaymentRejectReason = z.enum([
  'INSUFFICIENT_FUNDS',
  'UNKNOWN_WALLET',
  'DEADLINE_PASSED',
  'ALREADY_CANCELLED',
]);
export const PaymentRefuseReason = StockRefuseReason;

export const PaymentHeld = messageSchema(
  'PaymentHeld',
  z.object({ orderId, customerId, amount, expiresAt: instant }),
);
export const PaymentRejected = messageSchema(
  'PaymentRejected',
  z.object({ orderId, customerId, reason: PaymentRejectReason }),
);
export const PaymentCaptured = messageSchema('PaymentCaptured', z.object({ orderId, customerId, amount }));
export const PaymentConfirmRefused = messageSchema(
  'PaymentConfirmRefused',
  z.object({ orderId, customerId, reason: PaymentRefuseReason }),
);
export const PaymentReleased = messageSchema(
  'PaymentReleased',
  z.object({ orderId, customerId, released: amount, emptyRollback: z.boolean() }),
);
export const PaymentCancelRefused = messageSchema(
  'PaymentCancelRefused',
  z.object({ orderId, customerId, reason: PaymentRefuseReason }),
);
export const PaymentRefunded = messageSchema('PaymentRefunded', z.object({ orderId, customerId, amount }));
export const PaymentRefundRefused = messageSchema(
  'PaymentRefundRefused',
  z.object({ orderId, customerId, reason: PaymentRefuseReason }),
);
export const PaymentHoldExpired = messageSchema(
  'PaymentHoldExpired',
  z.object({ orderId, customerId, amount }),
);

// ---------------------------------------------------------------- registries

function registry<const S extends readonly z.ZodObject<{ type: z.ZodLiteral<string> }>[]>(...schemas: S) {
  return Object.fromEntries(schemas.map((s) => [s.shape.type.value, s])) as {
    [K in S[number] as z.infer<K>['type']]: K;
  };
}

export const stockCommands = registry(StockTry, StockConfirm, StockCancel, StockReturn);
export const paymentCommands = registry(PaymentTry, PaymentConfirm, PaymentCancel, PaymentRefund);
export const stockReplies = registry(
  StockReserved,
  StockRejected,
  StockConfirmed,
  StockConfirmRefused,
  StockCancelled,
  StockCancelRefused,
  StockReturned,
  StockReturnRefused,
  StockReservationExpired,
);
export const paymentReplies = registry(
  PaymentHeld,
  PaymentRejected,
  PaymentCaptured,
  PaymentConfirmRefused,
  PaymentReleased,
  PaymentCancelRefused,
  PaymentRefunded,
  PaymentRefundRefused,
  PaymentHoldExpired,
);
export const orderReplies = { ...stockReplies, ...paymentReplies };

export type StockCommand = z.infer<(typeof stockCommands)[keyof typeof stockCommands]>;
export type PaymentCommand = z.infer<(typeof paymentCommands)[keyof typeof paymentCommands]>;
export type StockReply = z.infer<(typeof stockReplies)[keyof typeof stockReplies]>;
export type PaymentReply = z.infer<(typeof paymentReplies)[keyof typeof paymentReplies]>;
export type OrderReply = StockReply | PaymentReply;
export type SagaMessage = StockCommand | PaymentCommand | OrderReply;
export type MessageOfType<T extends SagaMessage['type']> = Extract<SagaMessage, { type: T }>;
export type PayloadOf<T extends SagaMessage['type']> = MessageOfType<T>['payload'];
