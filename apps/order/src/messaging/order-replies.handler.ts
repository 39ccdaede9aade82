import { Controller } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import { paymentReplies, stockReplies } from '@tcc/contracts';
import type { PaymentReply, StockReply } from '@tcc/contracts';
import { OrderSagaService } from '../orders/order-saga.service';

/**
 * Where the order service receives the participants' replies (topic tcc.order.replies, keyed by
 * order id, so one order's replies are handled one at a time, in order). Each reply is one
 * transaction in OrderSagaService; the offset is committed after it.
 */
@Controller()
export class OrderRepliesHandler {
  constructor(private readonly orders: OrderSagaService) {}

  @EventPattern(Object.keys(stockReplies))
  fromStock(@Payload() reply: StockReply): Promise<void> {
    return this.orders.handleReply(reply);
  }

  @EventPattern(Object.keys(paymentReplies))
  fromPayment(@Payload() reply: PaymentReply): Promise<void> {
    return this.orders.handleReply(reply);
  }
}
