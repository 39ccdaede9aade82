import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per order: the hold on the customer's points and the TCC fence record at once (a
 * customer pays an order once). `replies` keeps the reply sent for each phase, so a duplicate
 * command gets the very same reply again.
 */
export class Holds1763760000000 implements MigrationInterface {
  name = 'Holds1763760000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE holds (
        order_id    uuid PRIMARY KEY,
        customer_id text NOT NULL,
        amount      bigint NOT NULL CHECK (amount >= 0),
        status      text NOT NULL CHECK (status IN ('HELD', 'CAPTURED', 'RELEASED', 'EXPIRED', 'REJECTED', 'REFUNDED')),
        reason      text,
        expires_at  timestamptz,
        replies     jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now()
      )`);
    // the sweeper's scan, and "held = sum of live holds" checks
    await db.query(`CREATE INDEX holds_live ON holds (expires_at) WHERE status = 'HELD'`);
    await db.query(`CREATE INDEX holds_customer ON holds (customer_id, status)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE holds');
  }
}
