import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { MessageOfType, PaymentCommand } from '@tcc/contracts';
import { BATCH_PATTERN } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { PAYMENT_ENGINE } from '../holds/payment.participant';
import type { PaymentEngine } from '../holds/payment.participant';

/**
 * Where payment receives the saga's commands (topic tcc.payment.commands, keyed by customerId).
 * The transport has validated each message against its schema; each handler is one transaction
 * in the participant engine, and the offset is committed only after it. The transport offers runs of
 * messages to the batch handler first; what it does not take comes to the handlers by type.
 */
@Controller()
export class PaymentCommandsHandler {
  constructor(@Inject(PAYMENT_ENGINE) private readonly payment: PaymentEngine) {}

  /** a run of commands from one partition: the leading common cases, in one transaction */
  @EventPattern(BATCH_PATTERN)
  batch(@Payload() messages: BatchedMessage<PaymentCommand>[]): Promise<number> {
    return this.payment.handleBatch(messages);
  }

  /** try: hold the amount if the balance covers it */
  @EventPattern('PaymentTry')
  try(@Payload() command: MessageOfType<'PaymentTry'>): Promise<void> {
    return this.payment.handle(command);
  }

  /** confirm: the held amount is captured */
  @EventPattern('PaymentConfirm')
  confirm(@Payload() command: MessageOfType<'PaymentConfirm'>): Promise<void> {
    return this.payment.handle(command);
  }

  /** cancel: the held amount goes back to the balance */
  @EventPattern('PaymentCancel')
  cancel(@Payload() command: MessageOfType<'PaymentCancel'>): Promise<void> {
    return this.payment.handle(command);
  }

  /** refund: undo a captured payment, when stock could not confirm */
  @EventPattern('PaymentRefund')
  refund(@Payload() command: MessageOfType<'PaymentRefund'>): Promise<void> {
    return this.payment.handle(command);
  }
}
