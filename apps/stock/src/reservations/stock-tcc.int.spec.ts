import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { createMessage } from '@tcc/contracts';
import type { AnyEnvelope, MessageOfType } from '@tcc/contracts';
import { migratedTestDatabase, outboxEnvelopes, waitFor } from '@tcc/testing';
import type { MigratedDatabase } from '@tcc/testing';
import { stockEntities, stockMigrations } from '../persistence/schema';
import { StockTccService } from './stock-tcc.service';

/** StockTccService against a real PostgreSQL: the fence, the guards and the sweeper. */
describe('stock TCC participant (real PostgreSQL)', () => {
  let database: MigratedDatabase;
  let db: DataSource;
  let stock: StockTccService;

  beforeAll(async () => {
    database = await migratedTestDatabase('stock_tcc', stockEntities, stockMigrations);
    db = database.db;
    stock = new StockTccService(db, { maxHoldMs: 3_600_000, sweepIntervalMs: 1_000 });
  });

  afterAll(async () => {
    await database.drop();
  });

  async function product(quantity: number, price = 1_000): Promise<string> {
    const id = `p-${randomUUID().slice(0, 8)}`;
    await db.query(
      `INSERT INTO products (id, name, price, available, reserved, sold, stocked_total) VALUES ($1, $1, $2, $3, 0, 0, $3)`,
      [id, price, quantity],
    );
    return id;
  }

  async function quantities(id: string) {
    const [row] = await db.query<
      {
        available: number;
        reserved: number;
        sold: number;
        stocked_total: number;
      }[]
    >('SELECT available, reserved, sold, stocked_total FROM products WHERE id = $1', [id]);
    return row;
  }

  const replies = (orderId: string): Promise<AnyEnvelope[]> => outboxEnvelopes(db, orderId);

  const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

  function tryCommand(
    orderId: string,
    productId: string,
    quantity: number,
    opts: { deadlineMs?: number; holdMs?: number } = {},
  ) {
    return createMessage(
      'StockTry',
      {
        orderId,
        productId,
        quantity,
        deadline: soon(opts.deadlineMs ?? 10_000),
        holdUntil: soon(opts.holdMs ?? 60_000),
      },
      { correlationId: orderId },
    );
  }
  const confirm = (orderId: string, productId: string) =>
    createMessage('StockConfirm', { orderId, productId }, { correlationId: orderId });
  const cancel = (orderId: string, productId: string) =>
    createMessage('StockCancel', { orderId, productId }, { correlationId: orderId });
  const giveBack = (orderId: string, productId: string) =>
    createMessage('StockReturn', { orderId, productId }, { correlationId: orderId });

  it('reserves with the catalog price, sells once on confirm, and replays duplicates', async () => {
    const id = await product(5, 2_500);
    const orderId = randomUUID();
    const first: MessageOfType<'StockTry'> = tryCommand(orderId, id, 2);
    await stock.try(first);
    expect(await quantities(id)).toEqual({ available: 3, reserved: 2, sold: 0, stocked_total: 5 });

    await stock.try({ ...first, messageId: randomUUID() }); // the same try again (a redelivery)
    await stock.confirm(confirm(orderId, id));
    await stock.confirm(confirm(orderId, id));
    expect(await quantities(id)).toEqual({ available: 3, reserved: 0, sold: 2, stocked_total: 5 });

    const sent = await replies(orderId);
    expect(sent.map((r) => r.type)).toEqual([
      'StockReserved',
      'StockReserved',
      'StockConfirmed',
      'StockConfirmed',
    ]);
    expect(sent[0]?.payload).toMatchObject({ unitPrice: 2_500, quantity: 2 });
    // the very same reply, message id included, so the order de-duplicates it
    expect(sent[1]).toEqual(sent[0]);
    expect(sent[3]).toEqual(sent[2]);
    expect(sent[0]?.causationId).toBe(first.messageId);
  });

  it('rejects a try it cannot serve, as a typed reply', async () => {
    const id = await product(1);
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    await stock.try(tryCommand(a, id, 2));
    await stock.try(tryCommand(b, 'no-such-product', 1));
    await stock.try(tryCommand(c, id, 1, { deadlineMs: -1 }));
    expect((await replies(a))[0]?.payload).toMatchObject({ reason: 'OUT_OF_STOCK' });
    expect((await replies(b))[0]?.payload).toMatchObject({ reason: 'UNKNOWN_PRODUCT' });
    expect((await replies(c))[0]?.payload).toMatchObject({ reason: 'DEADLINE_PASSED' });
    expect(await quantities(id)).toEqual({ available: 1, reserved: 0, sold: 0, stocked_total: 1 });
  });

  it('remembers a cancel that came before the try and refuses the hanging try', async () => {
    const id = await product(3);
    const orderId = randomUUID();
    await stock.cancel(cancel(orderId, id));
    await stock.try(tryCommand(orderId, id, 1));
    await stock.cancel(cancel(orderId, id));
    expect((await replies(orderId)).map((r) => [r.type, r.payload])).toEqual([
      ['StockCancelled', { orderId, productId: id, released: 0, emptyRollback: true }],
      ['StockRejected', { orderId, productId: id, reason: 'ALREADY_CANCELLED' }],
      ['StockCancelled', { orderId, productId: id, released: 0, emptyRollback: true }],
    ]);
    expect(await quantities(id)).toEqual({ available: 3, reserved: 0, sold: 0, stocked_total: 3 });
  });

  it('refuses confirm after cancel and cancel after confirm', async () => {
    const id = await product(4);
    const cancelled = randomUUID();
    const confirmed = randomUUID();
    await stock.try(tryCommand(cancelled, id, 1));
    await stock.cancel(cancel(cancelled, id));
    await stock.confirm(confirm(cancelled, id));
    await stock.try(tryCommand(confirmed, id, 1));
    await stock.confirm(confirm(confirmed, id));
    await stock.cancel(cancel(confirmed, id));
    expect((await replies(cancelled)).map((r) => r.type)).toEqual([
      'StockReserved',
      'StockCancelled',
      'StockConfirmRefused',
    ]);
    expect((await replies(cancelled))[2]?.payload).toMatchObject({ reason: 'CANCELLED' });
    expect((await replies(confirmed)).map((r) => r.type)).toEqual([
      'StockReserved',
      'StockConfirmed',
      'StockCancelRefused',
    ]);
    expect((await replies(confirmed))[2]?.payload).toMatchObject({ reason: 'CONFIRMED' });
    expect(await quantities(id)).toEqual({ available: 3, reserved: 0, sold: 1, stocked_total: 4 });
  });

  it('takes a confirmed sale back on return', async () => {
    const id = await product(2);
    const orderId = randomUUID();
    await stock.try(tryCommand(orderId, id, 2));
    await stock.confirm(confirm(orderId, id));
    await stock.return(giveBack(orderId, id));
    await stock.return(giveBack(orderId, id));
    expect((await replies(orderId)).map((r) => r.type)).toEqual([
      'StockReserved',
      'StockConfirmed',
      'StockReturned',
      'StockReturned',
    ]);
    expect(await quantities(id)).toEqual({ available: 2, reserved: 0, sold: 0, stocked_total: 2 });
  });

  it('never sells more than it has when 100 orders race for 10 items', async () => {
    const id = await product(10);
    const orders = Array.from({ length: 100 }, () => randomUUID());
    await Promise.all(orders.map((o) => stock.try(tryCommand(o, id, 1))));
    const outcomes = await Promise.all(orders.map(async (o) => (await replies(o))[0]?.type));
    expect(outcomes.filter((t) => t === 'StockReserved')).toHaveLength(10);
    expect(outcomes.filter((t) => t === 'StockRejected')).toHaveLength(90);
    expect(await quantities(id)).toEqual({ available: 0, reserved: 10, sold: 0, stocked_total: 10 });
  });

  it('reserves once when the same try is handled twice at the same moment', async () => {
    const id = await product(5);
    const orderId = randomUUID();
    const command = tryCommand(orderId, id, 2);
    const results = await Promise.allSettled([
      stock.try(command),
      stock.try({ ...command, messageId: randomUUID() }),
    ]);
    // the loser hit the primary key; the transport would retry it, which replays
    for (const r of results) if (r.status === 'rejected') await stock.try(command);
    expect(await quantities(id)).toEqual({ available: 3, reserved: 2, sold: 0, stocked_total: 5 });
    expect((await replies(orderId)).map((r) => r.type)).toEqual(['StockReserved', 'StockReserved']);
  });

  it('lets exactly one of a confirm, a cancel and the sweeper settle a reservation they race for', async () => {
    for (let round = 0; round < 20; round++) {
      const id = await product(3);
      const orderId = randomUUID();
      await stock.try(tryCommand(orderId, id, 2, { holdMs: round % 2 === 0 ? 60_000 : 1 }));
      // each unlocked fast path reads RESERVED; the writes are guarded, so only one can move it
      await Promise.allSettled([
        stock.confirm(confirm(orderId, id)),
        stock.cancel(cancel(orderId, id)),
        stock.expireOverdue(),
      ]);
      const q = await quantities(id);
      const [fence] = await db.query<{ status: string }[]>(
        'SELECT status FROM reservations WHERE order_id = $1',
        [orderId],
      );
      expect(q?.reserved).toBe(0);
      expect((q?.available ?? 0) + (q?.sold ?? 0)).toBe(3);
      expect(q?.sold).toBe(fence?.status === 'CONFIRMED' ? 2 : 0);
      expect(['CONFIRMED', 'CANCELLED', 'EXPIRED']).toContain(fence?.status);
    }
  });

  it('releases expired reservations, reports them, and sells on a late confirm only if stock is left', async () => {
    const id = await product(1);
    const late = randomUUID();
    const tooLate = randomUUID();
    await stock.try(tryCommand(late, id, 1, { holdMs: 50 }));
    await waitFor(async () => (await stock.expireOverdue()) > 0, {
      description: 'the reservation to expire',
    });
    expect(await quantities(id)).toEqual({ available: 1, reserved: 0, sold: 0, stocked_total: 1 });
    expect((await replies(late)).map((r) => r.type)).toEqual(['StockReserved', 'StockReservationExpired']);

    await stock.confirm(confirm(late, id)); // stock is still there: sold after all
    expect(await quantities(id)).toEqual({ available: 0, reserved: 0, sold: 1, stocked_total: 1 });

    const other = await product(1);
    const taker = randomUUID();
    await stock.try(tryCommand(tooLate, other, 1, { holdMs: 50 }));
    await waitFor(async () => (await stock.expireOverdue()) > 0, {
      description: 'the second reservation to expire',
    });
    await stock.try(tryCommand(taker, other, 1)); // someone else takes the released item
    await stock.confirm(confirm(tooLate, other));
    expect((await replies(tooLate)).map((r) => [r.type, (r.payload as { reason?: string }).reason])).toEqual([
      ['StockReserved', undefined],
      ['StockReservationExpired', undefined],
      ['StockConfirmRefused', 'EXPIRED'],
    ]);
    expect(await quantities(other)).toEqual({ available: 0, reserved: 1, sold: 0, stocked_total: 1 });
  });
});
