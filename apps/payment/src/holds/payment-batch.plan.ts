/*
 * What the batch fast path decides (PaymentTccService.handleBatch): how many leading commands of a
 * run can be written together in one statement, and what each one writes. Each command is decided
 * by domain/hold-rules.ts, in offset order, from the state one read returned, with the wallets as
 * the earlier commands of the run left them. Pure: no database.
 */
import { replyTo } from '@tcc/contracts';
import type { MessageOfType, PaymentCommand, PaymentReply } from '@tcc/contracts';
import { holdRules } from '../domain/hold-rules';
import { heldReply, replied, sentLine } from './hold.fence';
import type { FenceRow } from './hold.fence';

type Command<T extends PaymentCommand['type']> = MessageOfType<T>;
type RejectReason = MessageOfType<'PaymentRejected'>['payload']['reason'];

/** What the batch read: the run's wallets by customer id, the holds of its orders by order id. */
export interface HoldBatchState {
  wallets: ReadonlyMap<string, { balance: number; held: number }>;
  holds: ReadonlyMap<string, FenceRow>;
}

/** A new hold row: a try that held, or a try rejected before any hold existed. */
export interface NewHold {
  orderId: string;
  customerId: string;
  amount: number;
  status: 'HELD' | 'REJECTED';
  reason: RejectReason | null;
  expiresAt: string | null;
  reply: PaymentReply;
}

/** A HELD hold captured (confirm) or released (cancel). */
export interface Settlement {
  orderId: string;
  customerId: string;
  amount: number;
  phase: 'confirm' | 'cancel';
  status: 'CAPTURED' | 'RELEASED';
  reply: PaymentReply;
}

/** A wallet whose points the batch moves: the values read (the write's guard) and the summed moves. */
export interface WalletMove {
  customerId: string;
  readBalance: number;
  readHeld: number;
  balance: number;
  held: number;
  captured: number;
}

export interface HoldBatchPlan {
  /** one per command taken, in offset order: its reply and the line logged once it is sent */
  sent: { reply: PaymentReply; what: string }[];
  newHolds: NewHold[];
  settlements: Settlement[];
  /**
   * the wallets whose points move; one where the batch only rejected tries is neither written nor
   * guarded: like the locked path, a rejection is decided from one read
   */
  wallets: WalletMove[];
}

/** Order ids are uuids: compared as PostgreSQL returns them, in lower case. */
export const orderKey = (orderId: string) => orderId.toLowerCase();

/**
 * Decides the leading commands the batch can take, in offset order, over `state` as the earlier
 * commands of the batch leave it. It takes a try that holds or that is rejected before any hold
 * exists, and a confirm or cancel that applies to a HELD hold of the same customer; it stops at
 * the first command that needs anything else (a duplicate, a refusal, an empty rollback, a refund,
 * another customer's hold, ...) or whose order came earlier in the batch: the single-message
 * handler decides that one under its lock.
 */
export function planHoldBatch(
  commands: readonly PaymentCommand[],
  state: HoldBatchState,
  now: Date,
  expiryOf: (command: Command<'PaymentTry'>) => Date,
): HoldBatchPlan {
  const planner = new Planner(state, now, expiryOf);
  const seen = new Set<string>();
  for (const command of commands) {
    const order = orderKey(command.payload.orderId);
    if (seen.has(order) || !planner.take(command)) break;
    seen.add(order);
  }
  return planner.plan();
}

class Planner {
  private readonly sent: HoldBatchPlan['sent'] = [];
  private readonly newHolds: NewHold[] = [];
  private readonly settlements: Settlement[] = [];
  private readonly moves = new Map<string, WalletMove>();

  constructor(
    private readonly state: HoldBatchState,
    private readonly now: Date,
    private readonly expiryOf: (command: Command<'PaymentTry'>) => Date,
  ) {}

  plan(): HoldBatchPlan {
    const { sent, newHolds, settlements } = this;
    return { sent, newHolds, settlements, wallets: [...this.moves.values()] };
  }

  /** Adds the command to the batch; false if the batch has to end before it. */
  take(command: PaymentCommand): boolean {
    switch (command.type) {
      case 'PaymentTry':
        return this.try(command);
      case 'PaymentConfirm':
        return this.settle(command, 'confirm');
      case 'PaymentCancel':
        return this.settle(command, 'cancel');
      default:
        return false;
    }
  }

  private try(command: Command<'PaymentTry'>): boolean {
    const { orderId, customerId, amount } = command.payload;
    // a hold exists: a duplicate to replay, or a try after the cancel
    if (this.state.holds.has(orderKey(orderId))) return false;
    const outcome = holdRules.decideTry(undefined, false, new Date(command.payload.deadline), this.now);
    if (outcome.kind === 'replay') return false;
    if (outcome.kind === 'reject') return this.reject(command, outcome.reason);
    const wallet = this.wallet(customerId);
    if (!wallet) return this.reject(command, 'UNKNOWN_WALLET');
    if (wallet.balance < amount) return this.reject(command, 'INSUFFICIENT_FUNDS');
    this.move(customerId, { balance: -amount, held: amount });
    const expiresAt = this.expiryOf(command);
    const reply = heldReply(command, expiresAt);
    this.newHolds.push({
      orderId,
      customerId,
      amount,
      status: 'HELD',
      reason: null,
      expiresAt: expiresAt.toISOString(),
      reply,
    });
    this.sent.push({ reply, what: sentLine.held(amount, customerId) });
    return true;
  }

  /** What the locked path writes for a try rejected before any hold: a REJECTED hold. */
  private reject(command: Command<'PaymentTry'>, reason: RejectReason): boolean {
    const { orderId, customerId, amount } = command.payload;
    const reply = replyTo(command, 'PaymentRejected', { orderId, customerId, reason });
    this.newHolds.push({ orderId, customerId, amount, status: 'REJECTED', reason, expiresAt: null, reply });
    this.sent.push({ reply, what: sentLine.rejected(customerId, reason) });
    return true;
  }

  private settle(command: Command<'PaymentConfirm' | 'PaymentCancel'>, phase: 'confirm' | 'cancel'): boolean {
    const { orderId, customerId } = command.payload;
    const fence = this.state.holds.get(orderKey(orderId));
    // no hold (a refusal or an empty rollback) or another customer's (a dead letter): the locked path
    if (!fence || fence.customer_id !== customerId) return false;
    const outcome =
      phase === 'confirm'
        ? holdRules.decideConfirm(fence, replied(fence, phase))
        : holdRules.decideCancel(fence, replied(fence, phase));
    if (outcome.kind !== 'apply' || fence.status !== 'HELD') return false;
    const { amount } = fence;
    const wallet = this.wallet(customerId);
    // a hold without its points in the wallet: the locked path says what is wrong
    if (!wallet || wallet.held < amount) return false;
    let reply: PaymentReply;
    if (phase === 'confirm') {
      this.move(customerId, { held: -amount, captured: amount });
      reply = replyTo(command, 'PaymentCaptured', { orderId, customerId, amount });
      this.sent.push({ reply, what: sentLine.captured(amount, customerId) });
    } else {
      this.move(customerId, { held: -amount, balance: amount });
      reply = replyTo(command, 'PaymentReleased', {
        orderId,
        customerId,
        released: amount,
        emptyRollback: false,
      });
      this.sent.push({ reply, what: sentLine.released(amount, customerId) });
    }
    const status = phase === 'confirm' ? 'CAPTURED' : 'RELEASED';
    this.settlements.push({ orderId, customerId, amount, phase, status, reply });
    return true;
  }

  /** The wallet as read, with the moves of the batch's earlier commands applied. */
  private wallet(customerId: string): { balance: number; held: number } | undefined {
    const read = this.state.wallets.get(customerId);
    if (!read) return undefined;
    const moved = this.moves.get(customerId);
    return { balance: read.balance + (moved?.balance ?? 0), held: read.held + (moved?.held ?? 0) };
  }

  /** Points move between a wallet's columns only, so each move sums to zero. */
  private move(customerId: string, delta: { balance?: number; held?: number; captured?: number }): void {
    const read = this.state.wallets.get(customerId);
    if (!read) throw new Error(`wallet ${customerId} moves points but was not read`);
    const moved = this.moves.get(customerId) ?? {
      customerId,
      readBalance: read.balance,
      readHeld: read.held,
      balance: 0,
      held: 0,
      captured: 0,
    };
    moved.balance += delta.balance ?? 0;
    moved.held += delta.held ?? 0;
    moved.captured += delta.captured ?? 0;
    this.moves.set(customerId, moved);
  }
}
