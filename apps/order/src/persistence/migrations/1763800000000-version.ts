import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A version on every order: a saga step reads the order, decides, and writes only if the version
 * is still the one it read (one statement, no transaction held across the decision).
 */
export class Version1763800000000 implements MigrationInterface {
  name = 'Version1763800000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE orders ADD COLUMN version integer NOT NULL DEFAULT 0');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('ALTER TABLE orders DROP COLUMN version');
  }
}
