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
