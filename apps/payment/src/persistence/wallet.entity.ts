import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintAsNumber } from '@tcc/database';

/** A customer's points. balance + held + captured = toppedUpTotal, enforced by a CHECK constraint. */
@Entity('wallets')
export class WalletEntity {
  @PrimaryColumn({ name: 'customer_id', type: 'text' })
  customerId!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  balance!: number;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  held!: number;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  captured!: number;

  @Column({ name: 'topped_up_total', type: 'bigint', transformer: bigintAsNumber })
  toppedUpTotal!: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
