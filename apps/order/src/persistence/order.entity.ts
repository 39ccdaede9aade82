import { Column, CreateDateColumn, Entity, OneToMany, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintAsNumber } from '@tcc/database';
import { OrderLineEntity } from './order-line.entity';

@Entity('orders')
export class OrderEntity {
  @PrimaryColumn({ type: 'uuid' })
  id!: string;

  @Column({ name: 'customer_id', type: 'text' })
  customerId!: string;

  @Column({ type: 'text' })
  status!: string;

  @Column({ type: 'text', nullable: true })
  reason!: string | null;

  /** minor units; known once every line's price has come back from stock */
  @Column({ type: 'bigint', nullable: true, transformer: bigintAsNumber })
  total!: number | null;

  @Column({ name: 'idempotency_key', type: 'text', unique: true })
  idempotencyKey!: string;

  /** hash of the request body, so a reused key with another body is refused */
  @Column({ name: 'request_hash', type: 'text' })
  requestHash!: string;

  @Column({ name: 'reason_detail', type: 'text', nullable: true })
  reasonDetail!: string | null;

  @Column({ name: 'payment_state', type: 'text' })
  paymentState!: string;

  @Column({ name: 'deadline_at', type: 'timestamptz' })
  deadlineAt!: Date;

  @Column({ name: 'hold_until', type: 'timestamptz' })
  holdUntil!: Date;

  @Column({ name: 'next_retry_at', type: 'timestamptz', nullable: true })
  nextRetryAt!: Date | null;

  @Column({ name: 'retry_count', type: 'integer' })
  retryCount!: number;

  @Column({ name: 'trace_id', type: 'text', nullable: true })
  traceId!: string | null;

  /** bumped by every saga step; a step writes only if it is still the version it read */
  @Column({ type: 'integer', default: 0 })
  version!: number;

  @OneToMany(() => OrderLineEntity, (line) => line.order, { cascade: true })
  lines!: OrderLineEntity[];

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' })
  updatedAt!: Date;
}
