import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The outbox table every service shares the shape of; each service lists this migration. */
export class Outbox1763750000000 implements MigrationInterface {
  name = 'Outbox1763750000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE outbox (
        id         bigserial PRIMARY KEY,
        message_id uuid NOT NULL,
        topic      text NOT NULL,
        key        text NOT NULL,
        type       text NOT NULL,
        envelope   jsonb NOT NULL,
        headers    jsonb NOT NULL DEFAULT '{}'::jsonb,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE outbox');
  }
}

/**
 * The outbox is a queue table: whatever it holds is deleted within moments, so a VACUUM finds its
 * last pages empty and truncates them. To truncate, VACUUM takes an ACCESS EXCLUSIVE lock (it
 * waits for it in VacuumTruncate, retrying while writers hold the table) and then holds it
 * through the truncation and its WAL flush: every statement that writes the outbox (every saga
 * step of the service) waits meanwhile, and the file change makes every connection plan its
 * statements on the outbox again. The pages are filled again a moment later anyway. Observed at
 * 300 orders/s: the order service's relay VACUUM in VacuumTruncate at the very second the saga's
 * latency went past 300 ms. With `vacuum_truncate = false` neither the relay's VACUUM nor
 * autovacuum truncates the outbox.
 */
export class OutboxKeepsItsPages1763910000000 implements MigrationInterface {
  name = 'OutboxKeepsItsPages1763910000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE outbox SET (vacuum_truncate = false)');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE outbox RESET (vacuum_truncate)');
  }
}

/**
 * When the relay may send a row. A statement that sends its own messages as soon as it has
 * committed (the order service's saga steps, DirectPublisher) writes them with a `relay_after` a
 * few seconds ahead: the relay leaves them to their writer, deletes them once Kafka took them, and
 * sends them itself only if they are still there when that time has come (the writer died, or
 * Kafka was away). Every other row is the relay's at once (`-infinity`).
 */
export class OutboxRelayAfter1763920000000 implements MigrationInterface {
  name = 'OutboxRelayAfter1763920000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE outbox ADD COLUMN relay_after timestamptz NOT NULL DEFAULT '-infinity'`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE outbox DROP COLUMN relay_after');
  }
}
