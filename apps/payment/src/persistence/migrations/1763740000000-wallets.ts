import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Wallets1763740000000 implements MigrationInterface {
  name = 'Wallets1763740000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE wallets (
        customer_id     text PRIMARY KEY,
        balance         bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
        held            bigint NOT NULL DEFAULT 0 CHECK (held >= 0),
        captured        bigint NOT NULL DEFAULT 0 CHECK (captured >= 0),
        topped_up_total bigint NOT NULL DEFAULT 0 CHECK (topped_up_total >= 0),
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT wallets_amounts_add_up CHECK (balance + held + captured = topped_up_total)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE wallets');
  }
}
