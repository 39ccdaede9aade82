import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getDataSourceToken } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { createMessage } from '@tcc/contracts';
import { postgresDataSourceOptions } from '@tcc/database';
import { serveControllers } from '@tcc/service';
import { bearer, createTestDatabase, testAuthConfig } from '@tcc/testing';
import type { TestDatabase } from '@tcc/testing';
import { paymentEntities, paymentMigrations } from '../persistence/schema';
import { WalletsService } from '../wallets/wallets.service';
import { WalletsController } from './wallets.controller';

/** The wallets REST API over HTTP against a real PostgreSQL: status codes, validation, idempotency. */
describe('wallets HTTP API (real PostgreSQL)', () => {
  let database: TestDatabase;
  let db: DataSource;
  let app: NestFastifyApplication;
  let base: string;

  beforeAll(async () => {
    database = await createTestDatabase('payment_http');
    db = new DataSource(
      postgresDataSourceOptions({
        url: database.url,
        poolSize: 10,
        applicationName: 'payment-http-test',
        entities: paymentEntities,
        migrations: paymentMigrations,
      }),
    );
    await db.initialize();
    await db.runMigrations();
    ({ app, base } = await serveControllers(
      {
        controllers: [WalletsController],
        providers: [WalletsService, { provide: getDataSourceToken(), useValue: db }],
      },
      testAuthConfig,
    ));
  });

  afterAll(async () => {
    await app.close();
    await db.destroy();
    await database.drop();
  });

  /** A request as an operator, unless `headers` carry an `authorization` of their own */
  async function call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(await bearer()), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  const newCustomer = () => `c-${randomUUID().slice(0, 8)}`;

  it('creates a wallet (201), refuses a second one (409), and reads it (200, 404)', async () => {
    const id = newCustomer();
    expect(await call('POST', '/wallets', { customerId: id, balance: 1_000 })).toEqual({
      status: 201,
      body: { customerId: id, balance: 1_000, held: 0, captured: 0, toppedUpTotal: 1_000 },
    });
    expect((await call('POST', '/wallets', { customerId: id })).status).toBe(409);
    expect(await call('GET', `/wallets/${id}`)).toEqual({
      status: 200,
      body: { customerId: id, balance: 1_000, held: 0, captured: 0, toppedUpTotal: 1_000 },
    });
    expect((await call('GET', `/wallets/${newCustomer()}`)).status).toBe(404);

    const empty = newCustomer();
    expect((await call('POST', '/wallets', { customerId: empty })).body).toMatchObject({ balance: 0 });
  });

  it('answers 400 with every issue listed for an invalid body', async () => {
    const response = await call('POST', '/wallets', { customerId: 'has spaces', balance: -1 });
    expect(response.status).toBe(400);
    expect(response.body['issues']).toEqual([
      expect.objectContaining({ path: 'customerId' }),
      expect.objectContaining({ path: 'balance' }),
    ]);
    expect((await call('GET', '/wallets/has%20spaces')).status).toBe(400);
  });

  it('tops up once per Idempotency-Key: 201, then 200 with the same answer, 422 for another request', async () => {
    const id = newCustomer();
    await call('POST', '/wallets', { customerId: id, balance: 10 });
    const key = { 'Idempotency-Key': randomUUID() };
    const first = await call('POST', `/wallets/${id}/top-ups`, { amount: 100 }, key);
    expect(first).toEqual({
      status: 201,
      body: { idempotencyKey: key['Idempotency-Key'], customerId: id, amount: 100, balance: 110 },
    });
    expect(await call('POST', `/wallets/${id}/top-ups`, { amount: 100 }, key)).toEqual({
      ...first,
      status: 200,
    });

    const reused = await call('POST', `/wallets/${id}/top-ups`, { amount: 5 }, key);
    expect(reused.status).toBe(422);
    expect(reused.body['message']).toMatch(/^Idempotency-Key .* was used with a different request/);
    expect((await call('GET', `/wallets/${id}`)).body).toMatchObject({ balance: 110, toppedUpTotal: 110 });
  });

  it('counts concurrent top-ups with different keys, and a raced key once', async () => {
    const id = newCustomer();
    await call('POST', '/wallets', { customerId: id });
    const different = await Promise.all(
      [1, 2].map(() =>
        call('POST', `/wallets/${id}/top-ups`, { amount: 100 }, { 'Idempotency-Key': randomUUID() }),
      ),
    );
    expect(different.map((r) => r.status)).toEqual([201, 201]);
    const key = { 'Idempotency-Key': randomUUID() };
    const same = await Promise.all(
      [1, 2, 3].map(() => call('POST', `/wallets/${id}/top-ups`, { amount: 100 }, key)),
    );
    expect(same.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    expect((await call('GET', `/wallets/${id}`)).body).toMatchObject({ balance: 300, toppedUpTotal: 300 });
  });

  it('refuses a top-up without a usable Idempotency-Key (400), of a bad amount (400), or of an unknown wallet (404)', async () => {
    const id = newCustomer();
    await call('POST', '/wallets', { customerId: id });
    const missing = await call('POST', `/wallets/${id}/top-ups`, { amount: 1 });
    expect(missing.status).toBe(400);
    expect(missing.body['message']).toMatch(/Idempotency-Key/);
    for (const bad of ['', '   ', 'k'.repeat(201)]) {
      expect(
        (await call('POST', `/wallets/${id}/top-ups`, { amount: 1 }, { 'Idempotency-Key': bad })).status,
      ).toBe(400);
    }
    expect(
      (await call('POST', `/wallets/${id}/top-ups`, { amount: 1 }, { 'Idempotency-Key': 'k'.repeat(200) }))
        .status,
    ).toBe(201);
    for (const amount of [0, -5, 1.5, '10']) {
      const r = await call('POST', `/wallets/${id}/top-ups`, { amount }, { 'Idempotency-Key': randomUUID() });
      expect(r.status).toBe(400);
    }
    const unknown = await call(
      'POST',
      `/wallets/${newCustomer()}/top-ups`,
      { amount: 1 },
      { 'Idempotency-Key': randomUUID() },
    );
    expect(unknown.status).toBe(404);
    expect((await call('GET', `/wallets/${id}`)).body).toMatchObject({ balance: 1, toppedUpTotal: 1 });
  });

  it('refuses a top-up that would take the total past 2^53 (422), and keeps its key free', async () => {
    const id = newCustomer();
    await call('POST', '/wallets', { customerId: id, balance: Number.MAX_SAFE_INTEGER - 10 });
    const key = { 'Idempotency-Key': randomUUID() };
    const refused = await call('POST', `/wallets/${id}/top-ups`, { amount: 11 }, key);
    expect(refused.status).toBe(422);
    expect(refused.body['message']).toMatch(/cannot take 11 more points/);
    expect(await call('POST', `/wallets/${id}/top-ups`, { amount: 10 }, key)).toEqual({
      status: 201,
      body: {
        idempotencyKey: key['Idempotency-Key'],
        customerId: id,
        amount: 10,
        balance: Number.MAX_SAFE_INTEGER,
      },
    });
    expect((await call('GET', `/wallets/${id}`)).body).toMatchObject({
      balance: Number.MAX_SAFE_INTEGER,
      toppedUpTotal: Number.MAX_SAFE_INTEGER,
    });
  });

  it('shows the hold of an order (200), 404 when there is none, 400 for a malformed order id', async () => {
    const id = newCustomer();
    await call('POST', '/wallets', { customerId: id, balance: 500 });
    const orderId = randomUUID();
    // a hold as payment's try leaves it (tested in payment-tcc.int.spec.ts), with its recorded reply
    const held = createMessage(
      'PaymentHeld',
      { orderId, customerId: id, amount: 200, expiresAt: new Date(Date.now() + 30_000).toISOString() },
      { correlationId: orderId },
    );
    await db.query(
      `INSERT INTO holds (order_id, customer_id, amount, status, expires_at, replies)
       VALUES ($1, $2, 200, 'HELD', $3, jsonb_build_object('try', $4::jsonb))`,
      [orderId, id, held.payload.expiresAt, JSON.stringify(held)],
    );
    const hold = await call('GET', `/holds/${orderId}`);
    expect(hold.status).toBe(200);
    expect(hold.body).toMatchObject({ orderId, customerId: id, amount: 200, status: 'HELD', reason: null });
    expect(hold.body['replies']).toEqual({ try: expect.objectContaining({ type: 'PaymentHeld' }) });
    expect((await call('GET', `/holds/${randomUUID()}`)).status).toBe(404);
    expect((await call('GET', '/holds/not-a-uuid')).status).toBe(400);
  });

  it('lets only operators open and top up wallets and read holds; a customer reads only their own wallet', async () => {
    const alice = newCustomer();
    await call('POST', '/wallets', { customerId: alice, balance: 100 });
    const asAlice = await bearer(alice);
    // the anonymous million-point top-up, and the same by the customer themselves
    const topUp = (auth: Record<string, string>) =>
      call(
        'POST',
        `/wallets/${alice}/top-ups`,
        { amount: 1_000_000 },
        { 'idempotency-key': randomUUID(), ...auth },
      );
    expect((await topUp({ authorization: '' })).status).toBe(401);
    expect((await topUp(asAlice)).status).toBe(403);
    expect((await call('POST', '/wallets', { customerId: newCustomer(), balance: 5 }, asAlice)).status).toBe(
      403,
    );
    expect((await call('GET', `/holds/${randomUUID()}`, undefined, asAlice)).status).toBe(403);
    expect((await call('GET', `/wallets/${alice}`, undefined, asAlice)).body['balance']).toBe(100);
    const asBob = await call('GET', `/wallets/${alice}`, undefined, await bearer(newCustomer()));
    expect(asBob).toEqual({
      status: 404,
      body: { statusCode: 404, error: 'Not Found', message: `wallet ${alice} does not exist` },
    });
  });
});
