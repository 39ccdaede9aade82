import { createHash } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { Coalescer } from '@tcc/database';
import { currentTrace } from '@tcc/observability';
import { outboxHeaders } from '@tcc/outbox';
import { sagaDeadlines, startSaga } from '../saga/order-saga';
import type { OrderedLine, SagaTimeouts } from '../saga/order-saga';
import type { CommandSender } from '../messaging/command-sender';
import type { OrderRepository } from '../persistence/order.repository';
import type { NewOrder } from '../persistence/order.sql';
import type { ViewRow } from '../persistence/order-rows';
import { newOrderId } from './order-id';
import { toView } from './order-view';
import type { OrderView } from './order-view';
import type { RecentOrders } from './recent-orders';
import { recordStarted } from './saga-metrics';
import { commandMessages } from './saga-step';

export interface PlaceOrder {
  customerId: string;
  lines: OrderedLine[];
}

export type PlaceResult =
  | { kind: 'created'; orderId: string; order: OrderView }
  | { kind: 'replayed' | 'key-reused'; orderId: string };

/** Most orders one placing statement writes. */
const PLACEMENTS_PER_STATEMENT = 100;

/**
 * Places orders under idempotency keys, each customer's own: the same key with the same request
 * returns the same order; with another request it is refused. The placements of concurrent requests are written
 * together, in ONE statement (group commit by the application, Coalescer), so under load an order
 * no longer pays a statement and a commit alone; one customer's key is never twice in a
 * statement, so a second request under it sees the first one's order.
 */
export class OrderPlacements {
  private readonly log = new Logger('order');
  private readonly coalescer: Coalescer<NewOrder, ViewRow | undefined>;

  constructor(
    private readonly orders: OrderRepository,
    sender: CommandSender,
    private readonly recent: RecentOrders,
    private readonly timeouts: SagaTimeouts,
  ) {
    this.coalescer = new Coalescer<NewOrder, ViewRow | undefined>(
      async (jobs) => {
        const { placed, committed } = await orders.place(jobs);
        sender.send(committed.outboxIds, committed.commands);
        return placed;
      },
      {
        maxJobs: PLACEMENTS_PER_STATEMENT,
        key: (job) => `${job.start.state.customerId}\n${job.idempotencyKey}`,
      },
    );
  }

  async place(request: PlaceOrder, idempotencyKey: string): Promise<PlaceResult> {
    const requestHash = hashRequest(request);
    const orderId = newOrderId();
    const now = Date.now();
    const { deadline, holdUntil } = sagaDeadlines(now, this.timeouts);
    const start = startSaga({
      orderId,
      customerId: request.customerId,
      lines: request.lines,
      deadline: deadline.toISOString(),
      holdUntil: holdUntil.toISOString(),
    });
    const traceId = currentTrace()?.traceId ?? null;
    const row = await this.coalescer.submit({
      idempotencyKey,
      requestHash,
      deadline,
      holdUntil,
      traceId,
      start,
      messages: commandMessages(start, null),
      // the request's span is the parent of the commands it sends, whichever statement writes them
      headers: outboxHeaders(),
    });
    if (!row) return this.placedBefore(request.customerId, idempotencyKey, requestHash);
    this.log.log({ msg: 'order placed', correlationId: orderId, lines: start.state.lines.length });
    this.recent.remember({
      state: start.state,
      version: 0,
      retryCount: 0,
      createdAt: new Date(now),
      traceId,
      applied: [],
    });
    recordStarted();
    return { kind: 'created', orderId, order: toView(row) };
  }

  /** Another request of this customer took this key (perhaps a moment ago, concurrently: the insert waited for it). */
  private async placedBefore(
    customerId: string,
    idempotencyKey: string,
    requestHash: string,
  ): Promise<PlaceResult> {
    const existing = await this.orders.findByIdempotencyKey(customerId, idempotencyKey);
    if (!existing) throw new Error(`idempotency key ${idempotencyKey} vanished`);
    return {
      kind: existing.requestHash === requestHash ? 'replayed' : 'key-reused',
      orderId: existing.id,
    };
  }
}

/** The same request hashes the same whatever its key order: customer, then lines as given. */
export function hashRequest(request: PlaceOrder): string {
  const canonical = JSON.stringify({
    customerId: request.customerId,
    lines: request.lines.map((l) => ({ productId: l.productId, quantity: l.quantity })),
  });
  return createHash('sha256').update(canonical).digest('hex');
}
