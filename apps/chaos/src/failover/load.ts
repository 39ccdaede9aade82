import { setTimeout as sleep } from 'node:timers/promises';
import { customerToken } from '@tcc/testing';
import type { Prng } from '../prng';

export interface FailoverCatalog {
  products: { id: string; price: number; quantity: number }[];
  customers: { id: string; balance: number }[];
}

/** Plenty of everything: every order of the run should be confirmed, unless a deadline cancels it. */
export function failoverCatalog(prng: Prng): FailoverCatalog {
  return {
    products: Array.from({ length: 50 }, (_, i) => ({
      id: `failover-p${i + 1}`,
      price: prng.int(100, 1_000),
      quantity: 1_000_000_000,
    })),
    customers: Array.from({ length: 200 }, (_, i) => ({
      id: `failover-c${i + 1}`,
      balance: 1_000_000_000_000,
    })),
  };
}

/** How soon a request without an answer goes again (to the next instance). */
const RETRY_MS = 200;

/** One order of the load: its first send, where it went, and what came of it. */
export interface SentOrder {
  seq: number;
  customerId: string;
  idempotencyKey: string;
  /** when the first attempt was sent (ms since the epoch) */
  sentAt: number;
  /** the order instance (index into the URLs) the first attempt went to */
  instance: number;
  /** attempts in all: a request without an answer, or answered 5xx, goes again to the next instance */
  attempts: number;
  orderId?: string;
  /** the final HTTP status; undefined while unanswered */
  status?: number;
}

export interface LoadStats {
  sent: number;
  accepted: number;
  /** attempts without an answer (connection refused or reset, timeout) */
  noAnswer: number;
  /** attempts answered 5xx (503 while admission refuses, 500s) */
  serverErrors: number;
  /** answers other than 202: always a finding */
  unexpected: string[];
}

/**
 * Open-loop load: order n is sent at start + n / rate, whether or not earlier ones were answered,
 * round robin over the order instances, as a load balancer would. A request that gets no answer
 * (its instance was killed) or a 5xx goes again, with the same Idempotency-Key, to the next
 * instance, so an order accepted by an instance that died is found, not placed twice.
 */
export class OpenLoad {
  readonly orders: SentOrder[] = [];
  readonly stats: LoadStats = { sent: 0, accepted: 0, noAnswer: 0, serverErrors: 0, unexpected: [] };
  private readonly inFlight = new Set<Promise<void>>();
  private readonly tokens = new Map<string, Promise<string>>();
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly prng: Prng,
    private readonly rate: number,
    private readonly orderUrls: readonly string[],
    private readonly catalog: FailoverCatalog,
  ) {}

  start(): void {
    this.loop = this.send();
  }

  /** Stops sending and waits for every order sent to be answered. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await Promise.all([...this.inFlight]);
  }

  private async send(): Promise<void> {
    const t0 = Date.now();
    for (let seq = 0; !this.stopped; seq++) {
      const due = t0 + (seq * 1_000) / this.rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      if (this.stopped) return;
      const order = this.next(seq);
      this.orders.push(order);
      this.stats.sent++;
      const placing = this.place(order).finally(() => this.inFlight.delete(placing));
      this.inFlight.add(placing);
    }
  }

  private next(seq: number): SentOrder {
    const customer = this.prng.pick(this.catalog.customers);
    return {
      seq,
      customerId: customer.id,
      idempotencyKey: this.prng.uuid(),
      sentAt: Date.now(),
      instance: seq % this.orderUrls.length,
      attempts: 0,
    };
  }

  private async place(order: SentOrder): Promise<void> {
    const lines = Array.from({ length: this.prng.int(1, 2) }, () => ({
      productId: this.prng.pick(this.catalog.products).id,
      quantity: this.prng.int(1, 3),
    }));
    const byProduct = new Map(lines.map((l) => [l.productId, l]));
    const body = JSON.stringify({ customerId: order.customerId, lines: [...byProduct.values()] });
    const token = await this.token(order.customerId);
    let retryAfterMs = RETRY_MS;
    for (let instance = order.instance; ; instance = (instance + 1) % this.orderUrls.length) {
      order.attempts++;
      try {
        const res = await fetch(`${this.orderUrls[instance]}/orders`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'idempotency-key': order.idempotencyKey,
            authorization: `Bearer ${token}`,
          },
          body,
          signal: AbortSignal.timeout(10_000),
        });
        const answer = (await res.json().catch(() => undefined)) as { id?: unknown } | undefined;
        if (res.status < 500) {
          order.status = res.status;
          if (res.status === 202 && typeof answer?.id === 'string') {
            order.orderId = answer.id;
            this.stats.accepted++;
          } else {
            this.stats.unexpected.push(
              `order ${order.seq}: ${res.status} ${JSON.stringify(answer).slice(0, 200)}`,
            );
          }
          return;
        }
        this.stats.serverErrors++;
        // 503 from admission control says when to come back (Retry-After, seconds)
        retryAfterMs = Number(res.headers.get('retry-after') ?? 0) * 1_000 || RETRY_MS;
      } catch {
        this.stats.noAnswer++;
        retryAfterMs = RETRY_MS;
      }
      if (order.attempts >= 200) {
        this.stats.unexpected.push(`order ${order.seq}: no answer after ${order.attempts} attempts`);
        return;
      }
      await sleep(retryAfterMs);
    }
  }

  private token(customerId: string): Promise<string> {
    let token = this.tokens.get(customerId);
    if (!token) {
      token = customerToken(customerId);
      this.tokens.set(customerId, token);
    }
    return token;
  }
}
