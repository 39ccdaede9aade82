import { Controller, Inject } from '@nestjs/common';
import { EventPattern, Payload } from '@nestjs/microservices';
import type { MessageOfType, StockCommand } from '@tcc/contracts';
import { BATCH_PATTERN } from '@tcc/kafka';
import type { BatchedMessage } from '@tcc/kafka';
import { STOCK_ENGINE } from '../reservations/stock.participant';
import type { StockEngine } from '../reservations/stock.participant';

/**
 * Where stock receives the saga's commands (topic tcc.stock.commands, keyed by productId). The
 * transport has validated each message against its schema; each handler is one transaction in
 * the participant engine, and the offset is committed only after it. The batch handler is a fast path
 * for runs of commands; whatever it does not take comes to the handlers by type.
 */
@Controller()
export class StockCommandsHandler {
  constructor(@Inject(STOCK_ENGINE) private readonly stock: StockEngine) {}

  /** a run of commands from one partition: answers how many leading ones it wrote, in one transaction */
  @EventPattern(BATCH_PATTERN)
  batch(@Payload() messages: BatchedMessage<StockCommand>[]): Promise<number> {
    return this.stock.handleBatch(messages);
  }

  /** try: reserve the quantity if it is available */
  @EventPattern('StockTry')
  try(@Payload() command: MessageOfType<'StockTry'>): Promise<void> {
    return this.stock.handle(command);
  }

  /** confirm: the reserved quantity is sold */
  @EventPattern('StockConfirm')
  confirm(@Payload() command: MessageOfType<'StockConfirm'>): Promise<void> {
    return this.stock.handle(command);
  }

  /** cancel: the reserved quantity goes back on sale */
  @EventPattern('StockCancel')
  cancel(@Payload() command: MessageOfType<'StockCancel'>): Promise<void> {
    return this.stock.handle(command);
  }

  /** return: undo a confirmed sale, when the payment could not be captured */
  @EventPattern('StockReturn')
  return(@Payload() command: MessageOfType<'StockReturn'>): Promise<void> {
    return this.stock.handle(command);
  }
}
