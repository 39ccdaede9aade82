import { fixKafkajsIdleTimerLoop, kafkajsRequestQueue } from './request-queue-fix';

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
