/*
 * What the batch fast path decides: how many leading commands of a run can be written together in
 * one statement, and what each one does. Each command is decided by domain/reservation-rules.ts, in
 * offset order, from the state one read returned, with the products' quantities as the earlier
 * commands of the run left them. Pure: no database.
 *
 * Only the common cases are taken: a first try (it reserves, or is rejected and remembered), and a
 * confirm or cancel of a RESERVED reservation. The run stops at the first command that needs
 * anything else (a duplicate to replay, a refusal, an empty rollback, a reacquire, a return, ...)
 * and at a second command for an (order, product) already in it, whose fence the first one changes.
 */
import { replyTo } from '@tcc/contracts';
import type { MessageOfType, PayloadOf, StockCommand } from '@tcc/contracts';
import { reservationRules } from '../domain/reservation-rules';
import { replied, reservedReply } from './reservation.fence';
import type { FenceRow } from './reservation.fence';

type Command<T extends StockCommand['type']> = MessageOfType<T>;
type RejectReason = PayloadOf<'StockRejected'>['reason'];

export interface ProductRow {
  id: string;
  /** bigint, as PostgreSQL prints it */
  price: string;
  available: number;
  reserved: number;
}

/** What the read found: the run's products by id, and its reservations by `fenceKey`. */
export interface BatchState {
  products: ReadonlyMap<string, ProductRow>;
  fences: ReadonlyMap<string, FenceRow>;
}

export function fenceKey(orderId: string, productId: string): string {
  // PostgreSQL prints uuids in lower case; a command may spell its order id in upper case
  return `${orderId.toLowerCase()} ${productId}`;
}

interface StepBase {
  /** what the single-message path logs for the same outcome */
  what: string;
}

/** A first try that reserves: a RESERVED reservation. */
export interface ReserveStep extends StepBase {
  kind: 'reserve';
  command: Command<'StockTry'>;
  reply: MessageOfType<'StockReserved'>;
  price: string;
  expiresAt: Date;
}

/** A first try that cannot be served: a REJECTED reservation, so a duplicate replays the rejection. */
export interface RejectStep extends StepBase {
  kind: 'reject';
  command: Command<'StockTry'>;
  reply: MessageOfType<'StockRejected'>;
}

/** A confirm (sell) or cancel (release) of a RESERVED reservation. */
export interface SettleStep extends StepBase {
  kind: 'settle';
  phase: 'confirm' | 'cancel';
  command: Command<'StockConfirm' | 'StockCancel'>;
  reply: MessageOfType<'StockConfirmed' | 'StockCancelled'>;
  /** the reservation's quantity, as read: the write checks it is unchanged */
  quantity: number;
}

export type BatchStep = ReserveStep | RejectStep | SettleStep;

/** A product the run's decisions depend on: its quantities as read (the write's guard) and the net change. */
export interface ProductChange {
  id: string;
  read: { available: number; reserved: number };
  delta: { available: number; reserved: number; sold: number };
}

export interface BatchPlan {
  /** one per leading command taken, in offset order */
  steps: BatchStep[];
  /** in id order, the order the write locks them in */
  products: ProductChange[];
  /** products the run rejected as unknown: the write checks they still do not exist */
  unknownProducts: string[];
}

/**
 * The leading commands a batch could take at all, as far as the commands alone tell: up to the
 * first return and the first repeated (order, product). Only these need reading.
 */
export function candidates(commands: readonly StockCommand[]): readonly StockCommand[] {
  const keys = new Set<string>();
  const end = commands.findIndex((c) => {
    const key = fenceKey(c.payload.orderId, c.payload.productId);
    if (c.type === 'StockReturn' || keys.has(key)) return true;
    keys.add(key);
    return false;
  });
  return end === -1 ? commands : commands.slice(0, end);
}

/** Decides the longest prefix of `commands` the batch can write; `expiryOf` as in the single path. */
export function planBatch(
  commands: readonly StockCommand[],
  state: BatchState,
  now: Date,
  expiryOf: (command: Command<'StockTry'>) => Date,
): BatchPlan {
  const walk = new Walk(state, now, expiryOf);
  for (const command of commands) if (!walk.take(command)) break;
  return walk.plan();
}

/** A product's quantities as the commands taken so far left them. */
interface Tracked {
  row: ProductRow;
  available: number;
  reserved: number;
  sold: number;
}

class Walk {
  private readonly steps: BatchStep[] = [];
  private readonly taken = new Set<string>();
  private readonly tracked = new Map<string, Tracked>();
  private readonly unknown = new Set<string>();

  constructor(
    private readonly state: BatchState,
    private readonly now: Date,
    private readonly expiryOf: (command: Command<'StockTry'>) => Date,
  ) {}

  /** Adds the command to the prefix if the batch can write it; false ends the prefix. */
  take(command: StockCommand): boolean {
    const key = fenceKey(command.payload.orderId, command.payload.productId);
    // the earlier command changed this fence: the rest of the run goes on without the batch
    if (this.taken.has(key)) return false;
    const step = this.decide(command, this.state.fences.get(key));
    if (!step) return false;
    this.taken.add(key);
    this.steps.push(step);
    return true;
  }

  plan(): BatchPlan {
    const products = [...this.tracked.values()]
      .map(({ row, available, reserved, sold }) => ({
        id: row.id,
        read: { available: row.available, reserved: row.reserved },
        delta: { available: available - row.available, reserved: reserved - row.reserved, sold },
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { steps: this.steps, products, unknownProducts: [...this.unknown] };
  }

  private decide(command: StockCommand, fence: FenceRow | undefined): BatchStep | undefined {
    switch (command.type) {
      case 'StockTry':
        return this.try(command, fence);
      case 'StockConfirm':
        return this.settle(command, fence, 'confirm');
      case 'StockCancel':
        return this.settle(command, fence, 'cancel');
      case 'StockReturn':
        return undefined;
    }
  }

  private try(command: Command<'StockTry'>, fence: FenceRow | undefined): BatchStep | undefined {
    const { productId, quantity } = command.payload;
    const deadline = new Date(command.payload.deadline);
    const outcome = reservationRules.decideTry(fence, replied(fence, 'try'), deadline, this.now);
    // with a fence, a try replays or records its rejection in that fence: the single path's work
    if (outcome.kind === 'replay' || fence) return undefined;
    if (outcome.kind === 'reject') return this.reject(command, outcome.reason);
    const product = this.product(productId);
    if (!product) {
      this.unknown.add(productId);
      return this.reject(command, 'UNKNOWN_PRODUCT');
    }
    if (product.available < quantity) return this.reject(command, 'OUT_OF_STOCK');
    product.available -= quantity;
    product.reserved += quantity;
    const { price } = product.row;
    const expiresAt = this.expiryOf(command);
    const reply = reservedReply(command, Number(price), expiresAt);
    return {
      kind: 'reserve',
      command,
      reply,
      price,
      expiresAt,
      what: `reserved ${quantity} of ${productId} at ${price}`,
    };
  }

  private reject(command: Command<'StockTry'>, reason: RejectReason): RejectStep {
    const { orderId, productId } = command.payload;
    const reply = replyTo(command, 'StockRejected', { orderId, productId, reason });
    return { kind: 'reject', command, reply, what: `try for ${productId} rejected: ${reason}` };
  }

  private settle(
    command: Command<'StockConfirm' | 'StockCancel'>,
    fence: FenceRow | undefined,
    phase: 'confirm' | 'cancel',
  ): SettleStep | undefined {
    const { orderId, productId } = command.payload;
    const outcome =
      phase === 'confirm'
        ? reservationRules.decideConfirm(fence, replied(fence, phase))
        : reservationRules.decideCancel(fence, replied(fence, phase));
    // only a live reservation; a replay, refusal, reacquire or empty rollback takes the single path
    if (outcome.kind !== 'apply' || fence?.status !== 'RESERVED') return undefined;
    const product = this.product(productId);
    if (!product) return undefined;
    const { quantity } = fence;
    product.reserved -= quantity;
    if (phase === 'confirm') {
      product.sold += quantity;
      const reply = replyTo(command, 'StockConfirmed', { orderId, productId, quantity });
      return { kind: 'settle', phase, command, reply, quantity, what: `sold ${quantity} of ${productId}` };
    }
    product.available += quantity;
    const reply = replyTo(command, 'StockCancelled', {
      orderId,
      productId,
      released: quantity,
      emptyRollback: false,
    });
    return { kind: 'settle', phase, command, reply, quantity, what: `released ${quantity} of ${productId}` };
  }

  /** The product as the prefix left it, tracked from its first use; undefined if it does not exist. */
  private product(id: string): Tracked | undefined {
    let product = this.tracked.get(id);
    if (!product) {
      const row = this.state.products.get(id);
      if (!row) return undefined;
      product = { row, available: row.available, reserved: row.reserved, sold: 0 };
      this.tracked.set(id, product);
    }
    return product;
  }
}
