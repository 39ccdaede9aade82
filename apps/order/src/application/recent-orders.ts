import { isFinal } from '../saga/order-saga';
import type { StoredOrder } from '../persistence/order-rows';

/** Orders kept in memory after a step, so the next reply need not read them. */
const RECENT_ORDERS = 10_000;

/**
 * The orders this instance wrote last, with their version, so a reply usually costs one round trip:
 * the write. A stale copy (another instance or the scheduler moved the order) only loses the
 * version race and is read again. Final orders leave; past the capacity, the oldest leave first.
 */
export class RecentOrders {
  /** oldest first (Map order) */
  private readonly orders = new Map<string, StoredOrder>();

  constructor(private readonly capacity = RECENT_ORDERS) {}

  get(orderId: string): StoredOrder | undefined {
    return this.orders.get(orderId);
  }

  has(orderId: string): boolean {
    return this.orders.has(orderId);
  }

  /** Keeps the order as it is now, while it is not final. */
  remember(order: StoredOrder): void {
    const { orderId, status } = order.state;
    this.orders.delete(orderId);
    if (isFinal(status)) return;
    this.orders.set(orderId, order);
    if (this.orders.size > this.capacity) {
      const oldest = this.orders.keys().next();
      if (!oldest.done) this.orders.delete(oldest.value);
    }
  }

  /** Forgets the order: the next step reads it. */
  forget(orderId: string): void {
    this.orders.delete(orderId);
  }
}
