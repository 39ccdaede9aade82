import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';

/*
 * W3C trace context (https://www.w3.org/TR/trace-context/): one trace id follows an order from
 * POST /orders through every Kafka message of its saga, in the `traceparent` header next to the
 * correlation id, so one order can be followed across the three services' logs (and by any
 * tracing backend that reads traceparent).
 */

export const TRACEPARENT_HEADER = 'traceparent';

export interface TraceContext {
  /** 32 hex characters, shared by every span of the trace */
  traceId: string;
  /** 16 hex characters: this service's unit of work (a request, a message) */
  spanId: string;
}

const storage = new AsyncLocalStorage<TraceContext>();
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/** The parent's trace context from a traceparent value, or undefined if absent or malformed. */
export function parseTraceparent(value: string | undefined | null): TraceContext | undefined {
  const m = value ? TRACEPARENT.exec(value.trim().toLowerCase()) : null;
  if (!m?.[1] || !m[2] || /^0+$/.test(m[1]) || /^0+$/.test(m[2])) return undefined;
  return { traceId: m[1], spanId: m[2] };
}

export function formatTraceparent(ctx: TraceContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-01`;
}

/**
 * Random ids are cut from a pool filled 4 KiB at a time: a span per request and per message made
 * `randomBytes` (an allocation and a call into OpenSSL each) about 1% of a service's CPU.
 */
const randomPool = Buffer.alloc(4_096);
let randomAt = randomPool.length;

function randomHex(bytes: number): string {
  for (;;) {
    if (randomAt + bytes > randomPool.length) {
      randomFillSync(randomPool);
      randomAt = 0;
    }
    const hex = randomPool.toString('hex', randomAt, (randomAt += bytes));
    if (!/^0+$/.test(hex)) return hex; // all zeros is not a valid id
  }
}

/** A new span: in the parent's trace if there is one, else in a new trace. */
export function childSpan(parent?: Pick<TraceContext, 'traceId'>): TraceContext {
  return {
    traceId: parent?.traceId ?? randomHex(16),
    spanId: randomHex(8),
  };
}

export function runInTrace<T>(ctx: TraceContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

export function currentTrace(): TraceContext | undefined {
  return storage.getStore();
}

/** The traceparent to put on a message sent now: the current span is its parent. */
export function outgoingTraceparent(): string | undefined {
  const ctx = currentTrace();
  return ctx ? formatTraceparent(ctx) : undefined;
}

interface MinimalRequest {
  headers: Record<string, string | string[] | undefined>;
}
interface MinimalResponse {
  setHeader(name: string, value: string): unknown;
}

/**
 * Runs `next` as a span of its own: every HTTP request is one, in the caller's trace if it sent a
 * traceparent header, else in a new trace; the response names it in its own traceparent header.
 * Takes Node's request and response, so any HTTP framework's first hook can call it.
 */
export function traceRequests(req: MinimalRequest, res: MinimalResponse, next: () => void): void {
  const given = req.headers[TRACEPARENT_HEADER];
  const span = childSpan(parseTraceparent(Array.isArray(given) ? given[0] : given));
  res.setHeader(TRACEPARENT_HEADER, formatTraceparent(span));
  runInTrace(span, next);
}
