import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per Idempotency-Key of POST /wallets/:customerId/top-ups. The primary key decides which
 * of two requests with the same key is applied; `request_hash` tells a retry of the same request
 * from a key reused for a different one; `balance_after` is the answer a retry gets again.
 */
export class TopUps1763770000000 implements MigrationInterface {
  name = 'TopUps1763770000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE top_ups (
        idempotency_key text PRIMARY KEY,
        customer_id     text NOT NULL,
        amount          bigint NOT NULL CHECK (amount > 0),
        request_hash    text NOT NULL,
        balance_after   bigint,
        created_at      timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query('CREATE INDEX top_ups_customer ON top_ups (customer_id, created_at)');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE top_ups');
  }
}
