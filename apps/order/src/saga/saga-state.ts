/*
 * What the saga of one order knows and says: its state, the events it reacts to, the commands it
 * sends and the timeline it keeps. Plain data, no behaviour beyond the status sets below.
 */
import type { OrderReply, PaymentCommand, StockCommand } from '@tcc/contracts';

export type OrderStatus = 'TRYING' | 'CONFIRMING' | 'CANCELLING' | 'CONFIRMED' | 'CANCELLED';
export type CancelReason =
  'OUT_OF_STOCK' | 'UNKNOWN_PRODUCT' | 'INSUFFICIENT_FUNDS' | 'UNKNOWN_WALLET' | 'TIMEOUT' | 'CONFIRM_FAILED';

export type BranchState =
  | 'PENDING'
  | 'RESERVED'
  | 'REJECTED'
  | 'CONFIRMED'
  | 'CONFIRM_REFUSED'
  | 'CANCELLED'
  | 'EXPIRED'
  | 'RETURNED';
/** the payment branch; NOT_TRIED until every line is reserved */
export type PaymentState = BranchState | 'NOT_TRIED';

export interface SagaLine {
  productId: string;
  quantity: number;
  unitPrice: number | null;
  state: BranchState;
}

export interface SagaState {
  orderId: string;
  customerId: string;
  status: OrderStatus;
  reason: CancelReason | null;
  reasonDetail: string | null;
  lines: SagaLine[];
  payment: PaymentState;
  total: number | null;
  /** the try phase ends here */
  deadline: string;
  /** participants may hold resources until here: the deadline plus the confirm window */
  holdUntil: string;
}

/** What the saga reacts to: a participant's reply, or what time decides (the scheduler). */
export type SagaEvent = OrderReply | { type: 'DeadlinePassed' } | { type: 'RetryDue' };

type CommandOf<M> = M extends { type: infer T; payload: infer P } ? { type: T; payload: P } : never;
export type SagaCommand = CommandOf<StockCommand> | CommandOf<PaymentCommand>;

export interface TimelineEntry {
  /** `stock:<productId>`, `payment` or `order` */
  participant: string;
  state: string;
  detail: string | null;
}

/** What one step sends and records (`decide`). */
export interface SagaDecision {
  commands: SagaCommand[];
  timeline: TimelineEntry[];
}

/** One step whole: the state after it (`evolve`) and what it sends and records (`decide`). */
export interface SagaStep extends SagaDecision {
  state: SagaState;
}

export type FinalStatus = 'CONFIRMED' | 'CANCELLED';
/** An order in one of these is over: nothing changes it any more. */
export const FINAL_STATUSES: readonly FinalStatus[] = ['CONFIRMED', 'CANCELLED'];

export function isFinal(status: OrderStatus): status is FinalStatus {
  return (FINAL_STATUSES as readonly OrderStatus[]).includes(status);
}

export type ResendingStatus = 'CONFIRMING' | 'CANCELLING';
/** In these the order's confirms or cancels are sent again until every participant has answered. */
export const RESENDING_STATUSES: readonly ResendingStatus[] = ['CONFIRMING', 'CANCELLING'];

export function isResending(status: OrderStatus): status is ResendingStatus {
  return (RESENDING_STATUSES as readonly OrderStatus[]).includes(status);
}

/** Branch states in which the participant holds nothing for this order. */
export const RELEASED: readonly PaymentState[] = [
  'NOT_TRIED',
  'REJECTED',
  'CANCELLED',
  'EXPIRED',
  'RETURNED',
  'CONFIRM_REFUSED',
];
