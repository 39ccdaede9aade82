import { createMessage } from '@tcc/contracts';
import { given, held, reserved } from '../../test/saga-fixtures';
import { placeOrders, selectDue, selectInProgressCount, writeStep, writeSteps } from './order.sql';
import type { NewOrder, OrderChange, Statement } from './order.sql';

/*
 * The statements are prepared once per connection by their text, so a statement's text must
 * depend on its shape only, never on how many orders, lines or commands it carries.
 */

/** Every `$n` of the text, each once, numbered 1..values.length. */
function placeholders({ text, values }: Statement): boolean {
  const used = new Set([...text.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])));
  return used.size === values.length && [...used].every((n) => n >= 1 && n <= values.length);
}

function newOrder(lines: [string, number][]): NewOrder {
  const start = given(lines);
  return {
    idempotencyKey: `key-${Math.random()}`,
    requestHash: 'hash',
    deadline: new Date(start.state.deadline),
    holdUntil: new Date(start.state.holdUntil),
    traceId: null,
    start,
    messages: start.commands.map((c) =>
      createMessage(c.type, c.payload as never, { correlationId: start.state.orderId }),
    ),
    headers: {},
  };
}

function change(events: Parameters<typeof given>[1][], retry: OrderChange['retry'] = 'keep'): OrderChange {
  const d = given([['keyboard', 1]], ...events);
  return {
    before: { version: events.length },
    next: { state: d.state, applied: [] },
    timeline: d.timeline,
    messages: d.commands.map((c) =>
      createMessage(c.type, c.payload as never, { correlationId: d.state.orderId }),
    ),
    retry,
    appliedId: null,
  };
}

describe('order statements', () => {
  it('placing one order or several is the same text', () => {
    const one = placeOrders([newOrder([['keyboard', 1]])], {});
    const three = placeOrders(
      [
        newOrder([['keyboard', 1]]),
        newOrder([
          ['mouse', 1],
          ['cable', 2],
        ]),
        newOrder([['pad', 1]]),
      ],
      {},
    );
    expect(three.text).toBe(one.text);
    expect(placeholders(one)).toBe(true);
  });

  it('a step with commands writes them with its order; one without has no outbox part', () => {
    const withCommands = writeStep(change([reserved('keyboard', 1)]), {});
    expect(withCommands.text).toContain('INSERT INTO outbox');
    expect(placeholders(withCommands)).toBe(true);
    const without = writeStep(change([reserved('keyboard', 1), held(1), reserved('keyboard', 1)]), {});
    expect(without.text).not.toContain('INSERT INTO outbox');
  });

  it('a step written by the service that sends its commands returns their ids instead of waking the relay', () => {
    const step = change([reserved('keyboard', 1)]);
    expect(writeStep(step, { relayAfterMs: 5_000 }).text).toContain('outbox_ids');
    expect(writeStep(step, {}).text).toContain('pg_notify');
  });

  it('writing the steps of one reply or of several is the same text, and records the timeline once', () => {
    const headers = (steps: OrderChange[]) => steps.flatMap((s) => s.messages.map(() => ({})));
    const oneStep = [change([reserved('keyboard', 1)])];
    const twoSteps = [
      change([reserved('keyboard', 1)], { at: null, count: 0 }),
      change([reserved('keyboard', 1), held(1)]),
    ];
    const one = writeSteps(oneStep, headers(oneStep), {});
    const two = writeSteps(twoSteps, headers(twoSteps), {});
    expect(two.text).toBe(one.text);
    expect(two.text.match(/INSERT INTO order_timeline/g)).toHaveLength(1);
    expect(placeholders(two)).toBe(true);
  });

  it('looks for due orders by the predicates of the scheduler partial indexes', () => {
    expect(selectDue('deadline', 100).text).toContain(`status = 'TRYING' AND deadline_at < now()`);
    expect(selectDue('retry', 100).text).toContain(
      `status IN ('CONFIRMING', 'CANCELLING') AND next_retry_at < now()`,
    );
    expect(selectInProgressCount().text).toContain(`status IN ('CONFIRMING', 'CANCELLING')`);
  });
});
