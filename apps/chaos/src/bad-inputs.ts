import { createMessage, DeadLetterHeaders, deadLetterTopicOf, Topics } from '@tcc/contracts';
import type { ChaosKafka, RawMessage } from './kafka';
import { bearer } from '@tcc/testing';
import { AuthAttacks } from './auth-attacks';
import { postUntilAnswered } from './http';
import type { RetryStats } from './http';
import type { HttpBadInput, KafkaBadInput } from './plan';
import type { Prng } from './prng';

/** The consumer's limit (CONSUMER_MAX_MESSAGE_BYTES, left at its default in the chaos run). */
export const MAX_MESSAGE_BYTES = 65_536;

/** Each working topic and the consumer group that reads it. */
export const CONSUMED_TOPICS: Record<string, string> = {
  [Topics.stockCommands]: 'tcc-stock',
  [Topics.paymentCommands]: 'tcc-payment',
  [Topics.orderReplies]: 'tcc-order',
};

/** A bad input and what it must have got, and (after checking) whether it did. */
export interface Treatment {
  kind: KafkaBadInput | HttpBadInput | 'no-credentials';
  /** where it was sent: a topic, or POST /orders and what was wrong with it */
  target: string;
  expected: string;
  got: string;
  ok: boolean;
}

interface SentBadMessage {
  kind: KafkaBadInput;
  topic: string;
  key: string;
  value: Buffer;
  errorClass: string;
  reason: RegExp | string;
}

/** a field of an answer's JSON body, as text */
function field(body: unknown, name: string): string {
  const v = (body as Record<string, unknown> | undefined)?.[name];
  return typeof v === 'string' ? v : v === undefined ? '' : JSON.stringify(v);
}

const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

/** A message that fails its type's schema on this topic (the type itself is known there). */
function schemaInvalid(topic: string, orderId: string): string {
  const base =
    topic === Topics.stockCommands
      ? createMessage(
          'StockTry',
          { orderId, productId: 'chaos-p1', quantity: 1, deadline: soon(60_000), holdUntil: soon(120_000) },
          { correlationId: orderId },
        )
      : topic === Topics.paymentCommands
        ? createMessage(
            'PaymentTry',
            { orderId, customerId: 'chaos-c1', amount: 1, deadline: soon(60_000), holdUntil: soon(120_000) },
            { correlationId: orderId },
          )
        : createMessage(
            'StockReserved',
            { orderId, productId: 'chaos-p1', quantity: 1, unitPrice: 1, expiresAt: soon(60_000) },
            { correlationId: orderId },
          );
  return JSON.stringify({ ...base, payload: { ...base.payload, quantity: -1, amount: -1, unitPrice: -1 } });
}

/**
 * Bad messages on the topics: each kind goes to every consumed topic with a key of its own, and
 * must come out on `<topic>.dlt` unchanged (same key, same bytes) with the documented headers.
 */
export class KafkaBadInputs {
  private readonly sent: SentBadMessage[] = [];

  constructor(
    private readonly kafka: ChaosKafka,
    private readonly prng: Prng,
  ) {}

  get count(): number {
    return this.sent.length;
  }

  async send(kind: KafkaBadInput): Promise<void> {
    for (const topic of Object.keys(CONSUMED_TOPICS)) {
      const key = `chaos-bad-${kind}-${topic}`;
      const orderId = this.prng.uuid();
      let value: string;
      let errorClass = 'PoisonMessageError';
      let reason: RegExp | string;
      switch (kind) {
        case 'malformed-json':
          value = `{"chaos": "malformed json", "orderId": "${orderId}",`;
          reason = /^message is not valid JSON: /;
          break;
        case 'invalid-envelope':
          value = JSON.stringify({ chaos: 'valid JSON, but no envelope', orderId });
          reason = /^envelope is invalid: /;
          break;
        case 'schema-invalid': {
          value = schemaInvalid(topic, orderId);
          const type = (JSON.parse(value) as { type: string }).type;
          reason = new RegExp(`^${type} fails its schema: `);
          break;
        }
        case 'unknown-type':
          value = JSON.stringify({
            ...createMessage('StockCancel', { orderId, productId: 'chaos-p1' }, { correlationId: orderId }),
            type: 'ChaosTeleport',
          });
          errorClass = 'UnknownMessageTypeError';
          reason = 'unknown message type "ChaosTeleport"';
          break;
        case 'oversized': {
          const size = this.prng.int(MAX_MESSAGE_BYTES + 1, 4 * MAX_MESSAGE_BYTES);
          const head = JSON.stringify({ chaos: 'oversized', orderId, padding: '' });
          value = `${head.slice(0, -2)}${'x'.repeat(size - head.length)}"}`;
          reason = `message is ${Buffer.byteLength(value)} bytes, more than the ${MAX_MESSAGE_BYTES} allowed`;
          break;
        }
      }
      const bytes = Buffer.from(value);
      await this.kafka.publish(topic, key, bytes);
      this.sent.push({ kind, topic, key, value: bytes, errorClass, reason });
    }
  }

  /** Whether each one is on its dead-letter topic, unchanged, with its reason and headers. */
  check(deadLetters: RawMessage[]): Treatment[] {
    return this.sent.map((s) => {
      const dlt = deadLetterTopicOf(s.topic);
      const expected = `on ${dlt}, ${s.errorClass}: ${String(s.reason)}`;
      const found = deadLetters.filter((d) => d.topic === dlt && d.key === s.key);
      const d = found[0];
      const problems: string[] = [];
      if (!d) problems.push('not dead-lettered');
      else {
        if (!d.value?.equals(s.value)) problems.push('bytes differ from the original');
        const h = d.headers;
        if (h[DeadLetterHeaders.errorClass] !== s.errorClass)
          problems.push(`error class ${h[DeadLetterHeaders.errorClass]}`);
        const reason = h[DeadLetterHeaders.errorMessage] ?? '';
        if (typeof s.reason === 'string' ? reason !== s.reason : !s.reason.test(reason))
          problems.push(`reason "${reason.slice(0, 200)}"`);
        if (h[DeadLetterHeaders.originalTopic] !== s.topic) problems.push('wrong original topic');
        if (h[DeadLetterHeaders.consumerGroup] !== CONSUMED_TOPICS[s.topic])
          problems.push(`consumer group ${h[DeadLetterHeaders.consumerGroup]}`);
        if (h[DeadLetterHeaders.attempts] !== '1') problems.push(`attempts ${h[DeadLetterHeaders.attempts]}`);
        for (const name of [
          DeadLetterHeaders.originalPartition,
          DeadLetterHeaders.originalOffset,
          DeadLetterHeaders.originalTimestamp,
          DeadLetterHeaders.errorStack,
          DeadLetterHeaders.deadLetteredAt,
        ])
          if (!h[name]) problems.push(`no ${name} header`);
      }
      const got = d
        ? `${d.topic}/${d.partition}/${d.offset}${found.length > 1 ? ` (${found.length} copies)` : ''}: ${d.headers[DeadLetterHeaders.errorClass]}: ${(d.headers[DeadLetterHeaders.errorMessage] ?? '').slice(0, 120)}`
        : 'not on the dead-letter topic';
      return {
        kind: s.kind,
        target: s.topic,
        expected,
        got: problems.length === 0 || !d ? got : `${got} [${problems.join('; ')}]`,
        ok: problems.length === 0,
      };
    });
  }

  /** The dead letters these bad inputs account for (by key), so the others can be told apart. */
  isMine(d: RawMessage): boolean {
    return this.sent.some((s) => deadLetterTopicOf(s.topic) === d.topic && s.key === d.key);
  }
}

interface HttpCase {
  what: string;
  body: string;
  key: string | null;
  status: number;
  message: RegExp | string;
}

/**
 * Bad requests to POST /orders, each checked at once against its documented answer: 400 naming
 * the problem, or 422 for an Idempotency-Key reused with another body; and attacks without the
 * right credentials (auth-attacks.ts).
 */
export class HttpBadInputs {
  readonly results: Treatment[] = [];
  /** the real order the key-reuse case placed first, for the accepted-requests list */
  readonly accepted: { customerId: string; idempotencyKey: string; orderId: string }[] = [];

  private readonly attacks: AuthAttacks;

  constructor(
    private readonly prng: Prng,
    private readonly orderUrl: () => string,
    private readonly stats: RetryStats,
    stockUrl: () => string,
  ) {
    this.attacks = new AuthAttacks({ order: orderUrl, stock: stockUrl }, stats);
  }

  /** POST /orders with `customerId`'s token */
  private async post(body: string, key: string | null, customerId: string) {
    return postUntilAnswered(
      `${this.orderUrl()}/orders`,
      body,
      { ...(key === null ? {} : { 'idempotency-key': key }), ...(await bearer(customerId)) },
      this.stats,
    );
  }

  private record(kind: HttpBadInput, what: string, expected: string, got: string, ok: boolean): void {
    this.results.push({
      kind,
      target: kind === 'auth-attacks' ? what : `POST /orders: ${what}`,
      expected,
      got,
      ok,
    });
  }

  /** `attacker`: a second customer, for 'auth-attacks' */
  async send(kind: HttpBadInput, customerId: string, productId: string, attacker: string): Promise<void> {
    if (kind === 'auth-attacks') {
      for (const r of await this.attacks.run(customerId, attacker, productId))
        this.record(kind, r.what, r.expected, r.got, r.ok);
      this.accepted.push(...this.attacks.placed.splice(0));
      return;
    }
    if (kind === 'invalid-body') {
      const valid = { customerId, lines: [{ productId, quantity: 1 }] };
      const cases: HttpCase[] = [
        {
          what: 'no Idempotency-Key',
          body: JSON.stringify(valid),
          key: null,
          status: 400,
          message: /Idempotency-Key header is required/,
        },
        {
          what: 'a body that is not JSON',
          body: '{"customerId": ',
          key: this.prng.uuid(),
          status: 400,
          message: /JSON/i,
        },
        {
          what: 'no lines',
          body: JSON.stringify({ customerId, lines: [] }),
          key: this.prng.uuid(),
          status: 400,
          message: /lines: an order needs at least one line/,
        },
        {
          what: 'a zero quantity',
          body: JSON.stringify({ customerId, lines: [{ productId, quantity: 0 }] }),
          key: this.prng.uuid(),
          status: 400,
          message: /lines\.0\.quantity/,
        },
        {
          what: 'a client-side price',
          body: JSON.stringify({ customerId, lines: [{ productId, quantity: 1, price: 1 }] }),
          key: this.prng.uuid(),
          status: 400,
          message: /price/,
        },
        {
          what: 'a bad product id',
          body: JSON.stringify({ customerId, lines: [{ productId: 'a b', quantity: 1 }] }),
          key: this.prng.uuid(),
          status: 400,
          message: /lines\.0\.productId/,
        },
      ];
      for (const c of cases) {
        const res = await this.post(c.body, c.key, customerId);
        const message = field(res.body, 'message');
        const ok =
          res.status === c.status &&
          (typeof c.message === 'string' ? message === c.message : c.message.test(message));
        this.record(
          kind,
          c.what,
          `${c.status} ${String(c.message)}`,
          `${res.status} ${message.slice(0, 200)}`,
          ok,
        );
      }
      return;
    }
    const key = this.prng.uuid();
    const body = JSON.stringify({ customerId, lines: [{ productId, quantity: 1 }] });
    const first = await this.post(body, key, customerId);
    const orderId = field(first.body, 'id');
    if (first.status !== 202 || !orderId) {
      this.record(kind, 'the first request with the key', '202', `${first.status}`, false);
      return;
    }
    this.accepted.push({ customerId, idempotencyKey: key, orderId });
    const same = await this.post(body, key, customerId);
    const sameId = (same.body as { id?: unknown } | undefined)?.id;
    this.record(
      kind,
      'the same key and body again',
      `202, Idempotent-Replayed: true, order ${orderId}`,
      `${same.status}, Idempotent-Replayed: ${same.headers.get('idempotent-replayed')}, order ${String(sameId)}`,
      same.status === 202 && same.headers.get('idempotent-replayed') === 'true' && sameId === orderId,
    );
    const other = JSON.stringify({ customerId, lines: [{ productId, quantity: 2 }] });
    const reused = await this.post(other, key, customerId);
    const expected = `Idempotency-Key "${key}" was already used with a different request (order ${orderId})`;
    const message = field(reused.body, 'message');
    this.record(
      kind,
      'the key reused with another body',
      `422 ${expected}`,
      `${reused.status} ${message}`,
      reused.status === 422 && message === expected,
    );
  }
}
