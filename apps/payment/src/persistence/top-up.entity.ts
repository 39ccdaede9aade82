import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '@tcc/database';

/**
 * One Idempotency-Key of POST /wallets/:customerId/top-ups. `requestHash` tells a retry of the same
 * request from a key reused for another; `balanceAfter` is the answer a retry gets again.
 */
@Entity('top_ups')
export class TopUpEntity {
  @PrimaryColumn({ name: 'idempotency_key', type: 'text' })
  idempotencyKey!: string;

  @Column({ name: 'customer_id', type: 'text' })
  customerId!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  amount!: number;

  @Column({ name: 'request_hash', type: 'text' })
  requestHash!: string;

  /** null until the top-up's transaction has added the points */
  @Column({ name: 'balance_after', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  balanceAfter!: number | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;
}
