import { waitFor } from '@tcc/testing';
import { Stack } from './support/stack';

/**
 * The try phase has a deadline. When a participant does not answer in time, the order cancels
 * everyone and ends CANCELLED (TIMEOUT); the participant's late try is refused when it comes back.
 */
describe('the try deadline', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start('timeout', { env: { order: { ORDER_TRY_TIMEOUT_MS: '2500' } } });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function status(orderId: string) {
    return waitFor(
      async () => {
        const o = await stack.order(orderId);
        return o.status === 'CANCELLING' || o.status === 'CANCELLED' ? o : undefined;
      },
      { timeoutMs: 30_000, description: 'the deadline to cancel the order' },
    );
  }

  it('payment stopped: the order is cancelled with reason TIMEOUT; the late try is refused after the restart', async () => {
    const product = await stack.createProduct(5, 400);
    const customer = await stack.openWallet(10_000);
    await stack.stopService('payment');

    const placed = await stack.placeOrder({
      customerId: customer,
      lines: [{ productId: product, quantity: 2 }],
    });
    expect(placed.status).toBe(202);
    const cancelling = await status(placed.body.id);
    expect(cancelling).toMatchObject({ reason: 'TIMEOUT' });
    // stock already gave its reservation back; the payment's cancel waits in its topic
    await waitFor(async () => (await stack.product(product)).reserved === 0, {
      description: 'stock to be released',
    });
    expect(await stack.product(product)).toMatchObject({ available: 5, reserved: 0, sold: 0 });

    await stack.startService('payment');
    const done = await stack.finalOrder(placed.body.id);
    expect(done).toMatchObject({ status: 'CANCELLED', reason: 'TIMEOUT' });
    // the payment's try arrived after its deadline: refused, nothing held
    const hold = await stack.http<{ status: string; reason: string }>(
      'payment',
      'GET',
      `/holds/${placed.body.id}`,
    );
    expect(hold.body).toMatchObject({ status: 'REJECTED', reason: 'DEADLINE_PASSED' });
    expect(await stack.wallet(customer)).toMatchObject({ balance: 10_000, held: 0, captured: 0 });
    expect(done.timeline.map((t) => `${t.participant} ${t.state}`)).toEqual(
      expect.arrayContaining([
        'order deadline-passed',
        'order cancelling',
        'payment rejected',
        'order cancelled',
      ]),
    );
  });

  it('the deadline is stored: it fires after the order service restarts', async () => {
    const product = await stack.createProduct(3, 100);
    const customer = await stack.openWallet(1_000);
    await stack.stopService('payment');
    const placed = await stack.placeOrder({
      customerId: customer,
      lines: [{ productId: product, quantity: 1 }],
    });
    expect(placed.status).toBe(202);
    await waitFor(async () => (await stack.product(product)).reserved === 1, {
      description: 'the reservation',
    });

    await stack.stopService('order', 'SIGKILL');
    const deadline = Date.parse(
      (
        await stack.query<{ deadline_at: Date }>('order', 'SELECT deadline_at FROM orders WHERE id = $1', [
          placed.body.id,
        ])
      )[0]?.deadline_at.toISOString() ?? '',
    );
    await waitFor(() => Date.now() > deadline + 500, {
      timeoutMs: 10_000,
      description: 'the deadline to pass while order is down',
    });
    await stack.startService('order');

    expect(await status(placed.body.id)).toMatchObject({ reason: 'TIMEOUT' });
    await stack.startService('payment');
    expect(await stack.finalOrder(placed.body.id)).toMatchObject({ status: 'CANCELLED', reason: 'TIMEOUT' });
    expect(await stack.product(product)).toMatchObject({ available: 3, reserved: 0 });
    expect(await stack.wallet(customer)).toMatchObject({ balance: 1_000, held: 0 });
  });
});
