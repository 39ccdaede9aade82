import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * One row per (order, product): the reservation and the TCC fence record at once. `replies` keeps
 * the reply sent for each phase, so a duplicate command gets the very same reply again.
 */
export class Reservations1763760000000 implements MigrationInterface {
  name = 'Reservations1763760000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE reservations (
        order_id   uuid NOT NULL,
        product_id text NOT NULL,
        quantity   integer NOT NULL CHECK (quantity >= 0),
        unit_price bigint CHECK (unit_price >= 0),
        status     text NOT NULL CHECK (status IN ('RESERVED', 'CONFIRMED', 'CANCELLED', 'EXPIRED', 'REJECTED', 'RETURNED')),
        reason     text,
        expires_at timestamptz,
        replies    jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (order_id, product_id)
      )`);
    // the sweeper's scan, and "reserved = sum of live reservations" checks
    await db.query(`CREATE INDEX reservations_live ON reservations (expires_at) WHERE status = 'RESERVED'`);
    await db.query(`CREATE INDEX reservations_product ON reservations (product_id, status)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE reservations');
  }
}
