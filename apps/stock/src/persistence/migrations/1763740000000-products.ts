import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Products1763740000000 implements MigrationInterface {
  name = 'Products1763740000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE products (
        id            text PRIMARY KEY,
        name          text NOT NULL,
        price         bigint NOT NULL CHECK (price >= 0),
        available     integer NOT NULL CHECK (available >= 0),
        reserved      integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
        sold          integer NOT NULL DEFAULT 0 CHECK (sold >= 0),
        stocked_total integer NOT NULL CHECK (stocked_total >= 0),
        created_at    timestamptz NOT NULL DEFAULT now(),
        updated_at    timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT products_quantities_add_up CHECK (available + reserved + sold = stocked_total)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE products');
  }
}
