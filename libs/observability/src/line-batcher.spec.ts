import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { LineBatcher } from './line-batcher';

function recordingSink() {
  const chunks: string[] = [];
  const calls: string[] = [];
  return {
    chunks,
    calls,
    write: (chunk: string) => {
      chunks.push(chunk);
      calls.push('write');
    },
    flushSync: () => calls.push('flushSync'),
  };
}

describe('LineBatcher', () => {
  afterEach(() => jest.useRealTimers());

  it('hands the lines over as one chunk, in order, once flushMs has passed since the first', () => {
    jest.useFakeTimers();
    const sink = recordingSink();
    const batcher = new LineBatcher(sink, { maxChars: 1_000, flushMs: 50 });
    batcher.write('a\n');
    jest.advanceTimersByTime(30);
    batcher.write('b\n');
    batcher.write('c\n');
    jest.advanceTimersByTime(19);
    expect(sink.chunks).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(sink.chunks).toEqual(['a\nb\nc\n']);
    batcher.write('d\n');
    jest.advanceTimersByTime(50);
    expect(sink.chunks).toEqual(['a\nb\nc\n', 'd\n']);
    jest.advanceTimersByTime(500);
    expect(sink.chunks).toHaveLength(2); // nothing waiting: nothing handed over
  });

  it('hands them over at once when maxChars are waiting', () => {
    jest.useFakeTimers();
    const sink = recordingSink();
    const batcher = new LineBatcher(sink, { maxChars: 10, flushMs: 50 });
    batcher.write('12345\n');
    batcher.write('67890\n');
    expect(sink.chunks).toEqual(['12345\n67890\n']);
    batcher.write('x\n');
    jest.advanceTimersByTime(50);
    expect(sink.chunks).toEqual(['12345\n67890\n', 'x\n']);
  });

  it('flushSync writes what the sink holds, then the waiting lines, before it returns', () => {
    const sink = recordingSink();
    const batcher = new LineBatcher(sink, { maxChars: 1_000, flushMs: 50 });
    batcher.write('late\n');
    batcher.flushSync();
    expect(sink.calls).toEqual(['flushSync', 'write', 'flushSync']);
    expect(sink.chunks).toEqual(['late\n']);
  });

  it('carries pino lines to a file through SonicBoom intact (multi-byte characters too)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'line-batcher-'));
    try {
      const file = join(dir, 'out.log');
      const destination = pino.destination({ dest: file, sync: false });
      await once(destination, 'ready'); // a file is opened asynchronously (stdout is open already)
      const batcher = new LineBatcher(destination, { maxChars: 4_096, flushMs: 50 });
      const log = pino({ base: undefined, timestamp: false }, batcher);
      for (let i = 0; i < 2_000; i++) log.info({ i, word: 'Bestellung – 주문' }, `line ${i}`);
      batcher.flush();
      // SonicBoom writes the chunks one after another, asynchronously: it closes the file once
      // it has written all of them
      const closed = once(destination, 'close');
      destination.end();
      await closed;
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      expect(lines).toHaveLength(2_000);
      expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual(
        Array.from({ length: 2_000 }, (_, i) => i),
      );
      expect(JSON.parse(lines[1_999] ?? '{}')).toEqual({
        level: 30,
        i: 1_999,
        word: 'Bestellung – 주문',
        msg: 'line 1999',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
