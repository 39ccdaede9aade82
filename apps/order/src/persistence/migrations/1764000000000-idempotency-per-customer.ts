import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Idempotency keys are a customer's own: the same key sent by two customers names two orders, and
 * one customer's key can never replay (or reveal) another's order. The key's uniqueness becomes
 * (customer_id, idempotency_key), which is also the index the lookup of a replayed key uses.
 */
export class IdempotencyPerCustomer1764000000000 implements MigrationInterface {
  name = 'IdempotencyPerCustomer1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE orders DROP CONSTRAINT orders_idempotency_key_key');
    await db.query(
      'ALTER TABLE orders ADD CONSTRAINT orders_customer_idempotency_key UNIQUE (customer_id, idempotency_key)',
    );
  }

  async down(db: QueryRunner): Promise<void> {
    // fails where two customers used one key: which order should keep it is not the migration's call
    await db.query('ALTER TABLE orders DROP CONSTRAINT orders_customer_idempotency_key');
    await db.query('ALTER TABLE orders ADD CONSTRAINT orders_idempotency_key_key UNIQUE (idempotency_key)');
  }
}
