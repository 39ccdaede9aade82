/*
 * The system's promises as checks over what the three databases and the topics hold. Pure: the
 * snapshot is loaded elsewhere (load.ts). Each check says how many things it looked at and lists
 * every violation it found.
 */

export interface Product {
  id: string;
  available: number;
  reserved: number;
  sold: number;
  stockedTotal: number;
}
export interface Reservation {
  orderId: string;
  productId: string;
  quantity: number;
  status: string;
  expiresAt: Date | null;
}
export interface Wallet {
  customerId: string;
  balance: number;
  held: number;
  captured: number;
  toppedUpTotal: number;
}
export interface Hold {
  orderId: string;
  customerId: string;
  amount: number;
  status: string;
  expiresAt: Date | null;
}
export interface Order {
  id: string;
  customerId: string;
  status: string;
  total: number | null;
  idempotencyKey: string;
  lines: { productId: string; quantity: number }[];
  /** the order's own steps from its timeline, in order: trying, confirming, cancelling, ... */
  steps: string[];
}
export interface GroupLag {
  group: string;
  topic: string;
  partition: number;
  lag: number;
}
/** a service's group that has committed nothing on the system's topics, which hold `messages` */
export interface IdleGroup {
  group: string;
  messages: number;
}
export interface DeadLetter {
  at: string;
  reason: string | null;
  correlationId: string | null;
}

export interface Snapshot {
  now: Date;
  products: Product[];
  reservations: Reservation[];
  wallets: Wallet[];
  holds: Hold[];
  orders: Order[];
  lags: GroupLag[] | null;
  idleGroups: IdleGroup[] | null;
  deadLetters: DeadLetter[] | null;
  /** what the clients were told: POST /orders answers (202) by customer and idempotency key; null = not given */
  accepted: { customerId: string; idempotencyKey: string; orderId: string }[] | null;
}

export interface CheckResult {
  id: number;
  name: string;
  checked: number;
  violations: string[];
  /** not run, and why (e.g. no accepted-requests file given) */
  skipped?: string;
}

export interface CheckOptions {
  /** how long past its time to live a live reservation may still be waiting for the sweeper */
  graceMs: number;
  /** the system is quiet: every order final, no lag */
  expectQuiet: boolean;
}

const FINAL = new Set(['CONFIRMED', 'CANCELLED']);
/** the order's own steps may only come in these orders */
const ALLOWED_STEP_PATHS = [
  ['trying'],
  ['trying', 'confirming'],
  ['trying', 'confirming', 'confirmed'],
  ['trying', 'cancelling'],
  ['trying', 'cancelling', 'cancelled'],
  ['trying', 'confirming', 'cancelling'],
  ['trying', 'confirming', 'cancelling', 'cancelled'],
];

export function runChecks(s: Snapshot, o: CheckOptions): CheckResult[] {
  return [
    productQuantities(s),
    liveReservations(s, o),
    walletAmounts(s, o),
    orderStates(s, o),
    outcomesMatch(s),
    nothingLost(s),
    quietTopics(s, o),
  ];
}

function sum<T>(items: T[], key: (t: T) => number): number {
  return items.reduce((a, t) => a + key(t), 0);
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}

function productQuantities(s: Snapshot): CheckResult {
  const violations: string[] = [];
  for (const p of s.products) {
    if (p.available < 0) violations.push(`product ${p.id}: available ${p.available} < 0`);
    if (p.reserved < 0) violations.push(`product ${p.id}: reserved ${p.reserved} < 0`);
    if (p.available + p.reserved + p.sold !== p.stockedTotal) {
      violations.push(
        `product ${p.id}: available ${p.available} + reserved ${p.reserved} + sold ${p.sold} != stocked ${p.stockedTotal}`,
      );
    }
  }
  return {
    id: 1,
    name: 'products: available >= 0, reserved >= 0, available + reserved + sold = stocked',
    checked: s.products.length,
    violations,
  };
}

function liveReservations(s: Snapshot, o: CheckOptions): CheckResult {
  const violations: string[] = [];
  const live = s.reservations.filter((r) => r.status === 'RESERVED');
  const byProduct = groupBy(live, (r) => r.productId);
  for (const p of s.products) {
    const held = sum(byProduct.get(p.id) ?? [], (r) => r.quantity);
    if (held !== p.reserved)
      violations.push(`product ${p.id}: reserved ${p.reserved} but live reservations hold ${held}`);
  }
  const limit = s.now.getTime() - o.graceMs;
  for (const r of live) {
    if (r.expiresAt && r.expiresAt.getTime() < limit) {
      violations.push(
        `reservation ${r.orderId}/${r.productId} expired at ${r.expiresAt.toISOString()} and is still live`,
      );
    }
  }
  return {
    id: 2,
    name: 'reserved = sum of live reservations; none outlives its time to live plus grace',
    checked: s.products.length + live.length,
    violations,
  };
}

function walletAmounts(s: Snapshot, o: CheckOptions): CheckResult {
  const violations: string[] = [];
  const live = groupBy(
    s.holds.filter((h) => h.status === 'HELD'),
    (h) => h.customerId,
  );
  const limit = s.now.getTime() - o.graceMs;
  for (const w of s.wallets) {
    if (w.balance < 0) violations.push(`wallet ${w.customerId}: balance ${w.balance} < 0`);
    if (w.balance + w.held + w.captured !== w.toppedUpTotal) {
      violations.push(
        `wallet ${w.customerId}: balance ${w.balance} + held ${w.held} + captured ${w.captured} != topped up ${w.toppedUpTotal}`,
      );
    }
    const held = sum(live.get(w.customerId) ?? [], (h) => h.amount);
    if (held !== w.held)
      violations.push(`wallet ${w.customerId}: held ${w.held} but live holds amount to ${held}`);
  }
  for (const h of s.holds) {
    if (h.status === 'HELD' && h.expiresAt && h.expiresAt.getTime() < limit) {
      violations.push(`hold ${h.orderId} expired at ${h.expiresAt.toISOString()} and is still live`);
    }
  }
  return {
    id: 3,
    name: 'wallets: balance >= 0, balance + held + captured = topped up; held = live holds',
    checked: s.wallets.length,
    violations,
  };
}

function orderStates(s: Snapshot, o: CheckOptions): CheckResult {
  const violations: string[] = [];
  for (const order of s.orders) {
    if (o.expectQuiet && !FINAL.has(order.status))
      violations.push(`order ${order.id} is still ${order.status}`);
    const path = ALLOWED_STEP_PATHS.some(
      (p) => p.length === order.steps.length && p.every((step, i) => order.steps[i] === step),
    );
    if (!path) violations.push(`order ${order.id} went through ${order.steps.join(' -> ') || '(no steps)'}`);
    const last = order.steps[order.steps.length - 1];
    if (FINAL.has(order.status) && last !== order.status.toLowerCase()) {
      violations.push(`order ${order.id} is ${order.status} but its last step is ${last}`);
    }
  }
  return {
    id: 4,
    name: `orders went through allowed states${o.expectQuiet ? ' and are all CONFIRMED or CANCELLED' : ''}`,
    checked: s.orders.length,
    violations,
  };
}

function outcomesMatch(s: Snapshot): CheckResult {
  const violations: string[] = [];
  const reservations = groupBy(s.reservations, (r) => r.orderId);
  const holds = new Map(s.holds.map((h) => [h.orderId, h]));
  let checked = 0;
  for (const order of s.orders) {
    const mine = reservations.get(order.id) ?? [];
    const hold = holds.get(order.id);
    if (order.status === 'CONFIRMED') {
      checked++;
      for (const line of order.lines) {
        const confirmed = mine.filter((r) => r.productId === line.productId && r.status === 'CONFIRMED');
        if (confirmed.length !== 1 || confirmed[0]?.quantity !== line.quantity) {
          violations.push(
            `CONFIRMED order ${order.id}: line ${line.productId}×${line.quantity} has ${confirmed.length} confirmed reservation(s)`,
          );
        }
      }
      if (hold?.status !== 'CAPTURED')
        violations.push(`CONFIRMED order ${order.id}: payment is ${hold?.status ?? 'missing'}, not CAPTURED`);
      else if (hold.amount !== order.total)
        violations.push(`CONFIRMED order ${order.id}: captured ${hold.amount}, total ${order.total}`);
    } else if (order.status === 'CANCELLED') {
      checked++;
      for (const r of mine.filter((x) => x.status === 'CONFIRMED')) {
        violations.push(`CANCELLED order ${order.id}: ${r.quantity} of ${r.productId} sold`);
      }
      if (hold?.status === 'CAPTURED')
        violations.push(`CANCELLED order ${order.id}: ${hold.amount} captured`);
    }
  }
  return {
    id: 5,
    name: 'CONFIRMED: one confirmed reservation per line and one capture; CANCELLED: nothing sold, nothing captured',
    checked,
    violations,
  };
}

function nothingLost(s: Snapshot): CheckResult {
  const name = 'every accepted POST /orders has its order, and no order exists without one';
  if (!s.accepted) return { id: 6, name, checked: 0, violations: [], skipped: 'no --accepted file' };
  const violations: string[] = [];
  // an idempotency key is its customer's own: two customers may use one key for two orders
  const keyOf = (customerId: string, key: string) => `${customerId}\n${key}`;
  const byKey = new Map(s.orders.map((o) => [keyOf(o.customerId, o.idempotencyKey), o]));
  const acceptedIds = new Set(s.accepted.map((a) => a.orderId));
  for (const a of s.accepted) {
    const order = byKey.get(keyOf(a.customerId, a.idempotencyKey));
    const request = `${a.customerId}'s request ${a.idempotencyKey}`;
    if (!order) violations.push(`accepted ${request} (order ${a.orderId}) has no order`);
    else if (order.id !== a.orderId)
      violations.push(`${request} was answered ${a.orderId} but stored as ${order.id}`);
  }
  for (const o of s.orders)
    if (!acceptedIds.has(o.id)) violations.push(`order ${o.id} was never accepted by a request`);
  return { id: 6, name, checked: s.accepted.length + s.orders.length, violations };
}

function quietTopics(s: Snapshot, o: CheckOptions): CheckResult {
  const name = 'consumer lag is 0 when quiet; every dead letter has a reason and its order is final';
  if (!s.lags || !s.deadLetters)
    return { id: 7, name, checked: 0, violations: [], skipped: 'no broker given' };
  const violations: string[] = [];
  if (o.expectQuiet) {
    for (const l of s.lags)
      if (l.lag !== 0) violations.push(`group ${l.group} is ${l.lag} behind on ${l.topic}/${l.partition}`);
    for (const g of s.idleGroups ?? [])
      violations.push(
        `group ${g.group} has consumed nothing of the ${g.messages} messages on the topics (is --groups right?)`,
      );
  }
  const orders = new Map(s.orders.map((x) => [x.id, x]));
  for (const d of s.deadLetters) {
    if (!d.reason) violations.push(`dead letter ${d.at} has no reason`);
    const order = d.correlationId ? orders.get(d.correlationId) : undefined;
    if (order && !FINAL.has(order.status))
      violations.push(`dead letter ${d.at}: its order ${order.id} is still ${order.status}`);
  }
  return {
    id: 7,
    name,
    checked: s.lags.length + (s.idleGroups?.length ?? 0) + s.deadLetters.length,
    violations,
  };
}
