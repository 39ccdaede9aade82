import { createMessage, routeOf, Topics } from '@tcc/contracts';
import type { SagaMessage } from '@tcc/contracts';
import type { ChaosKafka, RawMessage } from './kafka';
import type { Catalog } from './clients';
import type { Prng } from './prng';

interface Sent {
  orderId: string;
  productId: string;
  customerId: string;
}

export interface CancelBeforeTryResult {
  orderId: string;
  ok: boolean;
  /** the replies each participant gave, in order */
  stock: string[];
  payment: string[];
}

const soon = (ms: number) => new Date(Date.now() + ms).toISOString();

/**
 * Cancel before try, as a lost-then-late try would arrive: for an order the participants have
 * never seen, the cancel first, then the try, on both participants' topics (one key, so one
 * partition, so in that order). Documented treatment: the cancel succeeds as an empty rollback and
 * is remembered; the try is refused with ALREADY_CANCELLED; nothing is reserved or held.
 */
export class CancelBeforeTry {
  private readonly sent: Sent[] = [];

  constructor(
    private readonly kafka: ChaosKafka,
    private readonly prng: Prng,
    private readonly catalog: Catalog,
  ) {}

  get count(): number {
    return this.sent.length;
  }

  private async publish(message: SagaMessage): Promise<void> {
    const { topic, key } = routeOf(message);
    await this.kafka.publish(topic, key, JSON.stringify(message), {
      'x-message-id': message.messageId,
      'x-message-type': message.type,
      'x-correlation-id': message.correlationId,
    });
  }

  async send(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const orderId = this.prng.uuid();
      const productId = this.prng.pick(this.catalog.products).id;
      const customerId = this.prng.pick(this.catalog.customers).id;
      const ctx = { correlationId: orderId };
      const window = { deadline: soon(300_000), holdUntil: soon(360_000) };
      // awaited one by one: the try is written only once the cancel is acknowledged
      await this.publish(createMessage('StockCancel', { orderId, productId }, ctx));
      await this.publish(createMessage('StockTry', { orderId, productId, quantity: 1, ...window }, ctx));
      await this.publish(createMessage('PaymentCancel', { orderId, customerId }, ctx));
      await this.publish(createMessage('PaymentTry', { orderId, customerId, amount: 100, ...window }, ctx));
      this.sent.push({ orderId, productId, customerId });
    }
  }

  /** Checks the replies on tcc.order.replies for each made-up order. */
  check(replies: RawMessage[]): CancelBeforeTryResult[] {
    const byOrder = new Map<string, { type: string; reason?: string; emptyRollback?: boolean }[]>();
    for (const r of replies) {
      if (r.topic !== Topics.orderReplies || !r.value) continue;
      let envelope: {
        type?: string;
        correlationId?: string;
        payload?: { reason?: string; emptyRollback?: boolean };
      };
      try {
        envelope = JSON.parse(r.value.toString()) as typeof envelope;
      } catch {
        continue;
      }
      if (!envelope.correlationId || !envelope.type) continue;
      const list = byOrder.get(envelope.correlationId) ?? [];
      list.push({
        type: envelope.type,
        reason: envelope.payload?.reason,
        emptyRollback: envelope.payload?.emptyRollback,
      });
      byOrder.set(envelope.correlationId, list);
    }
    return this.sent.map(({ orderId }) => {
      const all = byOrder.get(orderId) ?? [];
      const words = (prefix: string) =>
        all
          .filter((e) => e.type.startsWith(prefix))
          .map((e) =>
            [e.type, e.reason, e.emptyRollback ? 'empty-rollback' : undefined].filter(Boolean).join(':'),
          );
      const stock = words('Stock');
      const payment = words('Payment');
      // replies may come twice (a participant killed after publishing, before committing the offset), never in another order
      const distinct = (w: string[]) => w.filter((x, i) => w.indexOf(x) === i);
      const ok =
        distinct(stock).join(',') === 'StockCancelled:empty-rollback,StockRejected:ALREADY_CANCELLED' &&
        distinct(payment).join(',') === 'PaymentReleased:empty-rollback,PaymentRejected:ALREADY_CANCELLED';
      return { orderId, ok, stock, payment };
    });
  }
}
