import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The timeline's reference to its order is no longer a foreign key. Every timeline row is written
 * by the statement that inserts or updates its order (guarded by the order's version), so it can
 * never name a missing order, and orders are never deleted. The check cost one trigger query per
 * row, seven per order: the most frequent statement in the order database after the saga's own.
 */
export class TimelineUnchecked1763840000000 implements MigrationInterface {
  name = 'TimelineUnchecked1763840000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE order_timeline DROP CONSTRAINT order_timeline_order_id_fkey');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE order_timeline ADD CONSTRAINT order_timeline_order_id_fkey
        FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE`);
  }
}
