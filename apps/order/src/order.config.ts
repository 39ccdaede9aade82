import { z } from 'zod';
import { consumerConfigShape, env, serviceConfigShape } from '@tcc/config';

/** The saga's timeouts, named in one place with their defaults. */
export const orderConfigSchema = z.object({
  ...serviceConfigShape,
  ...consumerConfigShape,
  KAFKA_GROUP_ID: env.string('tcc-order'),
  /**
   * the try phase's deadline: past it, the order cancels every participant (reason TIMEOUT). It
   * must outlast what a crash costs a command or a reply in flight: an instance's takeover
   * (session timeout + rejoin, about 8 s) or a broker's (fencing, a new leader and coordinator,
   * a request that hung on the dead broker: up to about 12 s), with room for the backlog (ADR 0011)
   */
  ORDER_TRY_TIMEOUT_MS: env.int({ min: 100, max: 3_600_000, fallback: 20_000 }),
  /** how long after the deadline participants must keep what they hold, for the confirm to arrive */
  ORDER_CONFIRM_WINDOW_MS: env.int({ min: 1_000, max: 7 * 24 * 3_600_000, fallback: 120_000 }),
  /**
   * confirm/cancel commands without an answer are sent again after this, doubling up to the max.
   * Long on purpose: under load replies are late, not lost, and re-sending early multiplies the
   * load that made them late (the benchmark saw a retry storm with 5 s).
   */
  ORDER_RETRY_INITIAL_MS: env.int({ min: 50, max: 3_600_000, fallback: 30_000 }),
  ORDER_RETRY_MAX_MS: env.int({ min: 50, max: 24 * 3_600_000, fallback: 300_000 }),
  /**
   * POST /orders answers 503 (Retry-After: 1) while this many orders are neither confirmed nor
   * cancelled, across every instance: past the machine's knee, taking on more only makes every
   * order late and lets try deadlines cancel them. A few seconds of the machine's throughput.
   */
  ORDER_MAX_IN_PROGRESS: env.int({ min: 1, max: 10_000_000, fallback: 2_000 }),
  /** ... and while its event loop is behind by more than this on average (over 500 ms) */
  ORDER_MAX_LOOP_DELAY_MS: env.int({ min: 1, max: 600_000, fallback: 100 }),
  /**
   * POST /orders a customer (the token's subject) may send per minute to one instance; over it,
   * 429 with Retry-After. Generous: it stops a runaway client, not a busy customer. 0: no limit
   */
  ORDER_RATE_LIMIT_PER_MINUTE: env.int({ min: 0, max: 10_000_000, fallback: 1_200 }),
  /** how often deadlines and retries are looked for */
  ORDER_SCHEDULER_INTERVAL_MS: env.int({ min: 10, max: 60_000, fallback: 250 }),
});
export type OrderConfig = z.infer<typeof orderConfigSchema>;
