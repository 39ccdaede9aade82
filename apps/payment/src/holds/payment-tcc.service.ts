import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { MessageOfType, PaymentCommand, PaymentReply } from '@tcc/contracts';
import type { BatchedMessage } from '@tcc/kafka';
import { DirectPublisher } from '@tcc/outbox';
import { ParticipantEngine } from '@tcc/tcc';
import { PAYMENT_SETTINGS } from '../payment.settings';
import type { PaymentSettings } from '../payment.settings';
import { paymentParticipant } from './payment.participant';

/**
 * Payment's side of the saga: what payment.participant.ts declares, run by @tcc/tcc's participant
 * engine (the rules, batching, locking, the sweeper and the replies are written there once).
 */
@Injectable()
export class PaymentTccService {
  private readonly engine: ParticipantEngine<PaymentCommand, PaymentReply>;

  constructor(
    @InjectDataSource() db: DataSource,
    @Inject(PAYMENT_SETTINGS) settings: PaymentSettings,
    publisher: DirectPublisher,
  ) {
    this.engine = new ParticipantEngine(db, paymentParticipant(settings), publisher);
  }

  /** hold the amount if the balance covers it */
  try(command: MessageOfType<'PaymentTry'>): Promise<void> {
    return this.engine.handle(command);
  }

  /** capture what the try held */
  confirm(command: MessageOfType<'PaymentConfirm'>): Promise<void> {
    return this.engine.handle(command);
  }

  /** give what the try held back to the balance */
  cancel(command: MessageOfType<'PaymentCancel'>): Promise<void> {
    return this.engine.handle(command);
  }

  /** give a captured payment back */
  refund(command: MessageOfType<'PaymentRefund'>): Promise<void> {
    return this.engine.handle(command);
  }

  /** any command, by its own handler */
  handle(command: PaymentCommand): Promise<void> {
    return this.engine.handle(command);
  }

  /** a run of commands from one partition: how many leading ones were written in one statement */
  handleBatch(messages: readonly BatchedMessage<PaymentCommand>[]): Promise<number> {
    return this.engine.handleBatch(messages);
  }

  /** releases holds past their time to live; answers how many */
  expireOverdue(limit = 100): Promise<number> {
    return this.engine.expireOverdue(limit);
  }
}
