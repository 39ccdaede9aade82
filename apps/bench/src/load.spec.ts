import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from 'pg';
import { runLoad } from './load';
import { closeClients } from './services';

/**
 * A stand-in for one order service instance: POST /orders accepts (202 with an id) unless
 * `refuse(n)` says to answer the n-th one 503; GET /metrics gives a fixed CPU time and RSS.
 */
async function instance(refuse: (n: number) => boolean = () => false) {
  const orders: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/metrics') {
        res.end('process_cpu_seconds_total 1.5\nprocess_resident_memory_bytes 104857600\n');
        return;
      }
      const key = String(req.headers['idempotency-key']);
      orders.push(key);
      const [status, body] = refuse(orders.length) ? [503, {}] : [202, { id: randomUUID() }];
      const text = JSON.stringify(body);
      res.writeHead(status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
      });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, server, orders };
}

/** The order database, as the load reads it: every order it asks about is already confirmed. */
const confirmedAtOnce = {
  query: (_sql: string, [ids]: [string[]]) =>
    Promise.resolve({ rows: ids.map((id) => ({ id, status: 'CONFIRMED', t: String(Date.now()) })) }),
} as unknown as Client;

describe('load over several order service instances', () => {
  const servers: Server[] = [];
  afterEach(async () => {
    jest.restoreAllMocks();
    closeClients();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('sends the orders to each instance in turn and reports what each took, its CPU and memory', async () => {
    jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const a = await instance();
    const b = await instance((n) => n % 5 === 0); // refuses every fifth order it gets
    servers.push(a.server, b.server);
    const aName = `order ${new URL(a.url).host}`;
    const bName = `order ${new URL(b.url).host}`;

    const { steps, maxRssMb } = await runLoad(
      { rates: [20], durationS: 1, warmupS: 0 },
      [a.url, b.url],
      { order: [`${a.url}/metrics`, `${b.url}/metrics`] },
      confirmedAtOnce,
      () => ({ customerId: 'c', productId: 'p', auth: {} }),
    );

    expect(a.orders).toHaveLength(10);
    expect(b.orders).toHaveLength(10);
    const [step] = steps;
    expect(step).toMatchObject({ sent: 20, accepted: 18, rejected: 2, final: 18, unfinished: 0 });
    expect(step?.instances).toMatchObject([
      { url: a.url, sent: 10, accepted: 10, rejected: 0, final: 10, latencyMs: { count: 10 } },
      { url: b.url, sent: 10, accepted: 8, rejected: 2, final: 8, latencyMs: { count: 8 } },
    ]);
    // the CPU time does not move: both instances were read, each and summed
    expect(step?.cpuMsPerOrder).toMatchObject({ order: 0 });
    expect(step?.cpuMsPerOrderByInstance).toEqual({ [aName]: 0, [bName]: 0 });
    expect(maxRssMb).toEqual({ [aName]: 100, [bName]: 100 });
    expect(step?.maxRssMb).toEqual({ [aName]: 100, [bName]: 100 });
  });

  it('with one order URL, sends it every order and reports no instances apart', async () => {
    jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const a = await instance();
    servers.push(a.server);
    const { steps, maxRssMb } = await runLoad(
      { rates: [10], durationS: 1, warmupS: 0 },
      [a.url],
      { order: [`${a.url}/metrics`] },
      confirmedAtOnce,
      () => ({ customerId: 'c', productId: 'p', auth: {} }),
    );
    expect(a.orders).toHaveLength(10);
    expect(steps[0]).toMatchObject({ sent: 10, accepted: 10, cpuMsPerOrder: { order: 0 } });
    expect(steps[0]).not.toHaveProperty('instances');
    expect(steps[0]).not.toHaveProperty('cpuMsPerOrderByInstance');
    expect(maxRssMb).toEqual({ order: 100 });
  });
});
