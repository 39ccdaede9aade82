import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { paymentReplies, stockReplies } from '@tcc/contracts';
import type { OrderReply, PaymentReply, StockReply } from '@tcc/contracts';
import { BATCH_PATTERN } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { OrderSagaService } from '../application/order-saga.service';

/**
 * Where the order service receives the participants' replies (topic tcc.order.replies, keyed by
 * order id, so one order's replies are handled one at a time, in order). A run of replies from one
 * partition is written in one statement (`batch`); a reply the batch cannot take, or every reply
 * after a batch failed, is one transaction of its own (`fromStock`, `fromPayment`). The offset is
 * committed after the write.
 */
@Controller()
export class OrderRepliesHandler {
  constructor(private readonly orders: OrderSagaService) {}

  @EventPattern(BATCH_PATTERN)
  batch(@Payload() replies: BatchedMessage<OrderReply>[]): Promise<number> {
    return this.orders.handleBatch(replies);
  }

  @EventPattern(Object.keys(stockReplies))
  fromStock(@Payload() reply: StockReply): Promise<void> {
    return this.orders.handleReply(reply);
  }

  @EventPattern(Object.keys(paymentReplies))
  fromPayment(@Payload() reply: PaymentReply): Promise<void> {
    return this.orders.handleReply(reply);
  }
}
