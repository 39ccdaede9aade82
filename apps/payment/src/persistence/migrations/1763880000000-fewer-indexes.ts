import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * holds_customer (customer_id, status) goes: no statement looks holds up by customer (the saga by
 * order, the sweeper by expiry, the API by order), and each hold paid two entries for it, on
 * insert and on its status change.
 */
export class FewerIndexes1763880000000 implements MigrationInterface {
  name = 'FewerIndexes1763880000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('DROP INDEX holds_customer');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('CREATE INDEX holds_customer ON holds (customer_id, status)');
  }
}
