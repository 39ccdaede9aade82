import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Orders1763740000000 implements MigrationInterface {
  name = 'Orders1763740000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE orders (
        id              uuid PRIMARY KEY,
        customer_id     text NOT NULL,
        status          text NOT NULL,
        reason          text,
        total           bigint CHECK (total >= 0),
        idempotency_key text NOT NULL UNIQUE,
        request_hash    text NOT NULL,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE order_lines (
        order_id   uuid NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
        line_no    integer NOT NULL,
        product_id text NOT NULL,
        quantity   integer NOT NULL CHECK (quantity > 0),
        unit_price bigint CHECK (unit_price >= 0),
        PRIMARY KEY (order_id, line_no)
      )`);
    await db.query('CREATE INDEX orders_customer_idx ON orders (customer_id)');
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP TABLE order_lines');
    await db.query('DROP TABLE orders');
  }
}
