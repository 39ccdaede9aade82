import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runNode, testBrokers, workspaceRoot } from '@tcc/testing';
import { SERVICES, Stack } from './support/stack';

/** The invariant checker (./dev check) over a real stack after a mix of orders, then over a broken one. */
describe('invariant checker', () => {
  let stack: Stack;
  const accepted: { customerId: string; idempotencyKey: string; orderId: string }[] = [];
  const acceptedFile = join(tmpdir(), `accepted-${randomUUID()}.json`);

  beforeAll(async () => {
    stack = await Stack.start('invariants');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  function check(...args: string[]) {
    return runNode(
      join(workspaceRoot, 'apps', 'invariants', 'dist', 'main.js'),
      [
        '--order-db',
        stack.databases.get('order')?.url ?? '',
        '--stock-db',
        stack.databases.get('stock')?.url ?? '',
        '--payment-db',
        stack.databases.get('payment')?.url ?? '',
        '--brokers',
        testBrokers().join(','),
        '--prefix',
        stack.prefix,
        '--groups',
        SERVICES.map((s) => stack.groupOf(s)).join(','),
        ...args,
      ],
      {},
    );
  }

  it('holds after confirmed, cancelled and concurrent orders, with every accepted request accounted for', async () => {
    const product = await stack.createProduct(5, 300);
    const rich = await stack.openWallet(10_000);
    const poor = await stack.openWallet(100);
    const bodies = [
      ...Array.from({ length: 8 }, () => ({
        customerId: rich,
        lines: [{ productId: product, quantity: 1 }],
      })),
      { customerId: poor, lines: [{ productId: product, quantity: 1 }] },
      { customerId: rich, lines: [{ productId: 'ghost', quantity: 1 }] },
    ];
    const answers = await Promise.all(
      bodies.map(async (body) => {
        const key = randomUUID();
        const res = await stack.placeOrder(body, key);
        return { customerId: body.customerId, idempotencyKey: key, orderId: res.body.id, status: res.status };
      }),
    );
    for (const a of answers) {
      expect(a.status).toBe(202);
      accepted.push({ customerId: a.customerId, idempotencyKey: a.idempotencyKey, orderId: a.orderId });
    }
    writeFileSync(acceptedFile, JSON.stringify(accepted));

    const run = await check('--accepted', acceptedFile, '--wait-quiet', '60');
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain('all invariants hold');
    expect(run.code).toBe(0);
    for (const n of [1, 2, 3, 4, 5, 6, 7])
      expect(run.stdout).toMatch(new RegExp(`^${n}\\. .*\\n   checked [1-9]\\d*: ok$`, 'm'));
  });

  it('exits 1 and names what is wrong when the data breaks a promise', async () => {
    const [sale] = await stack.query<{ order_id: string; product_id: string }>(
      'stock',
      `SELECT order_id, product_id FROM reservations WHERE status = 'CONFIRMED' LIMIT 1`,
    );
    await stack.query('stock', `UPDATE reservations SET status = 'RETURNED' WHERE order_id = $1`, [
      sale?.order_id,
    ]);
    const run = await check('--accepted', acceptedFile, '--quiet', '--json');
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; results: { id: number; violations: string[] }[] };
    expect(report.ok).toBe(false);
    expect(report.results.find((r) => r.id === 5)?.violations).toEqual([
      `CONFIRMED order ${sale?.order_id}: line ${sale?.product_id}×1 has 0 confirmed reservation(s)`,
    ]);
  });

  it('says clearly when it cannot read a database or gets bad arguments', async () => {
    const bad = await check('--order-db', 'postgres://postgres@127.0.0.1:5432/tcc_test_nope', '--no-kafka');
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(
      /^check: cannot read postgres:\/\/postgres@127\.0\.0\.1:5432\/tcc_test_nope: /,
    );
    const usage = await check('--wait-quiet', 'soon');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--wait-quiet takes a whole number');
  });
});
