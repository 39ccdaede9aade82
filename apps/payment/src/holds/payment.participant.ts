/*
 * Payment as a TCC participant: a try holds points of the customer's wallet (balance -> held), a
 * confirm captures them (held -> captured), a cancel or the sweeper releases them (held ->
 * balance), a refund gives a capture back (captured -> balance). A customer pays an order once, so
 * each order has one hold: the fence record, with the reply of each phase, and a command naming
 * another customer than the hold's is a protocol error (dead-lettered, no wallet touched).
 * Everything else (the rules, batching, locking, the sweeper, replies) is @tcc/tcc's engine.
 */
import { createMessage, replyTo } from '@tcc/contracts';
import type { PaymentCommand, PaymentReply } from '@tcc/contracts';
import { rejectionWord } from '@tcc/tcc';
import type { BranchCommand, Outcome, Participant, ParticipantEngine } from '@tcc/tcc';

export type HoldStatus = 'HELD' | 'CAPTURED' | 'RELEASED' | 'EXPIRED' | 'REJECTED' | 'REFUNDED';

const words = { SHORT: 'INSUFFICIENT_FUNDS', UNKNOWN: 'UNKNOWN_WALLET' } as const;

/** Where the app injects the engine running this declaration: `@Inject(PAYMENT_ENGINE)`. */
export const PAYMENT_ENGINE = Symbol('payment engine');
export type PaymentEngine = ParticipantEngine<PaymentCommand, PaymentReply>;

export function paymentParticipant(settings: {
  maxHoldMs: number;
}): Participant<PaymentCommand, PaymentReply> {
  return {
    name: 'payment',
    words,
    maxHoldMs: settings.maxHoldMs,
    branchPerResource: false,
    tables: {
      fences: {
        table: 'holds',
        resource: 'customer_id',
        amount: 'amount',
        statuses: {
          tried: 'HELD',
          confirmed: 'CAPTURED',
          cancelled: 'RELEASED',
          expired: 'EXPIRED',
          rejected: 'REJECTED',
          compensated: 'REFUNDED',
        } satisfies Record<string, HoldStatus>,
        phases: { try: 'try', confirm: 'confirm', cancel: 'cancel', compensate: 'refund' },
      },
      resources: {
        table: 'wallets',
        id: 'customer_id',
        free: 'balance',
        held: 'held',
        final: 'captured',
        type: 'bigint',
      },
    },
    toBranch,
    reply,
    lines: {
      tried: (amount, customerId) => `held ${amount} of ${customerId}'s points`,
      confirmed: (amount, customerId) => `captured ${amount} of ${customerId}'s points`,
      released: (amount, customerId) => `released ${amount} of ${customerId}'s points`,
      compensated: (amount, customerId) => `refunded ${amount} to ${customerId}`,
    },
    expired: (orderId, fence) =>
      createMessage(
        'PaymentHoldExpired',
        { orderId, customerId: fence.resourceId, amount: fence.amount },
        { correlationId: orderId },
      ),
    expiredLog: (orderId, fence) => ({
      msg: 'hold expired and released',
      correlationId: orderId,
      customerId: fence.resourceId,
      amount: fence.amount,
    }),
  };
}

function toBranch(command: PaymentCommand): BranchCommand {
  const { orderId, customerId: resourceId } = command.payload;
  switch (command.type) {
    case 'PaymentTry':
      return {
        phase: 'try',
        orderId,
        resourceId,
        amount: command.payload.amount,
        deadline: new Date(command.payload.deadline),
        holdUntil: new Date(command.payload.holdUntil),
      };
    case 'PaymentConfirm':
      return { phase: 'confirm', orderId, resourceId };
    case 'PaymentCancel':
      return { phase: 'cancel', orderId, resourceId };
    case 'PaymentRefund':
      return { phase: 'compensate', orderId, resourceId };
  }
}

function reply(command: PaymentCommand, outcome: Outcome<PaymentReply>): PaymentReply {
  const { orderId, customerId } = command.payload;
  switch (outcome.kind) {
    case 'tried':
      return replyTo(command, 'PaymentHeld', {
        orderId,
        customerId,
        amount: outcome.amount,
        expiresAt: outcome.expiresAt.toISOString(),
      });
    case 'rejected':
      return replyTo(command, 'PaymentRejected', {
        orderId,
        customerId,
        reason: rejectionWord(outcome.reason, words),
      });
    case 'confirmed':
      return replyTo(command, 'PaymentCaptured', { orderId, customerId, amount: outcome.amount });
    case 'cancelled':
      return replyTo(command, 'PaymentReleased', {
        orderId,
        customerId,
        released: outcome.released,
        emptyRollback: outcome.effect === 'empty-rollback',
      });
    case 'compensated':
      return replyTo(command, 'PaymentRefunded', { orderId, customerId, amount: outcome.amount });
    case 'refused': {
      const type =
        command.type === 'PaymentConfirm'
          ? 'PaymentConfirmRefused'
          : command.type === 'PaymentCancel'
            ? 'PaymentCancelRefused'
            : 'PaymentRefundRefused';
      return replyTo(command, type, { orderId, customerId, reason: outcome.reason });
    }
    case 'replay':
    case 'expired':
    case 'foreign':
      throw new Error(`no new reply for a ${outcome.kind} outcome`);
  }
}
