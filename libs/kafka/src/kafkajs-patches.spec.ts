import { createRequire } from 'node:module';
import {
  fixKafkajsIdleTimerLoop,
  fixKafkajsVarintAllocations,
  kafkajsConsumerGroup,
  kafkajsEncoder,
  kafkajsRequestQueue,
  rediscoverCoordinatorOnHeartbeatFailure,
} from './kafkajs-patches';
import type { ConsumerGroupClass, EncoderClass } from './kafkajs-patches';

type Queue = ReturnType<typeof newQueue>;
type QueueClass = ReturnType<typeof kafkajsRequestQueue>;

const logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function newQueue(RequestQueue: QueueClass = kafkajsRequestQueue(), maxInFlightRequests = 1) {
  return new RequestQueue({
    maxInFlightRequests,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: 'localhost:9092',
    logger,
  }) as InstanceType<QueueClass> & {
    push(request: object): void;
    fulfillRequest(response: { correlationId: number; payload: null; size: number }): void;
    destroy(): void;
  };
}

/** A request as kafkajs' Connection pushes it; `sent` lists the correlation ids that went out. */
function push(queue: Queue, correlationId: number, sent: number[]): void {
  queue.push({
    entry: {
      correlationId,
      apiKey: 1,
      apiName: 'Fetch',
      apiVersion: 11,
      resolve: () => undefined,
      reject: () => undefined,
    },
    expectResponse: true,
    sendRequest: () => sent.push(correlationId),
  });
}

describe('fixKafkajsIdleTimerLoop', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('is needed: unfixed, kafkajs re-arms a 1 ms timer after every check of an empty queue', () => {
    // a copy of kafkajs' module that the fix has not touched
    let Unfixed: QueueClass | undefined;
    jest.isolateModules(() => {
      Unfixed =
        (jest.requireActual('kafkajs/src/network/requestQueue') as QueueClass | undefined) ?? undefined;
    });
    const queue = newQueue(Unfixed);
    queue.checkPendingRequests(); // what every response does
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(5);
    expect(jest.getTimerCount()).toBe(1); // fired five times and armed itself again each time
    queue.destroy();
  });

  it('leaves an idle queue without timers', () => {
    fixKafkajsIdleTimerLoop();
    const queue = newQueue();
    queue.checkPendingRequests();
    expect(jest.getTimerCount()).toBe(0);
  });

  it('still sends a request that waited for the in-flight limit, when the one before is answered', () => {
    fixKafkajsIdleTimerLoop();
    const queue = newQueue();
    const sent: number[] = [];
    push(queue, 1, sent);
    push(queue, 2, sent); // over the limit of one in flight: waits
    expect(sent).toEqual([1]);
    queue.fulfillRequest({ correlationId: 1, payload: null, size: 0 });
    expect(sent).toEqual([1, 2]);
    queue.fulfillRequest({ correlationId: 2, payload: null, size: 0 });
    jest.advanceTimersByTime(100);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('still sends a request that waited for a broker throttle, once the throttle ends', () => {
    fixKafkajsIdleTimerLoop();
    const queue = newQueue(undefined, 10);
    const sent: number[] = [];
    queue.throttledUntil = Date.now() + 50;
    push(queue, 1, sent);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(49);
    expect(sent).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(sent).toEqual([1]);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('applies once, however often it is called', () => {
    fixKafkajsIdleTimerLoop();
    const patched = kafkajsRequestQueue().prototype.scheduleCheckPendingRequests;
    fixKafkajsIdleTimerLoop();
    expect(kafkajsRequestQueue().prototype.scheduleCheckPendingRequests).toBe(patched);
  });
});

describe('fixKafkajsVarintAllocations', () => {
  type Encoder = InstanceType<EncoderClass> & {
    writeVarInt(value: number): Encoder;
    writeVarIntString(value: string | null): Encoder;
    writeVarIntBytes(value: string | Buffer | null): Encoder;
    readonly buffer: Buffer;
  };
  type RecordModules = {
    Record: (record: object) => unknown;
    RecordBatch: (batch: object) => Promise<{ buffer: Buffer }>;
  };
  /** kafkajs' record and record batch encoders, from `load` (jest.requireActual, maybe isolated). */
  const recordModules = (load: <T extends object>(path: string) => T): RecordModules => ({
    Record: load('kafkajs/src/protocol/recordBatch/record/v0'),
    RecordBatch: load<{ RecordBatch: RecordModules['RecordBatch'] }>('kafkajs/src/protocol/recordBatch/v0')
      .RecordBatch,
  });

  /** kafkajs' Encoder and record batch encoder from a module registry the fix has not touched. */
  function unfixed(): { Encoder: EncoderClass } & RecordModules {
    let modules: ({ Encoder: EncoderClass } & RecordModules) | undefined;
    jest.isolateModules(() => {
      modules = {
        Encoder: jest.requireActual<EncoderClass>('kafkajs/src/protocol/encoder'),
        ...recordModules(<T extends object>(path: string): T => jest.requireActual<T>(path)),
      };
    });
    if (!modules) throw new Error('kafkajs modules not loaded');
    return modules;
  }
  const values = [
    0,
    1,
    63,
    64,
    127,
    128,
    255,
    300,
    16_383,
    16_384,
    2 ** 21 - 1,
    2 ** 21,
    2 ** 28,
    2 ** 31 - 1,
    -1,
    -64,
    -65,
    -(2 ** 31),
  ];

  it('writes the bytes kafkajs wrote, for signed and unsigned varints, strings and bytes', () => {
    fixKafkajsVarintAllocations();
    const Fixed = kafkajsEncoder();
    const { Encoder: Original } = unfixed();
    expect(Fixed.prototype.writeUVarInt).not.toBe(Original.prototype.writeUVarInt);
    const write = (E: EncoderClass) => {
      const e = new E(4) as Encoder; // small, so the buffer has to grow on the way
      for (const v of values) e.writeVarInt(v);
      for (const v of values.filter((x) => x >= 0)) e.writeUVarInt(v);
      e.writeVarIntString('tcc.stock.commands').writeVarIntString(null).writeVarIntString('주문 ü');
      e.writeVarIntBytes(Buffer.from('x'.repeat(200)))
        .writeVarIntBytes(null)
        .writeVarIntBytes('{"a":1}');
      return e.buffer;
    };
    expect(write(Fixed).equals(write(Original))).toBe(true);
  });

  it('encodes a record batch with headers exactly as kafkajs did', async () => {
    fixKafkajsVarintAllocations();
    // the modules kafkajs itself runs with, as the fix sees them (Node's loader, not Jest's registry)
    const kafkajsRequire = createRequire(require.resolve('kafkajs'));
    const fixed = recordModules(
      <T extends object>(path: string): T => kafkajsRequire(path.replace('kafkajs/', './')) as T,
    );
    expect((kafkajsRequire('./src/protocol/encoder') as EncoderClass).prototype.writeUVarInt).toBe(
      kafkajsEncoder().prototype.writeUVarInt,
    );
    const original = unfixed();
    expect(original.Encoder.prototype.writeUVarInt).not.toBe(kafkajsEncoder().prototype.writeUVarInt);
    const batch = (m: RecordModules) => ({
      firstTimestamp: 1_765_000_000_000,
      maxTimestamp: 1_765_000_000_123,
      lastOffsetDelta: 2,
      records: [0, 1, 2].map((i) =>
        m.Record({
          offsetDelta: i,
          timestampDelta: i * 61,
          key: `product-${i}`,
          value: JSON.stringify({ i, text: 'x'.repeat(i * 150) }),
          headers: {
            'x-message-id': `id-${i}`,
            traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
          },
        }),
      ),
    });
    const [a, b] = await Promise.all([
      fixed.RecordBatch(batch(fixed)),
      original.RecordBatch(batch(original)),
    ]);
    expect(a.buffer.length).toBeGreaterThan(400);
    expect(Buffer.compare(a.buffer, b.buffer)).toBe(0);
  });
});

describe('rediscoverCoordinatorOnHeartbeatFailure', () => {
  interface Kafkajs {
    ConsumerGroup: ConsumerGroupClass & (new (options: object) => Group);
    errors: {
      isRebalancing(e: unknown): boolean;
      KafkaJSConnectionError: new (message: string, options?: object) => Error;
      KafkaJSProtocolError: new (e: object) => Error;
    };
    createErrorFromCode(code: number): Error;
  }
  interface Group {
    memberId: string | null;
    coordinator: { heartbeat(): Promise<void> };
    heartbeat(args: { interval: number }): Promise<void>;
  }

  /** A copy of kafkajs' consumer group and errors that no test has patched. */
  function kafkajsCopy(): Kafkajs {
    let copy: Kafkajs | undefined;
    jest.isolateModules(() => {
      copy = {
        ConsumerGroup: jest.requireActual('kafkajs/src/consumer/consumerGroup'),
        errors: jest.requireActual('kafkajs/src/errors'),
        createErrorFromCode: jest.requireActual<Kafkajs>('kafkajs/src/protocol/error').createErrorFromCode,
      };
    });
    if (!copy) throw new Error('no kafkajs copy');
    return copy;
  }

  /** A member of a group whose coordinator answers each heartbeat with `answer`. */
  function member(k: Kafkajs, answer: () => Promise<void>): { group: Group; warnings: string[] } {
    const warnings: string[] = [];
    const log = { ...logger, warn: (message: string) => warnings.push(message) };
    const group = new k.ConsumerGroup({
      retry: {},
      cluster: {},
      groupId: 'tcc-order',
      topics: [],
      logger: { namespace: () => log },
      instrumentationEmitter: { emit: () => undefined },
    });
    group.memberId = 'member-1';
    group.coordinator = { heartbeat: answer };
    return { group, warnings };
  }

  const unreachable = (k: Kafkajs) => () =>
    Promise.reject(
      new k.errors.KafkaJSConnectionError('Connection error: connect ECONNREFUSED 127.0.0.1:9092', {
        code: 'ECONNREFUSED',
      }),
    );

  it('is needed: unpatched, an unreachable coordinator is an error the runner only retries, on the same coordinator', async () => {
    const k = kafkajsCopy();
    const error = await member(k, unreachable(k))
      .group.heartbeat({ interval: 0 })
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe('KafkaJSConnectionError');
    expect(k.errors.isRebalancing(error)).toBe(false);
  });

  it('answers an unreachable coordinator as one that is no longer the coordinator, so the runner finds it again and rejoins', async () => {
    const k = kafkajsCopy();
    rediscoverCoordinatorOnHeartbeatFailure(k.ConsumerGroup, k.createErrorFromCode);
    const { group, warnings } = member(k, unreachable(k));
    const error = (await group.heartbeat({ interval: 0 }).catch((e: unknown) => e)) as Error & {
      type: string;
    };
    expect(error.type).toBe('NOT_COORDINATOR_FOR_GROUP');
    expect(k.errors.isRebalancing(error)).toBe(true);
    expect((error.cause as Error).message).toContain('ECONNREFUSED');
    expect(warnings).toEqual(['group coordinator unreachable; finding it again and rejoining']);
  });

  it('leaves every other answer of the coordinator as it was', async () => {
    const k = kafkajsCopy();
    rediscoverCoordinatorOnHeartbeatFailure(k.ConsumerGroup, k.createErrorFromCode);
    const unknownMember = k.createErrorFromCode(25);
    const refused = await member(k, () => Promise.reject(unknownMember))
      .group.heartbeat({ interval: 0 })
      .catch((e: unknown) => e);
    expect(refused).toBe(unknownMember);
    let beats = 0;
    const { group, warnings } = member(k, async () => void beats++);
    await group.heartbeat({ interval: 0 });
    expect(beats).toBe(1);
    expect(warnings).toEqual([]);
  });

  it('is applied to the kafkajs the services load', () => {
    expect(kafkajsConsumerGroupHeartbeat().name).toBe('heartbeatOrRediscover');
  });
});

function kafkajsConsumerGroupHeartbeat(): (...args: unknown[]) => unknown {
  // loading the client applies the patches, as every service does
  jest.requireActual('./kafka.client');
  return kafkajsConsumerGroup().prototype.heartbeat as (...args: unknown[]) => unknown;
}
