import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { newSigningKey, signToken } from '@tcc/auth';
import { bearer, testSigningKey } from '@tcc/testing';
import { postUntilAnswered } from './http';
import type { RetryStats } from './http';

/** One attack, what it must have got, and what it got. */
export interface AttackResult {
  what: string;
  expected: string;
  got: string;
  ok: boolean;
}

interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function message(body: unknown): string {
  const m = (body as { message?: unknown } | undefined)?.message;
  return typeof m === 'string' ? m : '';
}

/**
 * What someone without the right credentials tries against the services while the saga runs:
 * no token, an expired one, one signed by another key, `alg: none`, reading another customer's
 * order, replaying another customer's idempotency key, a customer on an operator's route. Each is
 * checked at once against its documented answer (README, API and Security).
 */
export class AuthAttacks {
  constructor(
    private readonly urls: { order: () => string; stock: () => string },
    private readonly stats: RetryStats,
  ) {}

  async run(victim: string, attacker: string, productId: string): Promise<AttackResult[]> {
    const results: AttackResult[] = [];
    const order = JSON.stringify({ lines: [{ productId, quantity: 1 }] });
    const post = async (url: string, body: string, headers: Record<string, string>) =>
      postUntilAnswered(url, body, { 'idempotency-key': randomUUID(), ...headers }, this.stats);
    const unauthorized = (what: string, a: Answer) =>
      results.push({
        what,
        expected: '401 with WWW-Authenticate: Bearer error="invalid_token"',
        got: `${a.status} ${a.headers.get('www-authenticate') ?? ''}`,
        ok:
          a.status === 401 && /^Bearer .*error="invalid_token"/.test(a.headers.get('www-authenticate') ?? ''),
      });

    unauthorized('POST /orders without a token', await post(`${this.urls.order()}/orders`, order, {}));
    const expired = await signToken(testSigningKey, { subject: victim, expiresInS: -3_600 });
    unauthorized(
      'POST /orders with an expired token',
      await post(`${this.urls.order()}/orders`, order, { authorization: `Bearer ${expired}` }),
    );
    const forged = await signToken(newSigningKey(), { subject: victim });
    unauthorized(
      'POST /orders with a token signed by another key',
      await post(`${this.urls.order()}/orders`, order, { authorization: `Bearer ${forged}` }),
    );
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: victim, exp: Math.floor(Date.now() / 1000) + 600 })}.`;
    unauthorized(
      'POST /orders with alg none',
      await post(`${this.urls.order()}/orders`, order, { authorization: `Bearer ${none}` }),
    );

    // the victim's order, placed under a key the attacker then sends too
    const key = randomUUID();
    const placed = await postUntilAnswered(
      `${this.urls.order()}/orders`,
      order,
      { 'idempotency-key': key, ...(await bearer(victim)) },
      this.stats,
    );
    const victimOrder = (placed.body as { id?: string } | undefined)?.id ?? '';
    const read = await this.get(`${this.urls.order()}/orders/${victimOrder}`, await bearer(attacker));
    results.push({
      what: 'GET another customer’s order',
      expected: `404 order ${victimOrder} does not exist`,
      got: `${read.status} ${message(read.body)}`,
      ok:
        placed.status === 202 &&
        read.status === 404 &&
        message(read.body) === `order ${victimOrder} does not exist`,
    });
    const replay = await postUntilAnswered(
      `${this.urls.order()}/orders`,
      order,
      { 'idempotency-key': key, ...(await bearer(attacker)) },
      this.stats,
    );
    const replayed = (replay.body as { id?: string; customerId?: string } | undefined) ?? {};
    results.push({
      what: 'POST /orders under another customer’s Idempotency-Key',
      expected: `202 a new order of the attacker's own, not ${victimOrder}`,
      got: `${replay.status} order ${replayed.id} of ${replayed.customerId}, replayed: ${replay.headers.get('idempotent-replayed')}`,
      ok:
        replay.status === 202 &&
        replayed.id !== victimOrder &&
        replayed.customerId === attacker &&
        replay.headers.get('idempotent-replayed') === null,
    });
    this.placed.push(
      { customerId: victim, idempotencyKey: key, orderId: victimOrder },
      ...(replayed.id ? [{ customerId: attacker, idempotencyKey: key, orderId: replayed.id }] : []),
    );

    const product = await post(
      `${this.urls.stock()}/products`,
      JSON.stringify({ id: `attack-${randomUUID().slice(0, 8)}`, name: 'x', price: 1, quantity: 1_000_000 }),
      await bearer(attacker),
    );
    results.push({
      what: 'a customer creating a product (an operator’s route)',
      expected: '403 naming the scope tcc:operate',
      got: `${product.status} ${message(product.body)}`,
      ok: product.status === 403 && message(product.body).includes('"tcc:operate"'),
    });
    return results;
  }

  /** the orders the attacks placed (real orders the invariants must account for) */
  readonly placed: { customerId: string; idempotencyKey: string; orderId: string }[] = [];

  /**
   * GETs until the server gives a real answer (anything but 5xx), as postUntilAnswered does: while
   * PostgreSQL restarts, a read answers 500 and is simply asked again.
   */
  private async get(url: string, headers: Record<string, string>, giveUpMs = 180_000): Promise<Answer> {
    const deadline = Date.now() + giveUpMs;
    for (;;) {
      try {
        const res = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
        const text = await res.text();
        if (res.status < 500) {
          return {
            status: res.status,
            body: text ? (JSON.parse(text) as unknown) : undefined,
            headers: res.headers,
          };
        }
        this.stats.serverErrors++;
      } catch {
        this.stats.noAnswer++;
      }
      if (Date.now() > deadline) throw new Error(`no answer from ${url} for ${giveUpMs / 1_000} s`);
      await sleep(250);
    }
  }
}
