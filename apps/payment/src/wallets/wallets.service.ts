import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { EntityManager, Repository } from 'typeorm';
import { TopUpEntity } from '../persistence/top-up.entity';
import { WalletEntity } from '../persistence/wallet.entity';

export interface WalletView {
  customerId: string;
  balance: number;
  held: number;
  captured: number;
  toppedUpTotal: number;
}

export interface TopUpView {
  idempotencyKey: string;
  customerId: string;
  amount: number;
  /** the wallet's balance right after this top-up */
  balance: number;
}

export type TopUpResult =
  /** first time this key is seen: the points were added */
  | { kind: 'applied'; topUp: TopUpView }
  /** the same request again under its key: the first answer, nothing added */
  | { kind: 'replayed'; topUp: TopUpView }
  /** the key was first used with another customer or amount */
  | { kind: 'key-reused' }
  | { kind: 'unknown-wallet' }
  /** the wallet's total would no longer fit a JavaScript number exactly */
  | { kind: 'too-large' };

export interface HoldView {
  orderId: string;
  customerId: string;
  amount: number;
  status: string;
  reason: string | null;
  expiresAt: Date | null;
  replies: Record<string, unknown>;
  createdAt: Date;
  updatedAt: Date;
}

function walletView({ customerId, balance, held, captured, toppedUpTotal }: WalletEntity): WalletView {
  return { customerId, balance, held, captured, toppedUpTotal };
}

/** amounts are minor units kept below 2^53, so every total stays an exact JavaScript number */
const MAX_TOTAL = Number.MAX_SAFE_INTEGER;

/** Ends a top-up transaction without keeping its key, and says why. */
class TopUpNotApplied extends Error {
  constructor(readonly result: TopUpResult) {
    super(result.kind);
  }
}

/** Wallets and holds as operators and tests see them: create, read, top up. */
@Injectable()
export class WalletsService {
  private readonly wallets: Repository<WalletEntity>;

  constructor(@InjectDataSource() private readonly db: DataSource) {
    this.wallets = db.getRepository(WalletEntity);
  }

  /** A new wallet; the initial balance counts as a top-up. Undefined if the wallet exists. */
  async create(customerId: string, balance: number): Promise<WalletView | undefined> {
    const wallet = this.wallets.create({ customerId, balance, held: 0, captured: 0, toppedUpTotal: balance });
    // ON CONFLICT DO NOTHING: of two creates of one wallet, the second finds it taken without an error
    const inserted = await this.wallets
      .createQueryBuilder()
      .insert()
      .values(wallet)
      .orIgnore()
      .returning('customer_id')
      .execute();
    return (inserted.raw as unknown[]).length > 0 ? walletView(wallet) : undefined;
  }

  async get(customerId: string): Promise<WalletView | undefined> {
    const wallet = await this.wallets.findOneBy({ customerId });
    return wallet ? walletView(wallet) : undefined;
  }

  /**
   * Adds points once per idempotency key, in one transaction. The key's primary key decides:
   * of two requests with one key only the one whose insert wins adds points (the other waits for
   * it to commit, then reads what it stored); requests with different keys each add theirs in one
   * atomic UPDATE, so none is lost. When nothing is added (unknown wallet, too large) the
   * transaction rolls back and the key stays free.
   */
  async topUp(idempotencyKey: string, customerId: string, amount: number): Promise<TopUpResult> {
    const requestHash = createHash('sha256').update(JSON.stringify({ customerId, amount })).digest('hex');
    try {
      return await this.db.transaction(async (m) => {
        const claimed = await m
          .createQueryBuilder()
          .insert()
          .into(TopUpEntity)
          .values({ idempotencyKey, customerId, amount, requestHash })
          .orIgnore()
          .returning('idempotency_key')
          .execute();
        if ((claimed.raw as unknown[]).length === 0) return this.earlierTopUp(m, idempotencyKey, requestHash);
        // SQL: an in-place add (concurrent top-ups all count) guarded so the total stays exact
        const [updated] = await m.query<[{ balance: number }[], number]>(
          `UPDATE wallets SET balance = balance + $2, topped_up_total = topped_up_total + $2, updated_at = now()
            WHERE customer_id = $1 AND topped_up_total + $2::bigint <= $3::bigint
            RETURNING balance::float8 AS balance`,
          [customerId, amount, MAX_TOTAL],
        );
        const balance = updated[0]?.balance;
        if (balance === undefined) {
          const exists = await m.existsBy(WalletEntity, { customerId });
          throw new TopUpNotApplied({ kind: exists ? 'too-large' : 'unknown-wallet' });
        }
        await m.update(TopUpEntity, { idempotencyKey }, { balanceAfter: balance });
        return { kind: 'applied', topUp: { idempotencyKey, customerId, amount, balance } };
      });
    } catch (error) {
      if (error instanceof TopUpNotApplied) return error.result;
      throw error;
    }
  }

  /** The hold (TCC fence record) of one order: the participant's table, read as it is (no entity). */
  async hold(orderId: string): Promise<HoldView | undefined> {
    const rows = await this.db.query<HoldView[]>(
      `SELECT order_id AS "orderId", customer_id AS "customerId", amount::float8 AS amount, status, reason,
              expires_at AS "expiresAt", replies, created_at AS "createdAt", updated_at AS "updatedAt"
         FROM holds WHERE order_id = $1`,
      [orderId],
    );
    return rows[0];
  }

  /**
   * The key is taken. Its insert committed before ours returned (ON CONFLICT waits for a
   * concurrent insert of the same key), so the row is there to read under read committed.
   */
  private async earlierTopUp(
    m: EntityManager,
    idempotencyKey: string,
    requestHash: string,
  ): Promise<TopUpResult> {
    const earlier = await m.findOneBy(TopUpEntity, { idempotencyKey });
    if (!earlier || earlier.balanceAfter === null) {
      throw new Error(`top-up ${idempotencyKey} conflicted but its stored result is missing`);
    }
    if (earlier.requestHash !== requestHash) return { kind: 'key-reused' };
    return {
      kind: 'replayed',
      topUp: {
        idempotencyKey,
        customerId: earlier.customerId,
        amount: earlier.amount,
        balance: earlier.balanceAfter,
      },
    };
  }
}
