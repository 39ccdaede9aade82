import {
  childSpan,
  currentTrace,
  formatTraceparent,
  outgoingTraceparent,
  parseTraceparent,
  runInTrace,
} from './trace-context';

describe('W3C trace context', () => {
  const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

  it('reads a traceparent and writes one back', () => {
    const ctx = parseTraceparent(parent);
    expect(ctx).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
    expect(formatTraceparent(ctx!)).toBe(parent);
  });

  it.each([
    undefined,
    '',
    'garbage',
    '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`,
  ])('ignores %p', (value) => expect(parseTraceparent(value)).toBeUndefined());

  it('keeps the trace id across spans and starts a new trace without a parent', () => {
    const ctx = parseTraceparent(parent);
    const child = childSpan(ctx);
    expect(child.traceId).toBe(ctx?.traceId);
    expect(child.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(child.spanId).not.toBe(ctx?.spanId);
    expect(childSpan().traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('gives every span its own ids, across refills of the random pool', () => {
    const spans = Array.from({ length: 2_000 }, () => childSpan()); // 48 000 bytes: twelve refills
    expect(new Set(spans.map((s) => s.spanId)).size).toBe(spans.length);
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(spans.length);
    for (const s of spans) expect(formatTraceparent(s)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });

  it('carries the current span through async work, and names it as the parent of outgoing messages', async () => {
    const span = childSpan();
    expect(outgoingTraceparent()).toBeUndefined();
    await runInTrace(span, async () => {
      await new Promise((r) => setImmediate(r)); // across a turn of the event loop
      expect(currentTrace()).toEqual(span);
      expect(outgoingTraceparent()).toBe(formatTraceparent(span));
    });
  });
});
