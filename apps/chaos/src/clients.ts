import { setTimeout as sleep } from 'node:timers/promises';
import { bearer } from '@tcc/testing';
import { postUntilAnswered } from './http';
import type { RetryStats } from './http';
import type { Prng } from './prng';

export interface Product {
  id: string;
  price: number;
  quantity: number;
}
export interface Customer {
  id: string;
  balance: number;
}
export interface Catalog {
  products: Product[];
  /** few in stock: orders for them run out (OUT_OF_STOCK) */
  scarce: Product[];
  customers: Customer[];
  /** few points: their orders soon fail (INSUFFICIENT_FUNDS) */
  poor: Customer[];
}

/** Products and wallets: most plentiful, a few scarce or poor, so both outcomes appear. */
export function makeCatalog(prng: Prng): Catalog {
  const products = Array.from({ length: 8 }, (_, i) => ({
    id: `chaos-p${i + 1}`,
    price: prng.int(100, 2_000),
    quantity: 1_000_000,
  }));
  const scarce = Array.from({ length: 2 }, (_, i) => ({
    id: `chaos-scarce${i + 1}`,
    price: prng.int(100, 2_000),
    quantity: prng.int(4, 12),
  }));
  const customers = Array.from({ length: 20 }, (_, i) => ({ id: `chaos-c${i + 1}`, balance: 1_000_000_000 }));
  const poor = Array.from({ length: 4 }, (_, i) => ({
    id: `chaos-poor${i + 1}`,
    balance: prng.int(1_000, 6_000),
  }));
  return { products, scarce, customers, poor };
}

export interface OrderBody {
  customerId: string;
  lines: { productId: string; quantity: number }[];
}

/** One order as a client would place it: 1-3 lines; now and then a scarce product, a poor customer or an unknown product. */
export function makeOrder(prng: Prng, c: Catalog): OrderBody {
  const customer = prng.chance(0.15) ? prng.pick(c.poor) : prng.pick(c.customers);
  const lines = new Map<string, number>();
  const count = prng.int(1, 3);
  for (let i = 0; i < count; i++) {
    const r = prng.next();
    const productId =
      r < 0.08 ? prng.pick(c.scarce).id : r < 0.1 ? 'chaos-no-such-product' : prng.pick(c.products).id;
    lines.set(productId, prng.int(1, 3));
  }
  return {
    customerId: customer.id,
    lines: [...lines].map(([productId, quantity]) => ({ productId, quantity })),
  };
}

export interface Accepted {
  customerId: string;
  idempotencyKey: string;
  orderId: string;
  /** client number and its n-th order */
  client: number;
  n: number;
  /** its commands are published a second time, `duplicateDelayMs` after they appear */
  duplicate: boolean;
  duplicateDelayMs: number;
}

export interface ClientStats extends RetryStats {
  requests: number;
  /** answers with Idempotent-Replayed: true (an earlier attempt had been accepted, its answer lost) */
  replayed: number;
  /** answers other than 202 to a valid order: always a finding */
  unexpected: string[];
}

/**
 * Concurrent clients placing orders on POST /orders until `until`, each with its own generator
 * (so each client's orders are the same for a seed, however the clients interleave), each
 * sending a request again with the same key until it is answered.
 */
export class OrderClients {
  readonly accepted: Accepted[] = [];
  readonly stats: ClientStats = { requests: 0, noAnswer: 0, serverErrors: 0, replayed: 0, unexpected: [] };

  constructor(
    private readonly prng: Prng,
    private readonly clients: number,
    private readonly orderUrl: () => string,
    private readonly catalog: Catalog,
    private readonly duplicateShare: number,
    private readonly thinkMs: [number, number],
    private readonly onAccepted: (a: Accepted) => void,
  ) {}

  run(until: number): Promise<void> {
    return Promise.all(Array.from({ length: this.clients }, (_, i) => this.client(i + 1, until))).then(
      () => undefined,
    );
  }

  private async client(index: number, until: number): Promise<void> {
    const prng = this.prng.fork(`client-${index}`);
    for (let n = 1; Date.now() < until; n++) {
      const body = makeOrder(prng, this.catalog);
      const key = prng.uuid();
      const duplicate = prng.chance(this.duplicateShare);
      const duplicateDelayMs = prng.int(0, 5_000);
      const think = prng.int(...this.thinkMs);
      this.stats.requests++;
      const answer = await postUntilAnswered(
        `${this.orderUrl()}/orders`,
        JSON.stringify(body),
        { 'idempotency-key': key, ...(await bearer(body.customerId)) },
        this.stats,
      );
      const id = (answer.body as { id?: unknown } | undefined)?.id;
      if (answer.status === 202 && typeof id === 'string') {
        if (answer.headers.get('idempotent-replayed') === 'true') this.stats.replayed++;
        const accepted = {
          customerId: body.customerId,
          idempotencyKey: key,
          orderId: id,
          client: index,
          n,
          duplicate,
          duplicateDelayMs,
        };
        this.accepted.push(accepted);
        this.onAccepted(accepted);
      } else {
        this.stats.unexpected.push(
          `client ${index} order ${n}: ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`,
        );
      }
      await sleep(think);
    }
  }
}
