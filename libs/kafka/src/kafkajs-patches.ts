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

/**
 * A module of kafkajs' own, the very one kafkajs itself loaded (resolved from its own folder, by
 * Node's loader). Under Jest, which keeps a registry of its own, that is Node's copy, not the one a
 * test imports; the services, their processes in the e2e tests included, run on Node's.
 */
function kafkajsModule<T>(path: string): T {
  return createRequire(require.resolve('kafkajs'))(path) as T;
}

export function kafkajsRequestQueue(): RequestQueueClass {
  return kafkajsModule<RequestQueueClass>('./src/network/requestQueue');
}

const FIXED = Symbol.for('tcc.kafkajs.patched');

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
    throw new Error('kafkajs RequestQueue has no scheduleCheckPendingRequests: review kafkajs-patches.ts');
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

/** What the fix uses of kafkajs' Encoder (src/protocol/encoder). */
interface EncoderLike {
  buf: Buffer;
  offset: number;
  ensureAvailable(length: number): void;
  writeUVarInt(value: number): EncoderLike;
}
export type EncoderClass = { prototype: EncoderLike } & (new (initialSize?: number) => EncoderLike);

export function kafkajsEncoder(): EncoderClass {
  return kafkajsModule<EncoderClass>('./src/protocol/encoder');
}

/**
 * kafkajs writes each unsigned varint (every record's length, offset delta, key and value lengths,
 * header count, and each header's key and value lengths: about twenty per message here) by
 * pushing its bytes into a new array and copying that into a new Buffer: 6% of what each service
 * allocated at 300 orders/s. The replacement writes the same bytes (LEB128, 7 bits at a time, the
 * high bit set on all but the last) straight into the encoder's buffer.
 */
export function fixKafkajsVarintAllocations(Encoder: EncoderClass = kafkajsEncoder()): void {
  const proto = Encoder.prototype as EncoderLike & { [FIXED]?: true };
  if (typeof proto.writeUVarInt !== 'function' || typeof proto.ensureAvailable !== 'function')
    throw new Error('kafkajs Encoder has no writeUVarInt/ensureAvailable: review kafkajs-patches.ts');
  if (proto[FIXED]) return;
  proto.writeUVarInt = function writeUVarInt(this: EncoderLike, value: number) {
    this.ensureAvailable(5); // a 32-bit value takes at most five
    let v = value;
    while ((v & 0xffffff80) !== 0) {
      this.buf[this.offset++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[this.offset++] = v & 0x7f;
    return this;
  };
  proto[FIXED] = true;
}

/** What the fix uses of kafkajs' ConsumerGroup (src/consumer/consumerGroup). */
interface ConsumerGroupLike {
  groupId: string;
  memberId: string | null;
  logger: { warn(message: string, extra?: object): void };
  heartbeat(args: { interval: number }): Promise<void>;
}
export type ConsumerGroupClass = { prototype: ConsumerGroupLike };

export function kafkajsConsumerGroup(): ConsumerGroupClass {
  return kafkajsModule<ConsumerGroupClass>('./src/consumer/consumerGroup');
}

/** kafkajs' protocol error for code 16, which its runner answers by finding the coordinator again */
const NOT_COORDINATOR = 16;

/** errors that say the coordinator could not be reached, not that it refused */
const UNREACHABLE = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
]);

/**
 * kafkajs 2.2.4 looks for a group's coordinator only when it joins the group. When the broker that
 * coordinates the group dies, every heartbeat goes to it again and fails to connect; the consumer
 * fetches nothing, retries with backoff until its retries run out (seconds to tens of seconds),
 * and then restarts as a new member, whose join waits for the old members' sessions to expire on
 * the new coordinator. Measured here with a three-broker cluster: 16-26 s without messages on the
 * group's partitions, longer than the order service's try deadline.
 *
 * The replacement answers a heartbeat that could not reach the coordinator as the coordinator
 * would answer one sent to the wrong broker (NOT_COORDINATOR): kafkajs' runner then finds the
 * group's coordinator again (retrying while the cluster elects a new leader for the group's
 * offsets partition) and rejoins with the same member id, as the Java client and librdkafka do.
 * Every other outcome of the heartbeat is unchanged.
 */
export function rediscoverCoordinatorOnHeartbeatFailure(
  ConsumerGroup: ConsumerGroupClass = kafkajsConsumerGroup(),
  createErrorFromCode: (code: number) => Error = kafkajsModule<{
    createErrorFromCode: (code: number) => Error;
  }>('./src/protocol/error').createErrorFromCode,
): void {
  const proto = ConsumerGroup.prototype as ConsumerGroupLike & { [FIXED]?: true };
  if (typeof proto.heartbeat !== 'function')
    throw new Error('kafkajs ConsumerGroup has no heartbeat: review kafkajs-patches.ts');
  if (proto[FIXED]) return;
  const heartbeat = proto.heartbeat;
  proto.heartbeat = async function heartbeatOrRediscover(
    this: ConsumerGroupLike,
    args: { interval: number },
  ) {
    try {
      await heartbeat.call(this, args);
    } catch (error) {
      if (!UNREACHABLE.has((error as Error).name)) throw error;
      this.logger.warn('group coordinator unreachable; finding it again and rejoining', {
        groupId: this.groupId,
        memberId: this.memberId,
        error: (error as Error).message,
      });
      const notCoordinator = createErrorFromCode(NOT_COORDINATOR);
      notCoordinator.cause = error;
      throw notCoordinator;
    }
  };
  proto[FIXED] = true;
}
