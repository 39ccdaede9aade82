import { randomUUID } from 'node:crypto';
import { newSigningKey, signToken } from '@tcc/auth';
import { bearer, customerToken, testSigningKey } from '@tcc/testing';
import { ordersHttp, TEST_ORDER_SETTINGS } from './orders-http.testing';
import type { OrdersHttp } from './orders-http.testing';

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: { id?: string; customerId?: string; message?: string; statusCode?: number; error?: string };
}

const RATE_LIMIT = 5;

/** Who may place and read which order: tokens, customers, operators, idempotency keys, the rate limit. */
describe('orders HTTP API: who may do what (real PostgreSQL)', () => {
  let http: OrdersHttp;

  beforeAll(async () => {
    http = await ordersHttp(
      'order_auth',
      { ...TEST_ORDER_SETTINGS, maxInProgress: 1_000 },
      {
        max: RATE_LIMIT,
        windowMs: 60_000,
      },
    );
  });

  afterAll(async () => {
    await http.close();
  });

  async function call(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: unknown,
  ): Promise<Answer> {
    const res = await fetch(`${http.base}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return {
      status: res.status,
      headers: res.headers,
      text,
      body: text ? (JSON.parse(text) as Answer['body']) : {},
    };
  }

  const newCustomer = () => `c-${randomUUID().slice(0, 8)}`;
  const lines = [{ productId: 'p-1', quantity: 1 }];
  const place = (auth: Record<string, string>, body: unknown = { lines }, key = randomUUID()) =>
    call('POST', '/orders', { 'idempotency-key': key, ...auth }, body);

  describe('a token that cannot be taken: 401 with WWW-Authenticate naming why, and no token or key in the answer', () => {
    const claims = { subject: 'alice' };
    const cases: [string, () => Promise<Record<string, string>>, string][] = [
      ['no Authorization header', async () => ({}), 'no bearer token: send Authorization: Bearer <token>'],
      [
        'another scheme',
        async () => ({ authorization: 'Basic YWxpY2U6c2VjcmV0' }),
        'the Authorization header is not of the form Bearer <token>',
      ],
      [
        'a malformed token',
        async () => ({ authorization: 'Bearer abc.def.ghi' }),
        'the token is not a well-formed signed JWT',
      ],
      [
        'an expired token',
        async () => ({
          authorization: `Bearer ${await signToken(testSigningKey, { ...claims, expiresInS: -120 })}`,
        }),
        'the token has expired',
      ],
      [
        'a token signed by another key',
        async () => ({ authorization: `Bearer ${await signToken(newSigningKey(), claims)}` }),
        'the token’s signature does not verify',
      ],
      [
        'alg none',
        async () => {
          const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
          const exp = Math.floor(Date.now() / 1000) + 600;
          return { authorization: `Bearer ${b64({ alg: 'none' })}.${b64({ sub: 'alice', exp })}.` };
        },
        'the token’s algorithm is not accepted: use RS256, ES256, EdDSA',
      ],
      [
        'another audience',
        async () => ({
          authorization: `Bearer ${await signToken(testSigningKey, { ...claims, audience: 'elsewhere' })}`,
        }),
        'the token is not meant for this service (aud)',
      ],
    ];

    it.each(cases)(
      'given %s, then POST /orders answers 401 and places nothing',
      async (_what, auth, description) => {
        const headers = await auth();
        const answer = await place(headers);
        expect(answer.status).toBe(401);
        expect(answer.body).toEqual({ statusCode: 401, error: 'Unauthorized', message: description });
        expect(answer.headers.get('www-authenticate')).toBe(
          `Bearer realm="tcc-saga", error="invalid_token", error_description="${description.replace('’', "'")}"`,
        );
        const token = headers['authorization']?.split(' ')[1];
        if (token) expect(answer.text).not.toContain(token);
        expect(answer.text).not.toContain('BEGIN');
      },
    );

    it('given no token, then GET /orders/:id answers 401 too', async () => {
      expect((await call('GET', `/orders/${randomUUID()}`, {})).status).toBe(401);
    });
  });

  it('given a customer token, then the order is the token subject’s, with or without customerId in the body', async () => {
    const alice = newCustomer();
    const implicit = await place(await bearer(alice));
    expect(implicit.status).toBe(202);
    expect(implicit.body.customerId).toBe(alice);
    const explicit = await place(await bearer(alice), { customerId: alice, lines });
    expect(explicit.status).toBe(202);
    expect(explicit.body.customerId).toBe(alice);
  });

  it('given customerId naming someone else, then 403 and nothing is placed', async () => {
    const alice = newCustomer();
    const key = randomUUID();
    const answer = await place(await bearer(alice), { customerId: 'bob', lines }, key);
    expect(answer.status).toBe(403);
    expect(answer.body.message).toBe(
      `customerId "bob" is not the token’s subject: a customer places orders only for themselves`,
    );
    const [row] = await http.db.query<{ n: string }[]>(
      'SELECT count(*) AS n FROM orders WHERE idempotency_key = $1',
      [key],
    );
    expect(Number(row?.n)).toBe(0);
  });

  it('given another customer’s order, then GET answers 404 as for one that does not exist; its owner and operators see it', async () => {
    const alice = newCustomer();
    const placed = await place(await bearer(alice));
    const id = placed.body.id ?? '';
    const asBob = await call('GET', `/orders/${id}`, await bearer(newCustomer()));
    const missing = randomUUID();
    const nowhere = await call('GET', `/orders/${missing}`, await bearer(newCustomer()));
    expect(asBob.status).toBe(404);
    expect(asBob.body.message).toBe(`order ${id} does not exist`);
    expect(nowhere.body.message).toBe(`order ${missing} does not exist`);
    expect((await call('GET', `/orders/${id}`, await bearer(alice))).body.id).toBe(id);
    expect((await call('GET', `/orders/${id}`, await bearer())).body.id).toBe(id);
  });

  it('given two customers using one Idempotency-Key, then each gets an order of their own and neither replays the other’s', async () => {
    const [alice, bob] = [newCustomer(), newCustomer()];
    const key = randomUUID();
    const first = await place(await bearer(alice), { lines }, key);
    const second = await place(await bearer(bob), { lines }, key);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(second.headers.get('idempotent-replayed')).toBeNull();
    expect(second.body.id).not.toBe(first.body.id);
    expect(second.body.customerId).toBe(bob);
    const again = await place(await bearer(alice), { lines }, key);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.id).toBe(first.body.id);
  });

  it('given an operator token (not a customer id as subject), then placing an order is refused with 403', async () => {
    const operator = await signToken(testSigningKey, { subject: 'ops team', scopes: ['tcc:operate'] });
    const answer = await place({ authorization: `Bearer ${operator}` });
    expect(answer.status).toBe(403);
    expect(answer.body.message).toMatch(/subject is not a customer id/);
  });

  it('given more orders a minute than the limit from one customer, then 429 with Retry-After; another customer is not held back', async () => {
    const alice = newCustomer();
    const auth = { authorization: `Bearer ${await customerToken(alice)}` };
    // every request counts, taken or not: these lack an Idempotency-Key and are answered 400
    for (let i = 0; i < RATE_LIMIT; i++) {
      expect((await call('POST', '/orders', auth, { lines })).status).toBe(400);
    }
    const limited = await place(auth);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body.message).toMatch(
      /^at most 5 orders per 60 s per customer: send it again after \d+ s$/,
    );
    expect((await place(await bearer(newCustomer()))).status).toBe(202);
  });
});
