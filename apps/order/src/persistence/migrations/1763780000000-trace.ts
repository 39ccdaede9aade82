import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The W3C trace id of the request that placed the order, so its deadline and retries join that trace. */
export class Trace1763780000000 implements MigrationInterface {
  name = 'Trace1763780000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE orders ADD COLUMN trace_id text');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE orders DROP COLUMN trace_id');
  }
}
