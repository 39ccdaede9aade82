import { createRequire } from 'node:module';

/** What the fix reads and writes of kafkajs' RequestQueue (src/network/requestQueue). */
interface RequestQueueLike {
  pending: unknown[];
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  checkPendingRequests(): void;
  scheduleCheckPendingRequests(): void;
}
type RequestQueueClass = { prototype: RequestQueueLike } & (new (options: object) => RequestQueueLike);

/** kafkajs' own CHECK_PENDING_REQUESTS_INTERVAL: how soon a waiting request is looked at again. */
const CHECK_PENDING_MS = 10;

/** kafkajs' RequestQueue, the very module kafkajs itself loaded (resolved from its own folder). */
export function kafkajsRequestQueue(): RequestQueueClass {
  return createRequire(require.resolve('kafkajs'))('./src/network/requestQueue') as RequestQueueClass;
}

const FIXED = Symbol.for('tcc.kafkajs.requestQueueFixed');

/**
 * kafkajs 2.2.4 (the last release) keeps a timer loop running on every broker connection while
 * nothing waits to be sent: after each response `scheduleCheckPendingRequests` arms a timer with
 * `throttledUntil - now`, which is negative when the connection is not throttled (-1 - now), so
 * Node fires it after 1 ms, and the check it runs arms the next one (tulios/kafkajs#1556, #1704;
 * the fix proposed upstream in #1667 is unreleased). A service has a handful of connections
 * (producer, consumer group, coordinator), so an idle service woke about 1 600 times a second, and
 * so did the broker's share of it: measured here, an idle stock service went from 1 650 to 310
 * event-loop turns a second with this fix, the three idle services from 5-6% of a core each to
 * 3%, and Kafka from 8% to 4%.
 *
 * The replacement arms the timer only when a request is waiting (the queue is throttled or has
 * its in-flight limit reached), as upstream meant it to: a request only ever waits after `push`,
 * which schedules the check itself, and a response arriving checks the queue again anyway.
 * Applied once per process, when this library is loaded; kafkajs' other behaviour is unchanged.
 */
export function fixKafkajsIdleTimerLoop(RequestQueue: RequestQueueClass = kafkajsRequestQueue()): void {
  const proto = RequestQueue.prototype as RequestQueueLike & { [FIXED]?: true };
  if (typeof proto.scheduleCheckPendingRequests !== 'function')
    throw new Error('kafkajs RequestQueue has no scheduleCheckPendingRequests: review request-queue-fix.ts');
  if (proto[FIXED]) return;
  proto.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueLike) {
    if (this.throttleCheckTimeoutId || this.pending.length === 0) return;
    const untilUnthrottled = this.throttledUntil - Date.now();
    this.throttleCheckTimeoutId = setTimeout(
      () => {
        this.throttleCheckTimeoutId = null;
        this.checkPendingRequests();
      },
      untilUnthrottled > 0 ? untilUnthrottled : CHECK_PENDING_MS,
    );
  };
  proto[FIXED] = true;
}
