import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { MessageOfType, StockCommand, StockReply } from '@tcc/contracts';
import type { BatchedMessage } from '@tcc/kafka';
import { DirectPublisher } from '@tcc/outbox';
import { ParticipantEngine } from '@tcc/tcc';
import { STOCK_SETTINGS } from '../stock.settings';
import type { StockSettings } from '../stock.settings';
import { stockParticipant } from './stock.participant';

/**
 * Stock's side of the saga: what stock.participant.ts declares, run by @tcc/tcc's participant
 * engine (the rules, batching, locking, the sweeper and the replies are written there once).
 */
@Injectable()
export class StockTccService {
  private readonly engine: ParticipantEngine<StockCommand, StockReply>;

  constructor(
    @InjectDataSource() db: DataSource,
    @Inject(STOCK_SETTINGS) settings: StockSettings,
    publisher: DirectPublisher,
  ) {
    this.engine = new ParticipantEngine(db, stockParticipant(settings), publisher);
  }

  /** reserve the quantity if it is available */
  try(command: MessageOfType<'StockTry'>): Promise<void> {
    return this.engine.handle(command);
  }

  /** sell what the try reserved */
  confirm(command: MessageOfType<'StockConfirm'>): Promise<void> {
    return this.engine.handle(command);
  }

  /** put what the try reserved back on sale */
  cancel(command: MessageOfType<'StockCancel'>): Promise<void> {
    return this.engine.handle(command);
  }

  /** take a confirmed sale back */
  return(command: MessageOfType<'StockReturn'>): Promise<void> {
    return this.engine.handle(command);
  }

  /** any command, by its own handler */
  handle(command: StockCommand): Promise<void> {
    return this.engine.handle(command);
  }

  /** a run of commands from one partition: how many leading ones were written in one statement */
  handleBatch(messages: readonly BatchedMessage<StockCommand>[]): Promise<number> {
    return this.engine.handleBatch(messages);
  }

  /** releases reservations past their time to live; answers how many */
  expireOverdue(limit = 100): Promise<number> {
    return this.engine.expireOverdue(limit);
  }
}
