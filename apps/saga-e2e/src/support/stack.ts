import { randomBytes, randomUUID } from 'node:crypto';
import { Client } from 'pg';
import {
  bearer,
  createTestDatabase,
  freePort,
  runScript,
  ServiceProcess,
  testAuthEnv,
  testBrokers,
  waitFor,
} from '@tcc/testing';
import type { ServiceName, TestDatabase } from '@tcc/testing';

export const SERVICES: ServiceName[] = ['order', 'stock', 'payment'];

/** Fast settings for tests: short backoffs and frequent sweeps; the try deadline stays generous. */
const TEST_DEFAULTS: Record<string, string> = {
  HOST: '127.0.0.1',
  LOG_LEVEL: 'info',
  KAFKA_TOPIC_PARTITIONS: '6',
  CONSUMER_CONCURRENCY: '3',
  CONSUMER_RETRY_MAX_ATTEMPTS: '6',
  CONSUMER_RETRY_INITIAL_MS: '50',
  CONSUMER_RETRY_MAX_MS: '500',
  OUTBOX_POLL_INTERVAL_MS: '200',
  ORDER_TRY_TIMEOUT_MS: '20000',
  ORDER_RETRY_INITIAL_MS: '1000',
  ORDER_RETRY_MAX_MS: '4000',
  ORDER_SCHEDULER_INTERVAL_MS: '100',
  SWEEP_INTERVAL_MS: '200',
  SHUTDOWN_TIMEOUT_MS: '20000',
  // a killed service's partitions move on quickly
  CONSUMER_SESSION_TIMEOUT_MS: '6000',
};

export interface StackOptions {
  /** extra variables for every service */
  common?: Record<string, string>;
  /** extra variables for one service */
  env?: Partial<Record<ServiceName, Record<string, string>>>;
  /** another broker than the tests' (a secured one, say) */
  brokers?: string;
  /** the topic and group prefix, when the broker must know it beforehand (its ACLs name it) */
  prefix?: string;
}

export interface OrderView {
  id: string;
  customerId: string;
  status: string;
  reason: string | null;
  reasonDetail: string | null;
  total: number | null;
  lines: { productId: string; quantity: number; unitPrice: number | null; state: string }[];
  payment: { state: string };
  timeline: { participant: string; state: string; detail: string | null; at: string }[];
}

export interface ProductView {
  id: string;
  price: number;
  available: number;
  reserved: number;
  sold: number;
  stockedTotal: number;
}

export interface WalletView {
  customerId: string;
  balance: number;
  held: number;
  captured: number;
  toppedUpTotal: number;
}

export interface HttpResult<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * The three services as real processes, each with its own new database, all on topics of their
 * own (KAFKA_TOPIC_PREFIX), so a test file sees only its own messages. Each service migrates and
 * runs as a login role of its own that owns its database and may connect to no other, as under
 * ./dev up (the role is named as the database; its password is new for every stack).
 */
export class Stack {
  readonly processes = new Map<ServiceName, ServiceProcess>();
  private readonly env = new Map<ServiceName, Record<string, string>>();

  private constructor(
    readonly prefix: string,
    readonly databases: Map<ServiceName, TestDatabase>,
  ) {}

  static async start(label: string, options: StackOptions = {}): Promise<Stack> {
    const prefix = options.prefix ?? `e2e-${label}-${randomBytes(3).toString('hex')}.`;
    const databases = new Map<ServiceName, TestDatabase>();
    for (const name of SERVICES) {
      const database = await createTestDatabase(`${label}_${name}`, { ownRole: true });
      databases.set(name, database);
      const migrated = await runScript(name, 'migrate', { DATABASE_URL: database.url });
      if (migrated.code !== 0) throw new Error(`${name} migrate failed: ${migrated.stderr}`);
    }
    const stack = new Stack(prefix, databases);
    for (const name of SERVICES) {
      stack.env.set(name, {
        ...TEST_DEFAULTS,
        ...testAuthEnv,
        ...options.common,
        ...options.env?.[name],
        PORT: String(await freePort()),
        METRICS_PORT: String(await freePort()),
        DATABASE_URL: databases.get(name)?.url ?? '',
        KAFKA_BROKERS: options.brokers ?? testBrokers().join(','),
        KAFKA_TOPIC_PREFIX: prefix,
        KAFKA_GROUP_ID: stack.groupOf(name),
      });
    }
    try {
      await Promise.all(SERVICES.map((name) => stack.startService(name)));
    } catch (error) {
      // a service that did not come up must not leave the others (and its databases) behind
      await stack.stop();
      throw error;
    }
    return stack;
  }

  /** a service's consumer group: this stack's own, like its topics */
  groupOf(service: string): string {
    return `${this.prefix}${service}`;
  }

  topic(logical: string): string {
    return `${this.prefix}${logical}`;
  }

  /** The environment a service runs with, to start another process like it. */
  settings(name: ServiceName): Record<string, string> {
    return { ...this.env.get(name) };
  }

  url(name: ServiceName): string {
    return `http://127.0.0.1:${this.env.get(name)?.['PORT']}`;
  }

  /** where Prometheus scrapes the service (its METRICS_PORT) */
  metricsUrl(name: ServiceName): string {
    return `http://127.0.0.1:${this.env.get(name)?.['METRICS_PORT']}/metrics`;
  }

  /** Starts (or restarts) one service with its settings and waits until it is healthy. */
  async startService(name: ServiceName): Promise<ServiceProcess> {
    const proc = ServiceProcess.start(name, this.env.get(name) ?? {});
    this.processes.set(name, proc);
    await proc.waitHealthy();
    return proc;
  }

  async stopService(name: ServiceName, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.processes.get(name);
    if (proc?.running) await proc.stop(signal);
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.processes.values()]
        .filter((p) => p.running)
        .map((p) => p.stop('SIGTERM').catch(() => p.stop('SIGKILL'))),
    );
    for (const database of this.databases.values()) await database.drop();
  }

  /** The last lines each service logged, for a failing test's message. */
  logTail(lines = 30): string {
    return [...this.processes.entries()]
      .map(([name, p]) => `--- ${name}\n${p.stdout.split('\n').slice(-lines).join('\n')}\n${p.stderr}`)
      .join('\n');
  }

  async query<T>(name: ServiceName, sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new Client({ connectionString: this.databases.get(name)?.url });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows as T[];
    } finally {
      await client.end();
    }
  }

  // ------------------------------------------------------------------ HTTP

  /**
   * One request, with the token of whom it acts for unless `headers` has an `authorization` of its
   * own (an empty one sends none): POST /orders goes with the token of the body's customer,
   * everything else with an operator's.
   */
  async http<T = unknown>(
    name: ServiceName,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<HttpResult<T>> {
    const { authorization, ...rest } = headers;
    const auth =
      authorization === undefined
        ? await bearer(name === 'order' && method === 'POST' ? customerOf(body) : undefined)
        : authorization === ''
          ? {}
          : { authorization };
    const res = await fetch(`${this.url(name)}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...auth, ...rest },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T, headers: res.headers };
  }

  async createProduct(
    quantity: number,
    price: number,
    id = `p-${randomUUID().slice(0, 8)}`,
  ): Promise<string> {
    const res = await this.http('stock', 'POST', '/products', { id, name: `Product ${id}`, price, quantity });
    if (res.status !== 201) throw new Error(`create product: ${res.status} ${JSON.stringify(res.body)}`);
    return id;
  }

  async product(id: string): Promise<ProductView> {
    return (await this.http<ProductView>('stock', 'GET', `/products/${id}`)).body;
  }

  async openWallet(balance: number, customerId = `c-${randomUUID().slice(0, 8)}`): Promise<string> {
    const res = await this.http('payment', 'POST', '/wallets', { customerId, balance });
    if (res.status !== 201) throw new Error(`open wallet: ${res.status} ${JSON.stringify(res.body)}`);
    return customerId;
  }

  async wallet(customerId: string): Promise<WalletView> {
    return (await this.http<WalletView>('payment', 'GET', `/wallets/${customerId}`)).body;
  }

  /** POST /orders; `key: null` sends no Idempotency-Key at all. */
  placeOrder(body: unknown, key: string | null = randomUUID()): Promise<HttpResult<OrderView>> {
    return this.http<OrderView>(
      'order',
      'POST',
      '/orders',
      body,
      key === null ? {} : { 'idempotency-key': key },
    );
  }

  async order(id: string): Promise<OrderView> {
    return (await this.http<OrderView>('order', 'GET', `/orders/${id}`)).body;
  }

  /** Waits until the order is CONFIRMED or CANCELLED, and returns it. */
  async finalOrder(id: string, timeoutMs = 60_000): Promise<OrderView> {
    return waitFor(
      async () => {
        const order = await this.order(id);
        return order.status === 'CONFIRMED' || order.status === 'CANCELLED' ? order : undefined;
      },
      { timeoutMs, intervalMs: 100, description: `order ${id} to reach a final state` },
    );
  }
}

/** The customerId of an order's body (an object, or JSON text), if it names one. */
function customerOf(body: unknown): string | undefined {
  let value = body;
  if (typeof body === 'string') {
    try {
      value = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const customerId = (value as { customerId?: unknown } | null)?.customerId;
  return typeof customerId === 'string' ? customerId : undefined;
}
