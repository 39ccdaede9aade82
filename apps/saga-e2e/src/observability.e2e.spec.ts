import { randomUUID } from 'node:crypto';
import { Topics } from '@tcc/contracts';
import { waitFor } from '@tcc/testing';
import { TopicClient, topicsCli } from './support/kafka';
import { SERVICES, Stack } from './support/stack';

/** GET /metrics (on each service's metrics port), W3C trace context across the three services, and the OpenAPI documents. */
describe('seeing inside: metrics, traces, API docs', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start('observe');
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function metrics(name: (typeof SERVICES)[number]): Promise<string> {
    const res = await fetch(stack.metricsUrl(name));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    return res.text();
  }

  /** the value of one sample, e.g. value(text, 'tcc_sagas_started_total') */
  function value(text: string, sample: string): number {
    const line = text.split('\n').find((l) => l.startsWith(`${sample}{`) || l.startsWith(`${sample} `));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  }

  it('GET /metrics counts sagas, messages, dead letters, lag, outbox backlog, expiries and memory', async () => {
    const product = await stack.createProduct(5, 100);
    const customer = await stack.openWallet(1_000);
    const before = await metrics('order');
    const placed = await stack.placeOrder({
      customerId: customer,
      lines: [{ productId: product, quantity: 1 }],
    });
    const cancelled = await stack.placeOrder({
      customerId: customer,
      lines: [{ productId: 'nope', quantity: 1 }],
    });
    await stack.finalOrder(placed.body.id);
    await stack.finalOrder(cancelled.body.id);

    const order = await metrics('order');
    expect(value(order, 'tcc_sagas_started_total') - value(before, 'tcc_sagas_started_total')).toBe(2);
    expect(order).toMatch(
      /^tcc_sagas_finished_total\{status="CONFIRMED",reason="none",service="order"\} [1-9]/m,
    );
    expect(order).toMatch(
      /^tcc_sagas_finished_total\{status="CANCELLED",reason="UNKNOWN_PRODUCT",service="order"\} [1-9]/m,
    );
    expect(order).toMatch(
      /^tcc_saga_duration_seconds_bucket\{le="[^"]+",service="order",status="CONFIRMED"\}/m,
    );
    expect(order).toMatch(
      /^tcc_messages_handled_total\{topic="[^"]+tcc\.order\.replies",type="StockReserved",outcome="handled",service="order"\}/m,
    );
    expect(order).toMatch(/^tcc_outbox_backlog\{service="order"\} \d+/m);
    // the order service sends its commands itself; the relay only what it could not
    expect(order).toMatch(
      /^tcc_direct_published_total\{topic="tcc\.stock\.commands",service="order"\} [1-9]/m,
    );
    expect(order).toMatch(/^# TYPE tcc_outbox_published_total counter/m);
    expect(order).toMatch(
      /^tcc_consumer_lag\{group="[^"]+",topic="[^"]+",partition="\d+",service="order"\} \d+/m,
    );
    expect(order).toMatch(/^process_resident_memory_bytes\{service="order"\} \d+/m);

    // a poison message is counted as dead-lettered, by its error class
    const topics = new TopicClient();
    await topics.connect();
    try {
      await topics.send(stack.topic(Topics.stockCommands), product, 'not json at all');
    } finally {
      await topics.disconnect();
    }
    await waitFor(
      async () =>
        /tcc_messages_dead_lettered_total\{[^}]*error_class="PoisonMessageError"[^}]*\} 1/.test(
          await metrics('stock'),
        ),
      {
        description: 'the dead letter to be counted',
      },
    );
    const stock = await metrics('stock');
    expect(stock).toMatch(/^tcc_reservations_expired_total\{participant="stock",service="stock"\} \d+/m);
    expect(stock).toMatch(/^tcc_message_handling_seconds_count\{[^}]*type="StockTry"[^}]*\} [1-9]/m);
    expect(await metrics('payment')).toMatch(
      /^tcc_messages_handled_total\{[^}]*type="PaymentConfirm"[^}]*\} [1-9]/m,
    );
  });

  it('one trace id follows an order from the HTTP request through every message and every service log', async () => {
    const traceId = randomUUID().replace(/-/g, '');
    const parent = `00-${traceId}-00f067aa0ba902b7-01`;
    const product = await stack.createProduct(5, 100);
    const customer = await stack.openWallet(1_000);
    const requestId = `e2e-${randomUUID()}`;
    const idempotencyKey = randomUUID();
    const res = await stack.http<{ id: string }>(
      'order',
      'POST',
      '/orders',
      { customerId: customer, lines: [{ productId: product, quantity: 1 }] },
      { 'idempotency-key': idempotencyKey, traceparent: parent, 'x-request-id': requestId },
    );
    expect(res.headers.get('traceparent')).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(res.headers.get('x-request-id')).toBe(requestId);
    await stack.finalOrder(res.body.id);

    // the request's own line: which request it was, how it ended, and its span
    const spanId = res.headers.get('traceparent')?.split('-')[2];
    const completed = await waitFor(
      () =>
        stack.processes
          .get('order')
          ?.logs()
          .find((l) => l['msg'] === 'request completed' && (l['req'] as { id?: string }).id === requestId),
      { description: 'the request line of POST /orders' },
    );
    expect(completed).toMatchObject({
      level: 'info',
      service: 'order',
      req: { id: requestId, method: 'POST', url: '/orders', idempotencyKey, remoteAddress: '127.0.0.1' },
      res: { statusCode: 202 },
      traceId,
      spanId,
    });
    // without an x-request-id of its own, a request gets one
    const other = await stack.http('order', 'GET', `/orders/${res.body.id}`);
    expect(other.headers.get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );

    const trace = await topicsCli(stack.prefix, 'trace', res.body.id, '--json');
    const messages = JSON.parse(trace.stdout) as { type: string; headers: Record<string, string> }[];
    expect(messages.length).toBeGreaterThanOrEqual(8);
    for (const m of messages)
      expect([m.type, m.headers['traceparent']?.split('-')[1]]).toEqual([m.type, traceId]);
    // each message has its own parent span: the span of whoever sent it
    expect(new Set(messages.map((m) => m.headers['traceparent'])).size).toBeGreaterThan(1);

    for (const name of SERVICES) {
      // each service writes its log in chunks (up to 50 ms after the line)
      const lines = await waitFor(
        () => {
          const mine = stack.processes
            .get(name)
            ?.logs()
            .filter((l) => l['traceId'] === traceId);
          return mine && mine.length > 0 ? mine : undefined;
        },
        { description: `${name}'s log lines of the trace` },
      );
      if (name !== 'order') expect(lines.every((l) => l['correlationId'] === res.body.id)).toBe(true);
    }
  });

  it('serves each REST API as OpenAPI, generated from the controllers and their schemas', async () => {
    const expected = {
      order: ['/orders', '/orders/{id}'],
      stock: ['/products', '/products/{id}', '/products/{id}/restock', '/reservations'],
      payment: ['/wallets', '/wallets/{customerId}', '/wallets/{customerId}/top-ups', '/holds/{orderId}'],
    };
    for (const name of SERVICES) {
      const doc = (
        await stack.http<{ openapi: string; paths: Record<string, unknown> }>(name, 'GET', '/docs-json')
      ).body;
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(expected[name]));
      const ui = await fetch(`${stack.url(name)}/docs`);
      expect(ui.status).toBe(200);
    }
    const order = (
      await stack.http<{
        paths: Record<string, Record<string, { requestBody?: unknown; parameters?: { name: string }[] }>>;
      }>('order', 'GET', '/docs-json')
    ).body;
    const post = order.paths['/orders']?.['post'];
    expect(post?.parameters?.map((p) => p.name)).toContain('Idempotency-Key');
    expect(JSON.stringify(post?.requestBody)).toContain(
      '"quantity":{"type":"integer","minimum":1,"maximum":10000}',
    );
  });
});
