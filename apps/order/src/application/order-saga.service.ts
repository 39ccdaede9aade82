import { Inject, Injectable, Logger } from '@nestjs/common';
import type { OrderReply, SagaMessage } from '@tcc/contracts';
import { replyHeaders } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { childSpan, runInTrace, withLogContext } from '@tcc/observability';
import { CommandSender } from '../messaging/command-sender';
import { ORDER_SETTINGS } from '../order.settings';
import type { OrderSettings } from '../order.settings';
import { OrderRepository } from '../persistence/order.repository';
import type { OrderTransaction } from '../persistence/order.repository';
import type { Due } from '../persistence/order.sql';
import type { StoredOrder } from '../persistence/order-rows';
import type { SagaEvent } from '../saga/order-saga';
import { OrderPlacements } from './order-placements';
import type { PlaceOrder, PlaceResult } from './order-placements';
import { toView } from './order-view';
import type { OrderView } from './order-view';
import { RecentOrders } from './recent-orders';
import { recordFinished } from './saga-metrics';
import type { Finished } from './saga-metrics';
import { stepOrder } from './saga-step';
import type { Stepped } from './saga-step';

/** A step that keeps losing the race for its order gives up; the consumer retries it with backoff. */
const MAX_CONFLICTS = 20;

/** What a step did: written (the order as it is now), lost the version race, or a duplicate. */
type StepOutcome = Stepped | 'conflict' | 'duplicate';

/**
 * The order service's use cases, as HTTP (placing and reading orders), the Kafka handler (the
 * participants' replies) and the scheduler (deadlines, re-sends) call them. Every change to an
 * order reads it, asks the pure saga (saga/) what follows, and writes the new state, the lines, the
 * timeline, the reply's message id and the commands in ONE statement (persistence/), guarded by
 * the order's version: if another step changed the order since it was read, nothing is written and
 * the step reads again. So an order is never stored without its commands, a reply is never applied
 * twice, and no lock is held while the saga decides. The commands are sent as soon as the statement
 * has committed (CommandSender), the outbox relay sending what that could not.
 */
@Injectable()
export class OrderSagaService {
  private readonly log = new Logger('order');
  private readonly recent = new RecentOrders();
  private readonly placements: OrderPlacements;

  constructor(
    private readonly orders: OrderRepository,
    private readonly sender: CommandSender,
    @Inject(ORDER_SETTINGS) private readonly settings: OrderSettings,
  ) {
    this.placements = new OrderPlacements(orders, sender, this.recent, settings);
  }

  /**
   * Places an order under an idempotency key: the same key with the same request returns the
   * same order; with another request it is refused. Lines naming one product twice are merged.
   */
  place(request: PlaceOrder, idempotencyKey: string): Promise<PlaceResult> {
    return this.placements.place(request, idempotencyKey);
  }

  async view(orderId: string): Promise<OrderView | undefined> {
    const order = await this.orders.view(orderId);
    return order && toView(order);
  }

  /** Applies one reply from stock or payment; a reply seen before (same message id) is skipped. */
  async handleReply(reply: OrderReply): Promise<void> {
    const { orderId } = reply.payload;
    for (let attempt = 1; attempt <= MAX_CONFLICTS; attempt++) {
      const loaded = this.recent.get(orderId) ?? (await this.orders.load(orderId));
      if (!loaded) {
        this.log.warn({ msg: 'reply for an unknown order ignored', type: reply.type, orderId });
        return;
      }
      // a stale copy that lacks the id only loses the version race, and is read again
      const outcome = loaded.applied.includes(reply.messageId)
        ? 'duplicate'
        : await this.step(loaded, reply, reply);
      if (outcome === 'duplicate') {
        this.log.log({ msg: 'duplicate reply skipped', type: reply.type, messageId: reply.messageId });
        return;
      }
      if (outcome === 'conflict') {
        this.recent.forget(orderId);
        continue;
      }
      this.recent.remember(outcome.next);
      return recordFinished(outcome.finished);
    }
    throw new Error(`order ${orderId} changed under ${MAX_CONFLICTS} attempts to apply ${reply.type}`);
  }

  /**
   * Applies a run of replies (one partition of tcc.order.replies, in offset order) in ONE
   * statement. Each reply is decided in memory, from the order as this instance last wrote it (the
   * orders not in memory are read first, in one query), a second reply to the same order from the
   * first one's result. If any order moved since, nothing is written and the replies go one by one.
   * A reply applied before cuts the run just before it. Returns how many leading replies were
   * written; the reply the run stops at (unknown order, duplicate) goes to handleReply.
   */
  async handleBatch(messages: readonly BatchedMessage<OrderReply>[]): Promise<number> {
    if (messages.length < 2) return 0;
    const orderIds = [...new Set(messages.map((m) => m.envelope.payload.orderId))];
    const missing = orderIds.filter((id) => !this.recent.has(id));
    const read = missing.length > 0 ? await this.orders.loadMany(missing) : new Map<string, StoredOrder>();
    const steps = this.applyInMemory(messages, read);
    if (steps.length === 0) return 0;
    const written = await this.writeAll(steps).catch((error: unknown) => {
      for (const id of orderIds) this.recent.forget(id);
      throw error;
    });
    if (written === 'conflict') {
      for (const id of orderIds) this.recent.forget(id);
      return 0;
    }
    for (const { stepped } of steps) this.recent.remember(stepped.next);
    for (const { message, stepped } of steps) await message.within(() => this.logEntered(stepped));
    recordFinished(steps.flatMap((s) => s.stepped.finished));
    return steps.length;
  }

  /** Cancels orders whose try phase passed its deadline. Returns how many it looked at. */
  expireDeadlines(limit = 100): Promise<number> {
    return this.due('deadline', limit, { type: 'DeadlinePassed' });
  }

  /** Sends confirm/cancel again to participants that have not answered in time. */
  retryUnanswered(limit = 100): Promise<number> {
    return this.due('retry', limit, { type: 'RetryDue' });
  }

  /** Decides the leading replies of a batch, each from the order as the replies before left it. */
  private applyInMemory(
    messages: readonly BatchedMessage<OrderReply>[],
    read: ReadonlyMap<string, StoredOrder>,
  ): { message: BatchedMessage<OrderReply>; stepped: Stepped }[] {
    const current = new Map<string, StoredOrder>();
    const steps: { message: BatchedMessage<OrderReply>; stepped: Stepped }[] = [];
    for (const message of messages) {
      const reply = message.envelope;
      const { orderId } = reply.payload;
      const before = current.get(orderId) ?? this.recent.get(orderId) ?? read.get(orderId);
      // the order's applied ids include the replies before this one in the run
      if (!before || before.applied.includes(reply.messageId)) break;
      const stepped = stepOrder(before, reply, reply, this.settings);
      current.set(orderId, stepped.next);
      steps.push({ message, stepped });
    }
    return steps;
  }

  /** Writes decided replies in one statement, each command's headers its reply's span. */
  private async writeAll(
    steps: readonly { message: BatchedMessage<OrderReply>; stepped: Stepped }[],
  ): Promise<'written' | 'conflict'> {
    const headersEach = await replyHeaders(steps.flatMap((s) => s.stepped.messages.map(() => s.message)));
    const written = await this.orders.writeAll(
      steps.map((s) => s.stepped),
      headersEach,
    );
    if (written === 'conflict') return written;
    this.sender.send(written.outboxIds, written.commands);
    return 'written';
  }

  /** Steps the due orders, locked (SKIP LOCKED) so instances share them, in one transaction. */
  private async due(due: Due, limit: number, event: SagaEvent): Promise<number> {
    const finished: Finished[] = [];
    const count = await this.orders.eachDue(due, limit, async (id, tx) => {
      const loaded = await this.orders.load(id, tx);
      if (!loaded) return;
      // a deadline or retry is a new span in the order's own trace
      const span = childSpan(loaded.traceId ? { traceId: loaded.traceId } : undefined);
      const done = await runInTrace(span, () =>
        withLogContext({ correlationId: id, traceId: span.traceId, spanId: span.spanId }, () =>
          this.step(loaded, event, null, tx),
        ),
      );
      // the row is locked by this transaction, so its version cannot have moved
      if (done === 'conflict' || done === 'duplicate') throw new Error(`order ${id} changed while locked`);
      this.recent.forget(id); // remembered only once the transaction commits: read it next time
      finished.push(...done.finished);
    });
    recordFinished(finished);
    return count;
  }

  /**
   * Decides what `event` does to the order and writes it, if the order is still at the version
   * it was read at ('conflict' otherwise: read again). In a transaction (`tx`), its commands are
   * the relay's once it commits.
   */
  private async step(
    loaded: StoredOrder,
    event: SagaEvent,
    cause: SagaMessage | null,
    tx?: OrderTransaction,
  ): Promise<StepOutcome> {
    const stepped = stepOrder(loaded, event, cause, this.settings);
    const written = await this.orders.write(stepped, tx);
    if (written === 'conflict') return written;
    this.sender.send(written.outboxIds, written.commands);
    this.logEntered(stepped);
    return stepped;
  }

  private logEntered({ entered, decision, event, before }: Stepped): void {
    if (!entered) return;
    const { status, reason, reasonDetail } = decision.state;
    this.log.log({
      msg: `order ${status.toLowerCase()}`,
      from: before.state.status,
      reason,
      detail: reasonDetail,
      after: event.type,
    });
  }
}
