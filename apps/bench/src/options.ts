import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { ParseArgsOptionsConfig } from 'node:util';
import { ConfigError } from '@tcc/config';
import { kafkaSecurityFromEnv } from '@tcc/kafka';
import type { KafkaSecurityOptions } from '@tcc/kafka';
import { instanceNames } from './cpu';

export const USAGE = `Usage: ./dev bench [options]      (against a running stack: ./dev up)

Open-loop load on POST /orders at each rate in turn; measures orders reaching a final state per
second and the latency from POST to final state, the CPU each order cost (per service, the load
generator, and the rest of the machine), the Kafka and PostgreSQL floors, and the services'
memory; runs the invariant checker afterwards. Writes result.json, report.md and
latency.svg into --out.

  --rates LIST        orders per second, one step each (default 50,100,200,300)
  --duration SEC      seconds per step (default 60)
  --warmup SEC        load at the first rate before measuring, not reported (default 15; 0: none):
                      a just-started stack runs cold (JIT, connections, prepared plans)
  --p99-limit MS      report the highest rate whose p99 stays under this (default 500)
  --products N        products the orders spread over (default 200)
  --customers N       customers (wallets) the orders spread over (default 2000)
  --order-url URL     the order service (default http://127.0.0.1:3000); once per instance
                      where several run: each step sends its orders to them in turn, each
                      taking the rate divided by their number, and the report adds the orders
                      and latency of each
  --stock-url, --payment-url   where the catalog and wallets are set up, one each (default
                      http://127.0.0.1:3001, :3002)
  --order-metrics-url, --stock-metrics-url, --payment-metrics-url
                      each service's /metrics on its METRICS_PORT (default
                      http://127.0.0.1:9464/metrics, :9465, :9466: ./dev up's); once per
                      instance where several run: a service's CPU per order is the sum of its
                      instances', and the report adds each instance's CPU and memory
  --signing-key FILE  the private key (PEM) the services' tokens are signed with, to sign an
                      operator's token and each customer's (default AUTH_SIGNING_KEY_FILE, which
                      ./dev bench sets to ./dev up's development key); none: no tokens are sent,
                      for services started with AUTH_DISABLED=true
  --order-db URL      to see when orders finish (default tcc_order on POSTGRES_URL, which
                      ./dev bench sets to the PostgreSQL ./dev up started)
  --brokers LIST      for the Kafka floor (default KAFKA_BROKERS, else 127.0.0.1:9092); a secured
                      broker's credentials: KAFKA_SSL*, KAFKA_SASL_* as the services read them
  --out DIR           (default bench-results/<time>)
  --no-check          skip the invariant checker`;

const options = {
  rates: { type: 'string', default: '50,100,200,300' },
  duration: { type: 'string', default: '60' },
  warmup: { type: 'string', default: '15' },
  'p99-limit': { type: 'string', default: '500' },
  products: { type: 'string', default: '200' },
  customers: { type: 'string', default: '2000' },
  'order-url': { type: 'string', multiple: true, default: ['http://127.0.0.1:3000'] },
  'stock-url': { type: 'string', default: 'http://127.0.0.1:3001' },
  'payment-url': { type: 'string', default: 'http://127.0.0.1:3002' },
  'order-metrics-url': { type: 'string', multiple: true, default: ['http://127.0.0.1:9464/metrics'] },
  'stock-metrics-url': { type: 'string', multiple: true, default: ['http://127.0.0.1:9465/metrics'] },
  'payment-metrics-url': { type: 'string', multiple: true, default: ['http://127.0.0.1:9466/metrics'] },
  'signing-key': { type: 'string' },
  'order-db': { type: 'string' },
  brokers: { type: 'string' },
  out: { type: 'string' },
  'no-check': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} satisfies ParseArgsOptionsConfig;

/** Bad arguments: the message is printed with the usage, and the run exits 2. */
export class UsageError extends Error {}

export interface BenchOptions {
  rates: number[];
  durationS: number;
  warmupS: number;
  p99Limit: number;
  productCount: number;
  customerCount: number;
  orderDb: string;
  brokers: string[];
  /** SASL and TLS for the Kafka floor (KAFKA_SASL_*, KAFKA_SSL*, as the services read them) */
  kafkaSecurity: KafkaSecurityOptions;
  out: string;
  /** the order service's instances (orders go to each in turn), and where the catalog is set up */
  urls: { order: string[]; stock: string; payment: string };
  /** each service's /metrics URLs, one per instance */
  metrics: { order: string[]; stock: string[]; payment: string[] };
  /** the key tokens are signed with (PEM), if the services check tokens */
  signingKey: string | undefined;
  check: boolean;
}

/** The run's settings from the command line, or 'help' when --help asks only for the usage. */
export function parseOptions(argv: string[], env: NodeJS.ProcessEnv): BenchOptions | 'help' {
  let v;
  try {
    v = parseArgs({ args: argv, options, strict: true }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (v.help) return 'help';
  return {
    rates: v.rates.split(',').map((r) => positive('rates', r.trim())),
    durationS: positive('duration', v.duration),
    warmupS: v.warmup === '0' ? 0 : positive('warmup', v.warmup),
    p99Limit: positive('p99-limit', v['p99-limit']),
    productCount: positive('products', v.products),
    customerCount: positive('customers', v.customers),
    orderDb: v['order-db'] ?? orderDatabase(env),
    brokers: (v.brokers ?? env['KAFKA_BROKERS'] ?? '127.0.0.1:9092').split(','),
    kafkaSecurity: kafkaSecurity(env),
    out: resolve(v.out ?? join('bench-results', new Date().toISOString().replace(/[:.]/g, '-'))),
    urls: {
      order: orderUrls(v['order-url']),
      stock: v['stock-url'],
      payment: v['payment-url'],
    },
    metrics: {
      order: metricsUrls('order', v['order-metrics-url']),
      stock: metricsUrls('stock', v['stock-metrics-url']),
      payment: metricsUrls('payment', v['payment-metrics-url']),
    },
    signingKey: signingKey(v['signing-key'] ?? env['AUTH_SIGNING_KEY_FILE']),
    check: !v['no-check'],
  };
}

function signingKey(file: string | undefined): string | undefined {
  if (!file) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`--signing-key: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** SASL and TLS from the services' variables; bad ones are bad arguments. */
function kafkaSecurity(env: NodeJS.ProcessEnv): KafkaSecurityOptions {
  try {
    return kafkaSecurityFromEnv(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

/** tcc_order on POSTGRES_URL's server. */
function orderDatabase(env: NodeJS.ProcessEnv): string {
  const server = env['POSTGRES_URL'];
  if (!server)
    throw new UsageError(
      "no order database: give --order-db or POSTGRES_URL (./dev bench sets it while ./dev up's PostgreSQL runs)",
    );
  const u = new URL(server);
  u.pathname = '/tcc_order';
  return u.toString();
}

/**
 * URLs, checked here: a bad one is a bad argument, not a failure halfway through the run.
 * `protocols` are those the URLs may use.
 */
function urlList(option: string, urls: string[], protocols: string[]): string[] {
  for (const url of urls)
    if (!URL.canParse(url) || !protocols.includes(new URL(url).protocol))
      throw new UsageError(
        `--${option} takes an ${protocols.map((p) => `${p}//`).join(' or ')} URL (got "${url}")`,
      );
  return urls;
}

/**
 * One URL per instance, `names[i]` naming the instance at `urls[i]`: an instance given twice would
 * take twice its share of the orders, or have its CPU counted twice.
 */
function oncePerInstance(option: string, urls: string[], names: string[]): string[] {
  names.forEach((name, i) => {
    const first = names.indexOf(name);
    if (first < i)
      throw new UsageError(
        `--${option}: "${urls[first]}" and "${urls[i]}" are the same instance (give each instance once)`,
      );
  });
  return urls;
}

/** The order service's instances, each named by its URL; plain HTTP, as the load's client speaks. */
function orderUrls(urls: string[]): string[] {
  return oncePerInstance('order-url', urlList('order-url', urls, ['http:']), urls);
}

/** A service's /metrics URLs, its instances named as the report names them (instanceNames). */
function metricsUrls(service: string, urls: string[]): string[] {
  const option = `${service}-metrics-url`;
  return oncePerInstance(option, urlList(option, urls, ['http:', 'https:']), instanceNames(service, urls));
}

function positive(name: string, value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new UsageError(`--${name} takes a whole number >= 1 (got "${value}")`);
  return Number(value);
}
