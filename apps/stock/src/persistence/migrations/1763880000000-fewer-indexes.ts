import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * reservations_product (product_id, status) goes: no statement looks reservations up by product
 * (the saga by order and product, the sweeper by expiry, the API by order), and each reservation
 * paid two entries for it, on insert and on its status change.
 */
export class FewerIndexes1763880000000 implements MigrationInterface {
  name = 'FewerIndexes1763880000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('DROP INDEX reservations_product');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('CREATE INDEX reservations_product ON reservations (product_id, status)');
  }
}
