import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintAsNumber } from '@tcc/database';

/**
 * A customer's points, as the migrations make the columns (they own its constraints).
 * balance + held + captured = toppedUpTotal, enforced by a CHECK constraint.
 */
@Entity('wallets')
export class WalletEntity {
  @PrimaryColumn({ name: 'customer_id', type: 'text' })
  customerId!: string;

  @Column({ type: 'bigint', default: 0, transformer: bigintAsNumber })
  balance!: number;

  @Column({ type: 'bigint', default: 0, transformer: bigintAsNumber })
  held!: number;

  @Column({ type: 'bigint', default: 0, transformer: bigintAsNumber })
  captured!: number;

  @Column({ name: 'topped_up_total', type: 'bigint', default: 0, transformer: bigintAsNumber })
  toppedUpTotal!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
