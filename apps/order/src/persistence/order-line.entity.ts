import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import type { Relation } from 'typeorm';
import { bigintAsNumber } from '@tcc/database';
import { OrderEntity } from './order.entity';

@Entity('order_lines')
export class OrderLineEntity {
  @PrimaryColumn({ name: 'order_id', type: 'uuid' })
  orderId!: string;

  @PrimaryColumn({ name: 'line_no', type: 'integer' })
  lineNo!: number;

  @Column({ name: 'product_id', type: 'text' })
  productId!: string;

  @Column({ type: 'integer' })
  quantity!: number;

  /** minor units, from the catalog (never from the client) */
  @Column({ name: 'unit_price', type: 'bigint', nullable: true, transformer: bigintAsNumber })
  unitPrice!: number | null;

  @Column({ type: 'text' })
  state!: string;

  @ManyToOne(() => OrderEntity, (order) => order.lines, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'order_id' })
  order!: Relation<OrderEntity>;
}
