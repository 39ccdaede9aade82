import { randomUUID } from 'node:crypto';
import { createMessage, replyTo } from '@tcc/contracts';
import type { StockCommand } from '@tcc/contracts';
import type { FenceRow } from './reservation.fence';
import { candidates, fenceKey, planBatch } from './stock-batch.plan';
import type { BatchState, ProductRow } from './stock-batch.plan';

describe('the batch plan', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  const later = '2026-01-01T12:00:10Z';
  const earlier = '2026-01-01T11:59:50Z';
  const expiry = new Date('2026-01-01T12:01:00Z');

  const tryOf = (orderId: string, productId: string, quantity: number, deadline = later) =>
    createMessage(
      'StockTry',
      { orderId, productId, quantity, deadline, holdUntil: expiry.toISOString() },
      { correlationId: orderId },
    );
  const confirm = (orderId: string, productId: string) =>
    createMessage('StockConfirm', { orderId, productId }, { correlationId: orderId });
  const cancel = (orderId: string, productId: string) =>
    createMessage('StockCancel', { orderId, productId }, { correlationId: orderId });

  function state(products: ProductRow[], fences: [string, string, FenceRow][] = []): BatchState {
    return {
      products: new Map(products.map((p) => [p.id, p])),
      fences: new Map(fences.map(([o, p, f]) => [fenceKey(o, p), f])),
    };
  }
  const plan = (commands: StockCommand[], given: BatchState) => planBatch(commands, given, now, () => expiry);
  const outcomes = (commands: StockCommand[], given: BatchState) =>
    plan(commands, given).steps.map((s) => [s.reply.type, (s.reply.payload as { reason?: string }).reason]);

  const apple = { id: 'apple', price: '250', available: 3, reserved: 1 };
  /** A reservation as a try left it: RESERVED, with the try's reply. */
  const reserved = (quantity: number): FenceRow => {
    const orderId = randomUUID();
    const payload = {
      orderId,
      productId: 'apple',
      quantity,
      unitPrice: 250,
      expiresAt: expiry.toISOString(),
    };
    return {
      status: 'RESERVED',
      quantity,
      replies: { try: replyTo(tryOf(orderId, 'apple', quantity), 'StockReserved', payload) },
    };
  };

  it('reserves from what the earlier commands of the run left, and rejects the rest', () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const result = plan([tryOf(a, 'apple', 2), tryOf(b, 'apple', 2), tryOf(c, 'apple', 1)], state([apple]));
    expect(result.steps.map((s) => [s.kind, s.what])).toEqual([
      ['reserve', 'reserved 2 of apple at 250'],
      ['reject', 'try for apple rejected: OUT_OF_STOCK'],
      ['reserve', 'reserved 1 of apple at 250'],
    ]);
    expect(result.steps[0]?.reply.payload).toEqual({
      orderId: a,
      productId: 'apple',
      quantity: 2,
      unitPrice: 250,
      expiresAt: expiry.toISOString(),
    });
    expect(result.products).toEqual([
      { id: 'apple', read: { available: 3, reserved: 1 }, delta: { available: -3, reserved: 3, sold: 0 } },
    ]);
  });

  it('rejects a first try for an unknown product or past its deadline, and remembers the unknown product', () => {
    const result = plan(
      [tryOf(randomUUID(), 'pear', 1), tryOf(randomUUID(), 'apple', 1, earlier)],
      state([apple]),
    );
    expect(result.steps.map((s) => [s.reply.type, (s.reply.payload as { reason?: string }).reason])).toEqual([
      ['StockRejected', 'UNKNOWN_PRODUCT'],
      ['StockRejected', 'DEADLINE_PASSED'],
    ]);
    expect(result.unknownProducts).toEqual(['pear']);
    expect(result.products).toEqual([]); // neither decision read a product's quantities
  });

  it('sells on confirm and releases on cancel of a RESERVED reservation', () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const given = state(
      [apple],
      [
        [a, 'apple', reserved(1)],
        [b, 'apple', reserved(2)],
      ],
    );
    expect(outcomes([confirm(a, 'apple'), cancel(b, 'apple')], given)).toEqual([
      ['StockConfirmed', undefined],
      ['StockCancelled', undefined],
    ]);
    const result = plan([confirm(a, 'apple'), cancel(b, 'apple')], given);
    expect(result.steps.map((s) => s.reply.payload)).toEqual([
      { orderId: a, productId: 'apple', quantity: 1 },
      { orderId: b, productId: 'apple', released: 2, emptyRollback: false },
    ]);
    expect(result.products[0]?.delta).toEqual({ available: 2, reserved: -3, sold: 1 });
  });

  it.each<[string, (o: string) => StockCommand, FenceRow | undefined]>([
    ['a duplicate try', (o) => tryOf(o, 'apple', 1), reserved(1)],
    ['a confirm without a reservation', (o) => confirm(o, 'apple'), undefined],
    ['a cancel before any try (empty rollback)', (o) => cancel(o, 'apple'), undefined],
    [
      'a confirm of an expired reservation (reacquire)',
      (o) => confirm(o, 'apple'),
      { ...reserved(1), status: 'EXPIRED' },
    ],
    [
      'a cancel of a sold reservation (refused)',
      (o) => cancel(o, 'apple'),
      { ...reserved(1), status: 'CONFIRMED' },
    ],
    [
      'a return',
      (o) => createMessage('StockReturn', { orderId: o, productId: 'apple' }, { correlationId: o }),
      { ...reserved(1), status: 'CONFIRMED' },
    ],
  ])('stops before %s', (_case, command, fence) => {
    const o = randomUUID();
    const given = state([apple], fence ? [[o, 'apple', fence]] : []);
    expect(
      plan([tryOf(randomUUID(), 'apple', 1), command(o), tryOf(randomUUID(), 'apple', 1)], given).steps,
    ).toHaveLength(1);
  });

  it('knows before reading that a run cannot go past a return or a repeated (order, product)', () => {
    const [a, b] = [randomUUID(), randomUUID()];
    const giveBack = createMessage('StockReturn', { orderId: b, productId: 'apple' }, { correlationId: b });
    expect(candidates([tryOf(a, 'apple', 1), tryOf(b, 'apple', 1), confirm(a, 'apple')])).toHaveLength(2);
    expect(
      candidates([tryOf(a, 'apple', 1), tryOf(a, 'pear', 1), giveBack, tryOf(b, 'pear', 1)]),
    ).toHaveLength(2);
    expect(candidates([tryOf(a, 'apple', 1), tryOf(b, 'apple', 1)])).toHaveLength(2);
  });

  it('stops at a second command for an (order, product) of the run, and knows an order id in any case', () => {
    const o = randomUUID();
    const given = state([apple], [[o, 'apple', reserved(1)]]);
    expect(
      outcomes(
        [tryOf(randomUUID(), 'apple', 1), cancel(o.toUpperCase(), 'apple'), confirm(o, 'apple')],
        given,
      ),
    ).toEqual([
      ['StockReserved', undefined],
      ['StockCancelled', undefined],
    ]);
  });
});
