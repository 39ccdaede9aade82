import { randomBytes } from 'node:crypto';
import { signToken } from '@tcc/auth';
import { instanceUrls, metricValue } from './cpu';
import type { MetricsUrls } from './cpu';
import { KeepAliveClient } from './http-client';
import type { JsonResponse } from './http-client';

/** Who places the next order (with their `Authorization`, if tokens are used): customers and products in turn, spread over the whole catalog. */
export type PickOrder = () => { customerId: string; productId: string; auth: Record<string, string> };

/** The scope of operators' tokens, as the services are configured by default (AUTH_OPERATOR_SCOPE). */
const OPERATOR_SCOPE = process.env['AUTH_OPERATOR_SCOPE'] || 'tcc:operate';

/** One kept-alive client per service (see KeepAliveClient: node:http cost twice the CPU per request). */
const clients = new Map<string, KeepAliveClient>();

export function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<JsonResponse> {
  const { origin, pathname, search } = new URL(url);
  let client = clients.get(origin);
  if (!client) clients.set(origin, (client = new KeepAliveClient(origin)));
  return client.post(`${pathname}${search}`, body, headers);
}

export function closeClients(): void {
  for (const client of clients.values()) client.close();
}

/** Every service answers healthy: each of its URLs, where it has several (one per instance). */
export async function checkHealth(urls: Record<string, string | readonly string[]>): Promise<void> {
  for (const [name, each] of Object.entries(urls)) {
    for (const url of typeof each === 'string' ? [each] : each) {
      const health = await fetch(`${url}/health`).catch(() => undefined);
      if (health?.status !== 200)
        throw new Error(`${name} does not answer healthy at ${url}/health: start the stack (./dev up)`);
    }
  }
}

/**
 * `Authorization` for a customer, or an operator (no customer), signed as the identity provider
 * would with `signingKey`; none where the services run without tokens.
 */
async function authorization(
  signingKey: string | undefined,
  customerId?: string,
): Promise<Record<string, string>> {
  if (!signingKey) return {};
  const token = await signToken(
    signingKey,
    customerId === undefined
      ? { subject: 'bench-operator', scopes: [OPERATOR_SCOPE] }
      : { subject: customerId },
  );
  return { authorization: `Bearer ${token}` };
}

/** A catalog and wallets big enough that no order fails for want of stock or points. */
export async function createCatalog(
  urls: { stock: string; payment: string },
  productCount: number,
  customerCount: number,
  signingKey: string | undefined,
): Promise<PickOrder> {
  const run = randomBytes(3).toString('hex');
  const products = Array.from({ length: productCount }, (_, i) => `bench-${run}-p${i}`);
  const customers = Array.from({ length: customerCount }, (_, i) => `bench-${run}-c${i}`);
  process.stderr.write(`setting up ${products.length} products and ${customers.length} wallets ...\n`);
  const operator = await authorization(signingKey);
  const auths = await Promise.all(customers.map((c) => authorization(signingKey, c)));
  for (const id of products) {
    const r = await post(
      `${urls.stock}/products`,
      { id, name: id, price: 100, quantity: 1_000_000_000 },
      operator,
    );
    if (r.status !== 201)
      throw new Error(`cannot create product ${id}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  for (let i = 0; i < customers.length; i += 50) {
    await Promise.all(
      customers.slice(i, i + 50).map(async (customerId) => {
        const r = await post(`${urls.payment}/wallets`, { customerId, balance: 1_000_000_000_000 }, operator);
        if (r.status !== 201)
          throw new Error(`cannot open wallet ${customerId}: ${r.status} ${JSON.stringify(r.body)}`);
      }),
    );
  }
  let n = 0;
  return () => {
    n++;
    return {
      customerId: customers[n % customers.length] ?? '',
      productId: products[(n * 7) % products.length] ?? '',
      auth: auths[n % customers.length] ?? {},
    };
  };
}

/**
 * Each instance's resident memory in MiB (from its /metrics URL), by instance name (see
 * instanceNames), kept in every record if it is the highest seen there.
 */
export async function sampleRss(metrics: MetricsUrls, ...into: Record<string, number>[]): Promise<void> {
  for (const [name, url] of instanceUrls(metrics)) {
    try {
      const text = await (await fetch(url)).text();
      const mb = Math.round((metricValue(text, 'process_resident_memory_bytes') ?? 0) / 1_048_576);
      for (const record of into) record[name] = Math.max(record[name] ?? 0, mb);
    } catch {
      // a scrape that fails is simply not counted
    }
  }
}
