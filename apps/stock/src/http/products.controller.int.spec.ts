import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { serveControllers } from '@tcc/service';
import { bearer, migratedTestDatabase, testAuthConfig } from '@tcc/testing';
import type { MigratedDatabase } from '@tcc/testing';
import { stockEntities, stockMigrations } from '../persistence/schema';
import { ProductsController } from './products.controller';

/** The products REST API over HTTP against a real PostgreSQL: status codes, bodies, concurrency. */
describe('products HTTP API (real PostgreSQL)', () => {
  let database: MigratedDatabase;
  let db: DataSource;
  let app: NestFastifyApplication;
  let base: string;

  beforeAll(async () => {
    database = await migratedTestDatabase('stock_http', stockEntities, stockMigrations);
    db = database.db;
    ({ app, base } = await serveControllers(
      {
        controllers: [ProductsController],
        providers: [{ provide: getDataSourceToken(), useValue: db }],
      },
      testAuthConfig,
    ));
  });

  afterAll(async () => {
    await app.close();
    await database.drop();
  });

  /** A request as an operator, or with `auth` (an empty object: no token) */
  async function call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    auth?: Record<string, string>,
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(auth ?? (await bearer())) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const newProduct = () => `p-${randomUUID().slice(0, 8)}`;

  it('creates a product (201), refuses a second one (409), and reads it (200, 404)', async () => {
    const id = newProduct();
    const created = { id, name: 'Tea', price: 250, available: 7, reserved: 0, sold: 0, stockedTotal: 7 };
    expect(await call('POST', '/products', { id, name: 'Tea', price: 250, quantity: 7 })).toEqual({
      status: 201,
      body: created,
    });
    const again = await call('POST', '/products', { id, name: 'Coffee', price: 1, quantity: 1 });
    expect(again).toMatchObject({ status: 409, body: { message: `product ${id} already exists` } });
    expect(await call('GET', `/products/${id}`)).toEqual({ status: 200, body: created });
    const unknown = newProduct();
    expect(await call('GET', `/products/${unknown}`)).toMatchObject({
      status: 404,
      body: { message: `product ${unknown} does not exist` },
    });
  });

  it('takes prices up to the largest exact JavaScript number', async () => {
    const id = newProduct();
    const price = Number.MAX_SAFE_INTEGER;
    expect((await call('POST', '/products', { id, name: 'Gold', price, quantity: 1 })).body).toMatchObject({
      price,
    });
    expect((await call('GET', `/products/${id}`)).body).toMatchObject({ price });
  });

  it('makes one product of concurrent creates with one id: one 201, the rest 409', async () => {
    const id = newProduct();
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        call('POST', '/products', { id, name: `n${i}`, price: 1, quantity: i }),
      ),
    );
    expect(answers.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409]);
    const winner = answers.find((a) => a.status === 201)?.body;
    expect((await call('GET', `/products/${id}`)).body).toEqual(winner);
  });

  it('answers 400 with every issue listed for an invalid body or id', async () => {
    const bad = await call('POST', '/products', { id: 'has spaces', name: '', price: -1, quantity: 1.5 });
    expect(bad.status).toBe(400);
    expect(bad.body['issues']).toEqual([
      expect.objectContaining({ path: 'id' }),
      expect.objectContaining({ path: 'name' }),
      expect.objectContaining({ path: 'price' }),
      expect.objectContaining({ path: 'quantity' }),
    ]);
    expect((await call('GET', '/products/has%20spaces')).status).toBe(400);
    expect((await call('POST', `/products/${newProduct()}/restock`, { quantity: 0 })).status).toBe(400);
  });

  it('restocks (200 with the product as the restock left it), counting concurrent restocks; 404 for an unknown product', async () => {
    const id = newProduct();
    await call('POST', '/products', { id, name: 'Tea', price: 250, quantity: 5 });
    expect(await call('POST', `/products/${id}/restock`, { quantity: 3 })).toEqual({
      status: 200,
      body: { id, name: 'Tea', price: 250, available: 8, reserved: 0, sold: 0, stockedTotal: 8 },
    });
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => call('POST', `/products/${id}/restock`, { quantity: 1 })),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
    // each answer is the row right after its own restock: ten different totals, 9 to 18
    expect(answers.map((a) => a.body['stockedTotal']).sort((a, b) => Number(a) - Number(b))).toEqual([
      9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    ]);
    expect((await call('GET', `/products/${id}`)).body).toMatchObject({ available: 18, stockedTotal: 18 });
    const unknown = newProduct();
    expect(await call('POST', `/products/${unknown}/restock`, { quantity: 1 })).toMatchObject({
      status: 404,
      body: { message: `product ${unknown} does not exist` },
    });
  });

  it('lists the reservations of an order, and refuses a malformed order id (400)', async () => {
    const id = newProduct();
    await call('POST', '/products', { id, name: 'Tea', price: 250, quantity: 5 });
    const orderId = randomUUID();
    // a reservation as stock's try leaves it (tested in stock-tcc.int.spec.ts)
    const expiresAt = new Date(Date.now() + 30_000);
    await db.query(
      `INSERT INTO reservations (order_id, product_id, quantity, unit_price, status, expires_at)
       VALUES ($1, $2, 2, 250, 'RESERVED', $3)`,
      [orderId, id, expiresAt],
    );
    const response = await fetch(`${base}/reservations?orderId=${orderId}`, { headers: await bearer() });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual([
      {
        orderId,
        productId: id,
        quantity: 2,
        unitPrice: 250,
        status: 'RESERVED',
        reason: null,
        expiresAt: expiresAt.toISOString(),
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      },
    ]);
    expect(
      (await fetch(`${base}/reservations?orderId=${randomUUID()}`, { headers: await bearer() })).status,
    ).toBe(200);
    expect((await fetch(`${base}/reservations?orderId=nope`, { headers: await bearer() })).status).toBe(400);
  });

  it('lets anyone read a product, and only operators create, restock or read reservations', async () => {
    const id = newProduct();
    expect((await call('POST', '/products', { id, name: 'Tea', price: 250, quantity: 7 }, {})).status).toBe(
      401,
    );
    expect((await call('POST', '/products', { id, name: 'Tea', price: 250, quantity: 7 })).status).toBe(201);
    expect((await call('GET', `/products/${id}`, undefined, {})).body['available']).toBe(7);
    const customer = await bearer('alice');
    const forbidden = {
      status: 403,
      body: {
        statusCode: 403,
        error: 'Forbidden',
        message: 'this needs the scope "tcc:operate", which the token does not grant',
        scope: 'tcc:operate',
      },
    };
    expect(
      await call('POST', '/products', { id: newProduct(), name: 'x', price: 1, quantity: 1 }, customer),
    ).toEqual(forbidden);
    expect(await call('POST', `/products/${id}/restock`, { quantity: 1_000 }, customer)).toEqual(forbidden);
    const reservations = await fetch(`${base}/reservations?orderId=${randomUUID()}`, { headers: customer });
    expect(reservations.status).toBe(403);
    expect(reservations.headers.get('www-authenticate')).toBe(
      'Bearer realm="tcc-saga", error="insufficient_scope", scope="tcc:operate"',
    );
    expect((await call('GET', `/products/${id}`, undefined, {})).body['available']).toBe(7);
  });
});
