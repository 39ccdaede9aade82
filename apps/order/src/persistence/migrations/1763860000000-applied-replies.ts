import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ids of the replies applied to an order live on the order (orders.applied), written by the
 * same version-guarded update that applies the reply, instead of in a processed_messages table.
 * That table took four rows per order with random keys and was never pruned; the order's own list
 * is as long as its replies. Replies applied before this migration and delivered again afterwards
 * meet a saga whose state has moved past them, which ignores them (a late-reply entry in the
 * timeline).
 */
export class AppliedReplies1763860000000 implements MigrationInterface {
  name = 'AppliedReplies1763860000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE orders ADD COLUMN applied uuid[] NOT NULL DEFAULT '{}'`);
    await db.query('DROP TABLE processed_messages');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE processed_messages (
        message_id   uuid PRIMARY KEY,
        processed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(
      'INSERT INTO processed_messages (message_id) SELECT DISTINCT unnest(applied) FROM orders ON CONFLICT DO NOTHING',
    );
    await db.query('ALTER TABLE orders DROP COLUMN applied');
  }
}
