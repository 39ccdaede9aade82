import { counter } from '@tcc/observability';
import { PeriodicTask } from './periodic-task';

const BATCH = 100;

const expired = counter({
  name: 'tcc_reservations_expired_total',
  help: 'Reservations (stock) and holds (payment) the sweeper released after their time to live',
  labelNames: ['participant'],
});

/**
 * A participant's sweeper: every interval, release what outlived its time to live (in batches,
 * at once again while a batch comes back full) and count it.
 */
export function expirySweeper(
  participant: string,
  intervalMs: number,
  expireOverdue: (limit: number) => Promise<number>,
): PeriodicTask {
  return new PeriodicTask(`${participant}-expiry-sweeper`, intervalMs, async () => {
    const released = await expireOverdue(BATCH);
    expired.inc({ participant }, released);
    return { more: released === BATCH };
  });
}
