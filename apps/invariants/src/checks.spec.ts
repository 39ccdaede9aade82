import { runChecks } from './checks';
import type { Snapshot } from './checks';

const now = new Date('2026-01-01T12:00:00Z');
const later = new Date('2026-01-01T13:00:00Z');

/** a small consistent world: one order confirmed, one cancelled */
function world(): Snapshot {
  return {
    now,
    products: [{ id: 'p', available: 6, reserved: 1, sold: 3, stockedTotal: 10 }],
    reservations: [
      { orderId: 'o1', productId: 'p', quantity: 3, status: 'CONFIRMED', expiresAt: later },
      { orderId: 'o2', productId: 'p', quantity: 2, status: 'CANCELLED', expiresAt: later },
      { orderId: 'o3', productId: 'p', quantity: 1, status: 'RESERVED', expiresAt: later },
    ],
    wallets: [{ customerId: 'c', balance: 600, held: 100, captured: 300, toppedUpTotal: 1_000 }],
    holds: [
      { orderId: 'o1', customerId: 'c', amount: 300, status: 'CAPTURED', expiresAt: later },
      { orderId: 'o3', customerId: 'c', amount: 100, status: 'HELD', expiresAt: later },
    ],
    orders: [
      {
        id: 'o1',
        customerId: 'c',
        status: 'CONFIRMED',
        total: 300,
        idempotencyKey: 'k1',
        lines: [{ productId: 'p', quantity: 3 }],
        steps: ['trying', 'confirming', 'confirmed'],
      },
      {
        id: 'o2',
        customerId: 'c',
        status: 'CANCELLED',
        total: null,
        idempotencyKey: 'k2',
        lines: [{ productId: 'p', quantity: 2 }],
        steps: ['trying', 'cancelling', 'cancelled'],
      },
      {
        id: 'o3',
        customerId: 'c',
        status: 'CONFIRMING',
        total: 100,
        idempotencyKey: 'k3',
        lines: [{ productId: 'p', quantity: 1 }],
        steps: ['trying', 'confirming'],
      },
    ],
    lags: [{ group: 'tcc-stock', topic: 'tcc.stock.commands', partition: 0, lag: 0 }],
    idleGroups: [],
    deadLetters: [{ at: 'tcc.stock.commands.dlt/0/0', reason: 'not JSON', correlationId: 'o2' }],
    accepted: [
      { customerId: 'c', idempotencyKey: 'k1', orderId: 'o1' },
      { customerId: 'c', idempotencyKey: 'k2', orderId: 'o2' },
      { customerId: 'c', idempotencyKey: 'k3', orderId: 'o3' },
    ],
  };
}

const violated = (s: Snapshot, quiet = false) =>
  runChecks(s, { graceMs: 10_000, expectQuiet: quiet })
    .filter((r) => r.violations.length > 0)
    .map((r) => [r.id, r.violations]);

describe('invariant checks', () => {
  it('pass on a consistent world that is still busy', () => {
    expect(violated(world())).toEqual([]);
  });

  it('when quiet is expected, an order in flight and lag are violations', () => {
    const s = world();
    s.lags = [{ group: 'tcc-stock', topic: 'tcc.stock.commands', partition: 0, lag: 2 }];
    expect(violated(s, true)).toEqual([
      [4, ['order o3 is still CONFIRMING']],
      [7, ['group tcc-stock is 2 behind on tcc.stock.commands/0']],
    ]);
  });

  it('when quiet is expected, a service group that consumed nothing is a violation', () => {
    const s = world();
    s.idleGroups = [{ group: 'tcc-payment', messages: 12 }];
    expect(violated(s)).toEqual([]);
    expect(violated(s, true)).toEqual([
      [4, ['order o3 is still CONFIRMING']],
      [7, ['group tcc-payment has consumed nothing of the 12 messages on the topics (is --groups right?)']],
    ]);
  });

  it('1: negative or unbalanced product quantities', () => {
    const s = world();
    s.products = [{ id: 'p', available: -1, reserved: 1, sold: 3, stockedTotal: 10 }];
    expect(violated(s)[0]).toEqual([
      1,
      ['product p: available -1 < 0', 'product p: available -1 + reserved 1 + sold 3 != stocked 10'],
    ]);
  });

  it('2: reserved differs from live reservations, or one outlived its time to live', () => {
    const s = world();
    s.products = [{ id: 'p', available: 5, reserved: 2, sold: 3, stockedTotal: 10 }];
    s.reservations[2] = {
      orderId: 'o3',
      productId: 'p',
      quantity: 1,
      status: 'RESERVED',
      expiresAt: new Date('2026-01-01T11:00:00Z'),
    };
    expect(violated(s)).toEqual([
      [
        2,
        [
          'product p: reserved 2 but live reservations hold 1',
          'reservation o3/p expired at 2026-01-01T11:00:00.000Z and is still live',
        ],
      ],
    ]);
  });

  it('3: a negative or unbalanced wallet, or held that is not the live holds', () => {
    const s = world();
    s.wallets = [{ customerId: 'c', balance: -50, held: 100, captured: 300, toppedUpTotal: 1_000 }];
    s.holds[1] = { orderId: 'o3', customerId: 'c', amount: 100, status: 'RELEASED', expiresAt: later };
    expect(violated(s)).toEqual([
      [
        3,
        [
          'wallet c: balance -50 < 0',
          'wallet c: balance -50 + held 100 + captured 300 != topped up 1000',
          'wallet c: held 100 but live holds amount to 0',
        ],
      ],
    ]);
  });

  it('4: a state path that is not allowed', () => {
    const s = world();
    if (s.orders[1]) s.orders[1].steps = ['trying', 'cancelling', 'cancelled', 'confirmed'];
    expect(violated(s)).toEqual([
      [
        4,
        [
          'order o2 went through trying -> cancelling -> cancelled -> confirmed',
          'order o2 is CANCELLED but its last step is confirmed',
        ],
      ],
    ]);
  });

  it('5: a confirmed order without its sale or capture, a cancelled one with them', () => {
    const s = world();
    s.reservations[0] = { orderId: 'o1', productId: 'p', quantity: 3, status: 'RETURNED', expiresAt: later };
    s.reservations[1] = { orderId: 'o2', productId: 'p', quantity: 2, status: 'CONFIRMED', expiresAt: later };
    s.holds.push({ orderId: 'o2', customerId: 'c', amount: 50, status: 'CAPTURED', expiresAt: later });
    s.holds[0] = { orderId: 'o1', customerId: 'c', amount: 250, status: 'CAPTURED', expiresAt: later };
    expect(violated(s).find(([id]) => id === 5)).toEqual([
      5,
      [
        'CONFIRMED order o1: line p×3 has 0 confirmed reservation(s)',
        'CONFIRMED order o1: captured 250, total 300',
        'CANCELLED order o2: 2 of p sold',
        'CANCELLED order o2: 50 captured',
      ],
    ]);
  });

  it('6: an accepted request without its order, an order without a request', () => {
    const s = world();
    s.accepted = [
      { customerId: 'c', idempotencyKey: 'k1', orderId: 'o1' },
      { customerId: 'c', idempotencyKey: 'k2', orderId: 'o2' },
      { customerId: 'c', idempotencyKey: 'k9', orderId: 'o9' },
    ];
    expect(violated(s)).toEqual([
      [6, ["accepted c's request k9 (order o9) has no order", 'order o3 was never accepted by a request']],
    ]);
    s.accepted = null;
    expect(runChecks(s, { graceMs: 0, expectQuiet: false })[5]).toMatchObject({
      skipped: 'no --accepted file',
    });
  });

  it('7: a dead letter without a reason, or whose order is not final', () => {
    const s = world();
    s.deadLetters = [{ at: 'x.dlt/0/3', reason: null, correlationId: 'o3' }];
    expect(violated(s)).toEqual([
      [7, ['dead letter x.dlt/0/3 has no reason', 'dead letter x.dlt/0/3: its order o3 is still CONFIRMING']],
    ]);
  });
});
