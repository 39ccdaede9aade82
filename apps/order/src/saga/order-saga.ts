/*
 * The TCC saga of one order as a pure state machine: (state, event) -> (new state, commands to
 * send, timeline entries). No database, Kafka or clock here; the order service applies a decision
 * in one transaction (state + outbox + timeline).
 *
 * The protocol:
 * 1. TRYING: reserve every line at stock (in parallel). Stock replies with the catalog price, so
 *    when every line is reserved the total is known and the payment hold is tried.
 * 2. When every line is reserved and the payment held: CONFIRMING, confirm every participant.
 *    CONFIRMED once all confirmed.
 * 3. Any rejection while trying, or the deadline: CANCELLING, cancel every participant that
 *    may hold something (a cancel before the try is remembered by the participant, so a late try
 *    is refused). CANCELLED once nothing is held anywhere.
 * 4. A participant that can no longer confirm (its reservation expired): CANCELLING with reason
 *    CONFIRM_FAILED; what was already confirmed is compensated (stock returned, payment refunded),
 *    so nothing is captured without the goods sold and nothing sold without payment.
 * Confirm and cancel commands are re-sent on RetryDue until every participant has answered.
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

export type SagaEvent = OrderReply | { type: 'DeadlinePassed' } | { type: 'RetryDue' };

type CommandOf<M> = M extends { type: infer T; payload: infer P } ? { type: T; payload: P } : never;
export type SagaCommand = CommandOf<StockCommand> | CommandOf<PaymentCommand>;

export interface TimelineEntry {
  /** `stock:<productId>`, `payment` or `order` */
  participant: string;
  state: string;
  detail: string | null;
}

export interface SagaDecision {
  state: SagaState;
  commands: SagaCommand[];
  timeline: TimelineEntry[];
}

export const FINAL: readonly OrderStatus[] = ['CONFIRMED', 'CANCELLED'];
/** branch states in which the participant holds nothing for this order */
const RELEASED: readonly PaymentState[] = [
  'NOT_TRIED',
  'REJECTED',
  'CANCELLED',
  'EXPIRED',
  'RETURNED',
  'CONFIRM_REFUSED',
];

export function startSaga(input: {
  orderId: string;
  customerId: string;
  lines: { productId: string; quantity: number }[];
  deadline: string;
  holdUntil: string;
}): SagaDecision {
  const state: SagaState = {
    orderId: input.orderId,
    customerId: input.customerId,
    status: 'TRYING',
    reason: null,
    reasonDetail: null,
    lines: input.lines.map((l) => ({ ...l, unitPrice: null, state: 'PENDING' })),
    payment: 'NOT_TRIED',
    total: null,
    deadline: input.deadline,
    holdUntil: input.holdUntil,
  };
  return {
    state,
    commands: state.lines.map((l) => ({
      type: 'StockTry',
      payload: {
        orderId: state.orderId,
        productId: l.productId,
        quantity: l.quantity,
        deadline: state.deadline,
        holdUntil: state.holdUntil,
      },
    })),
    timeline: [
      {
        participant: 'order',
        state: 'trying',
        detail: `${state.lines.length} line(s), deadline ${state.deadline}`,
      },
    ],
  };
}

export function decide(current: SagaState, event: SagaEvent): SagaDecision {
  if (FINAL.includes(current.status)) {
    return { state: current, commands: [], timeline: lateEntry(event) };
  }
  const d = new Decision(current);
  apply(d, event);
  d.advance();
  return d.result();
}

/** Accumulates one step: a mutable copy of the state, the commands and the timeline. */
class Decision {
  readonly state: SagaState;
  readonly commands: SagaCommand[] = [];
  readonly timeline: TimelineEntry[] = [];

  constructor(current: SagaState) {
    this.state = { ...current, lines: current.lines.map((l) => ({ ...l })) };
  }

  line(productId: string): SagaLine | undefined {
    return this.state.lines.find((l) => l.productId === productId);
  }

  /** moves a stock branch if it is in one of `from`; records it in the timeline */
  moveLine(
    productId: string,
    from: readonly BranchState[],
    to: BranchState,
    entry: string,
    detail: string | null = null,
  ) {
    const line = this.line(productId);
    if (!line || !from.includes(line.state)) return false;
    line.state = to;
    this.timeline.push({ participant: `stock:${productId}`, state: entry, detail });
    return true;
  }

  movePayment(from: readonly PaymentState[], to: PaymentState, entry: string, detail: string | null = null) {
    if (!from.includes(this.state.payment)) return false;
    this.state.payment = to;
    this.timeline.push({ participant: 'payment', state: entry, detail });
    return true;
  }

  abort(reason: CancelReason, detail: string) {
    if (this.state.status !== 'TRYING' && this.state.status !== 'CONFIRMING') return;
    this.state.status = 'CANCELLING';
    this.state.reason = reason;
    this.state.reasonDetail = detail;
    this.timeline.push({ participant: 'order', state: 'cancelling', detail: `${reason}: ${detail}` });
    this.commands.push(...releaseCommands(this.state));
  }

  send(command: SagaCommand) {
    this.commands.push(command);
  }

  /** what follows from the branch states: the next phase, or the end */
  advance() {
    const s = this.state;
    const allLines = (state: BranchState) => s.lines.every((l) => l.state === state);
    if (s.status === 'TRYING' && allLines('RESERVED')) {
      if (s.payment === 'NOT_TRIED') {
        s.total = s.lines.reduce((sum, l) => sum + (l.unitPrice ?? 0) * l.quantity, 0);
        s.payment = 'PENDING';
        this.send({
          type: 'PaymentTry',
          payload: {
            orderId: s.orderId,
            customerId: s.customerId,
            amount: s.total,
            deadline: s.deadline,
            holdUntil: s.holdUntil,
          },
        });
      } else if (s.payment === 'RESERVED') {
        s.status = 'CONFIRMING';
        this.timeline.push({ participant: 'order', state: 'confirming', detail: `total ${s.total}` });
        this.commands.push(...confirmCommands(s));
      }
    }
    if (s.status === 'CONFIRMING' && allLines('CONFIRMED') && s.payment === 'CONFIRMED') {
      s.status = 'CONFIRMED';
      this.timeline.push({ participant: 'order', state: 'confirmed', detail: null });
    }
    if (
      s.status === 'CANCELLING' &&
      s.lines.every((l) => RELEASED.includes(l.state)) &&
      RELEASED.includes(s.payment)
    ) {
      s.status = 'CANCELLED';
      this.timeline.push({ participant: 'order', state: 'cancelled', detail: s.reason });
    }
  }

  result(): SagaDecision {
    return { state: this.state, commands: this.commands, timeline: this.timeline };
  }
}

function apply(d: Decision, event: SagaEvent): void {
  const s = d.state;
  const { orderId, customerId } = s;
  switch (event.type) {
    case 'DeadlinePassed':
      if (s.status === 'TRYING') {
        d.timeline.push({ participant: 'order', state: 'deadline-passed', detail: s.deadline });
        d.abort('TIMEOUT', `not every participant answered the try by ${s.deadline}`);
      }
      return;
    case 'RetryDue':
      if (s.status === 'CONFIRMING') d.commands.push(...confirmCommands(s));
      if (s.status === 'CANCELLING') d.commands.push(...releaseCommands(s));
      return;

    // ---------------------------------------------------------------- stock replies
    case 'StockReserved': {
      const { productId, unitPrice } = event.payload;
      if (d.moveLine(productId, ['PENDING'], 'RESERVED', 'tried', `reserved at ${unitPrice}`)) {
        const line = d.line(productId);
        if (line) line.unitPrice = unitPrice;
      }
      return;
    }
    case 'StockRejected': {
      const { productId, reason } = event.payload;
      if (d.moveLine(productId, ['PENDING'], 'REJECTED', 'rejected', reason)) {
        const why: CancelReason =
          reason === 'OUT_OF_STOCK' || reason === 'UNKNOWN_PRODUCT' ? reason : 'TIMEOUT';
        d.abort(why, `${productId}: ${reason}`);
      }
      return;
    }
    case 'StockConfirmed': {
      const { productId } = event.payload;
      if (
        d.moveLine(productId, ['RESERVED', 'EXPIRED', 'PENDING'], 'CONFIRMED', 'confirmed') &&
        s.status === 'CANCELLING'
      ) {
        d.send({ type: 'StockReturn', payload: { orderId, productId } });
      }
      return;
    }
    case 'StockConfirmRefused': {
      const { productId, reason } = event.payload;
      if (d.moveLine(productId, ['RESERVED', 'EXPIRED'], 'CONFIRM_REFUSED', 'confirm-refused', reason)) {
        d.abort('CONFIRM_FAILED', `stock ${productId} could not confirm: ${reason}`);
      }
      return;
    }
    case 'StockCancelled': {
      const { productId, emptyRollback } = event.payload;
      d.moveLine(
        productId,
        ['PENDING', 'RESERVED', 'EXPIRED'],
        'CANCELLED',
        'cancelled',
        emptyRollback ? 'empty rollback' : null,
      );
      return;
    }
    case 'StockCancelRefused': {
      // only a confirmed reservation refuses a cancel: take the sale back
      const { productId, reason } = event.payload;
      if (
        reason === 'CONFIRMED' &&
        d.moveLine(
          productId,
          ['PENDING', 'RESERVED', 'EXPIRED'],
          'CONFIRMED',
          'confirmed',
          'cancel came too late',
        )
      ) {
        d.send({ type: 'StockReturn', payload: { orderId, productId } });
      }
      return;
    }
    case 'StockReturned':
      d.moveLine(event.payload.productId, ['CONFIRMED'], 'RETURNED', 'compensated', 'sale taken back');
      return;
    case 'StockReturnRefused': {
      const { productId, reason } = event.payload;
      if (reason === 'NOT_CONFIRMED') {
        // still only reserved: release it instead
        if (d.moveLine(productId, ['CONFIRMED'], 'RESERVED', 'return-refused', reason)) {
          d.send({ type: 'StockCancel', payload: { orderId, productId } });
        }
      } else {
        d.moveLine(productId, ['CONFIRMED'], 'CANCELLED', 'return-refused', `nothing sold: ${reason}`);
      }
      return;
    }
    case 'StockReservationExpired': {
      const { productId } = event.payload;
      if (d.moveLine(productId, ['RESERVED'], 'EXPIRED', 'expired', 'released by the stock sweeper')) {
        if (s.status === 'TRYING') d.abort('TIMEOUT', `${productId}: reservation expired`);
      }
      return;
    }

    // ---------------------------------------------------------------- payment replies
    case 'PaymentHeld':
      d.movePayment(['PENDING'], 'RESERVED', 'tried', `held ${event.payload.amount}`);
      return;
    case 'PaymentRejected': {
      const { reason } = event.payload;
      if (d.movePayment(['PENDING'], 'REJECTED', 'rejected', reason)) {
        const why: CancelReason =
          reason === 'INSUFFICIENT_FUNDS' || reason === 'UNKNOWN_WALLET' ? reason : 'TIMEOUT';
        d.abort(why, `payment: ${reason}`);
      }
      return;
    }
    case 'PaymentCaptured':
      if (
        d.movePayment(
          ['RESERVED', 'EXPIRED', 'PENDING'],
          'CONFIRMED',
          'confirmed',
          `captured ${event.payload.amount}`,
        ) &&
        s.status === 'CANCELLING'
      ) {
        d.send({ type: 'PaymentRefund', payload: { orderId, customerId } });
      }
      return;
    case 'PaymentConfirmRefused':
      if (
        d.movePayment(['RESERVED', 'EXPIRED'], 'CONFIRM_REFUSED', 'confirm-refused', event.payload.reason)
      ) {
        d.abort('CONFIRM_FAILED', `payment could not be captured: ${event.payload.reason}`);
      }
      return;
    case 'PaymentReleased':
      d.movePayment(
        ['PENDING', 'RESERVED', 'EXPIRED'],
        'CANCELLED',
        'cancelled',
        event.payload.emptyRollback ? 'empty rollback' : null,
      );
      return;
    case 'PaymentCancelRefused':
      if (
        event.payload.reason === 'CONFIRMED' &&
        d.movePayment(['PENDING', 'RESERVED', 'EXPIRED'], 'CONFIRMED', 'confirmed', 'cancel came too late')
      ) {
        d.send({ type: 'PaymentRefund', payload: { orderId, customerId } });
      }
      return;
    case 'PaymentRefunded':
      d.movePayment(['CONFIRMED'], 'RETURNED', 'compensated', `refunded ${event.payload.amount}`);
      return;
    case 'PaymentRefundRefused':
      if (event.payload.reason === 'NOT_CONFIRMED') {
        if (d.movePayment(['CONFIRMED'], 'RESERVED', 'refund-refused', event.payload.reason)) {
          d.send({ type: 'PaymentCancel', payload: { orderId, customerId } });
        }
      } else {
        d.movePayment(
          ['CONFIRMED'],
          'CANCELLED',
          'refund-refused',
          `nothing captured: ${event.payload.reason}`,
        );
      }
      return;
    case 'PaymentHoldExpired':
      if (
        d.movePayment(['RESERVED'], 'EXPIRED', 'expired', 'released by the payment sweeper') &&
        s.status === 'TRYING'
      ) {
        d.abort('TIMEOUT', 'payment hold expired');
      }
      return;
  }
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
