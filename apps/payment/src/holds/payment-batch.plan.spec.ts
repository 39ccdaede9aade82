import { randomUUID } from 'node:crypto';
import { createMessage } from '@tcc/contracts';
import type { PaymentCommand, PaymentReply } from '@tcc/contracts';
import type { HoldStatus } from '../domain/hold-rules';
import { planHoldBatch } from './payment-batch.plan';
import type { HoldBatchState } from './payment-batch.plan';
import type { FenceRow } from './hold.fence';

/** Which leading commands the batch takes, and what it would write for them (no database). */
describe('planHoldBatch', () => {
  const now = new Date('2026-01-01T12:00:00Z');
  const at = (ms: number) => new Date(now.getTime() + ms).toISOString();
  const expiryOf = () => new Date(at(60_000));

  const attempt = (
    orderId: string,
    customerId: string,
    amount: number,
    deadlineMs = 10_000,
  ): PaymentCommand =>
    createMessage(
      'PaymentTry',
      { orderId, customerId, amount, deadline: at(deadlineMs), holdUntil: at(60_000) },
      { correlationId: orderId },
    );
  const confirm = (orderId: string, customerId: string): PaymentCommand =>
    createMessage('PaymentConfirm', { orderId, customerId }, { correlationId: orderId });
  const cancel = (orderId: string, customerId: string): PaymentCommand =>
    createMessage('PaymentCancel', { orderId, customerId }, { correlationId: orderId });
  const refund = (orderId: string, customerId: string): PaymentCommand =>
    createMessage('PaymentRefund', { orderId, customerId }, { correlationId: orderId });

  const hold = (customerId: string, amount: number, status: HoldStatus, phases = ['try']): FenceRow => ({
    customer_id: customerId,
    amount,
    status,
    replies: Object.fromEntries(phases.map((p) => [p, {} as PaymentReply])),
  });

  function state(
    wallets: Record<string, { balance: number; held: number }>,
    holds: Record<string, FenceRow> = {},
  ): HoldBatchState {
    return { wallets: new Map(Object.entries(wallets)), holds: new Map(Object.entries(holds)) };
  }

  const plan = (commands: PaymentCommand[], given: HoldBatchState) =>
    planHoldBatch(commands, given, now, expiryOf);
  const replies = (commands: PaymentCommand[], given: HoldBatchState) =>
    plan(commands, given).sent.map(({ reply }) => [
      reply.type,
      (reply.payload as { reason?: string }).reason ?? null,
    ]);

  it('decides each try from the balance the earlier ones left (a rejected one takes nothing)', () => {
    const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
    const given = state({ w: { balance: 250, held: 0 } });
    const commands = [attempt(a, 'w', 100), attempt(b, 'w', 200), attempt(c, 'w', 150)];
    expect(replies(commands, given)).toEqual([
      ['PaymentHeld', null],
      ['PaymentRejected', 'INSUFFICIENT_FUNDS'],
      ['PaymentHeld', null],
    ]);
    expect(plan(commands, given).wallets).toEqual([
      { customerId: 'w', readBalance: 250, readHeld: 0, balance: -250, held: 250, captured: 0 },
    ]);
  });

  it('writes what the locked path writes for a rejected try: a REJECTED hold, no wallet change', () => {
    const [late, lost] = [randomUUID(), randomUUID()];
    const given = state({ w: { balance: 1_000, held: 0 } });
    const result = plan([attempt(late, 'w', 10, -1), attempt(lost, 'nobody', 10)], given);
    expect(result.newHolds.map((h) => [h.status, h.reason, h.expiresAt])).toEqual([
      ['REJECTED', 'DEADLINE_PASSED', null],
      ['REJECTED', 'UNKNOWN_WALLET', null],
    ]);
    expect(result.wallets).toEqual([]);
  });

  it('settles HELD holds of the same customer with their amounts, and lets a release cover a later try', () => {
    const [held, released, next] = [randomUUID(), randomUUID(), randomUUID()];
    const given = state(
      { w: { balance: 0, held: 300 } },
      { [held]: hold('w', 100, 'HELD'), [released]: hold('w', 200, 'HELD') },
    );
    const result = plan([confirm(held, 'w'), cancel(released, 'w'), attempt(next, 'w', 200)], given);
    expect(result.sent.map((s) => [s.reply.type, s.reply.payload, s.what])).toEqual([
      ['PaymentCaptured', { orderId: held, customerId: 'w', amount: 100 }, "captured 100 of w's points"],
      [
        'PaymentReleased',
        { orderId: released, customerId: 'w', released: 200, emptyRollback: false },
        "released 200 of w's points",
      ],
      [
        'PaymentHeld',
        { orderId: next, customerId: 'w', amount: 200, expiresAt: at(60_000) },
        "held 200 of w's points",
      ],
    ]);
    expect(result.settlements.map((s) => [s.phase, s.status, s.amount])).toEqual([
      ['confirm', 'CAPTURED', 100],
      ['cancel', 'RELEASED', 200],
    ]);
    expect(result.wallets).toEqual([
      { customerId: 'w', readBalance: 0, readHeld: 300, balance: 0, held: -100, captured: 100 },
    ]);
  });

  const first = randomUUID();
  const order = randomUUID();
  it.each<[string, PaymentCommand, Record<string, FenceRow>]>([
    ['a duplicate try', attempt(order, 'w', 10), { [order]: hold('w', 10, 'HELD') }],
    ['a try after the cancel', attempt(order, 'w', 10), { [order]: hold('w', 0, 'RELEASED', ['cancel']) }],
    ['a confirm of no hold', confirm(order, 'w'), {}],
    ['a cancel of no hold (empty rollback)', cancel(order, 'w'), {}],
    ['a confirm of an expired hold', confirm(order, 'w'), { [order]: hold('w', 10, 'EXPIRED') }],
    ['a cancel of a rejected try', cancel(order, 'w'), { [order]: hold('w', 10, 'REJECTED') }],
    ['a duplicate confirm', confirm(order, 'w'), { [order]: hold('w', 10, 'CAPTURED', ['try', 'confirm']) }],
    [
      'a cancel after a refused one',
      cancel(order, 'w'),
      { [order]: hold('w', 10, 'HELD', ['try', 'cancel']) },
    ],
    ["another customer's hold", cancel(order, 'w'), { [order]: hold('v', 10, 'HELD') }],
    ['a refund', refund(order, 'w'), { [order]: hold('w', 10, 'CAPTURED', ['try', 'confirm']) }],
    ['a second command for an order of the batch', confirm(first, 'w'), {}],
  ])('stops before %s', (_case, command, holds) => {
    const given = state({ w: { balance: 1_000, held: 10 }, v: { balance: 0, held: 10 } }, holds);
    const result = plan([attempt(first, 'w', 10), command, attempt(randomUUID(), 'w', 10)], given);
    expect(result.sent).toHaveLength(1);
  });
});
