import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The saga's state on the order, its timeline, and the inbox that de-duplicates replies. */
export class Saga1763760000000 implements MigrationInterface {
  name = 'Saga1763760000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE orders
        ADD COLUMN reason_detail text,
        ADD COLUMN payment_state text NOT NULL DEFAULT 'NOT_TRIED',
        ADD COLUMN deadline_at   timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN hold_until    timestamptz NOT NULL DEFAULT now(),
        ADD COLUMN next_retry_at timestamptz,
        ADD COLUMN retry_count   integer NOT NULL DEFAULT 0,
        ADD CONSTRAINT orders_status_known
          CHECK (status IN ('TRYING', 'CONFIRMING', 'CANCELLING', 'CONFIRMED', 'CANCELLED'))`);
    await db.query(
      'ALTER TABLE orders ALTER COLUMN deadline_at DROP DEFAULT, ALTER COLUMN hold_until DROP DEFAULT',
    );
    await db.query(`ALTER TABLE order_lines ADD COLUMN state text NOT NULL DEFAULT 'PENDING'`);
    // what the scheduler looks for: try deadlines, and confirms/cancels to send again
    await db.query(`CREATE INDEX orders_trying_deadline ON orders (deadline_at) WHERE status = 'TRYING'`);
    await db.query(
      `CREATE INDEX orders_retry_due ON orders (next_retry_at) WHERE status IN ('CONFIRMING', 'CANCELLING')`,
    );
    await db.query(`
      CREATE TABLE order_timeline (
        id          bigserial PRIMARY KEY,
        order_id    uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
        participant text NOT NULL,
        state       text NOT NULL,
        detail      text,
        at          timestamptz NOT NULL DEFAULT clock_timestamp()
      )`);
    await db.query('CREATE INDEX order_timeline_order ON order_timeline (order_id, id)');
    await db.query(`
      CREATE TABLE processed_messages (
        message_id   uuid PRIMARY KEY,
        processed_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE processed_messages');
    await db.query('DROP TABLE order_timeline');
    await db.query('DROP INDEX orders_retry_due');
    await db.query('DROP INDEX orders_trying_deadline');
    await db.query('ALTER TABLE order_lines DROP COLUMN state');
    await db.query(`
      ALTER TABLE orders DROP CONSTRAINT orders_status_known, DROP COLUMN reason_detail, DROP COLUMN payment_state,
        DROP COLUMN deadline_at, DROP COLUMN hold_until, DROP COLUMN next_retry_at, DROP COLUMN retry_count`);
  }
}
