import type { DestinationStream } from 'pino';

/** What LineBatcher needs of the stream it hands chunks to (pino's SonicBoom destination). */
export interface ChunkSink {
  write(chunk: string): unknown;
  flushSync(): void;
}

export interface LineBatcherOptions {
  /** hand the lines over once they reach this many characters (about bytes: the lines are JSON) */
  maxChars: number;
  /** and at the latest this long after the first of them was written */
  flushMs: number;
}

/**
 * Collects log lines and hands them to the sink as one string per chunk: at most `flushMs` after a
 * line was written, or sooner once `maxChars` are waiting; at process exit, synchronously.
 *
 * Why not SonicBoom's own minLength: it appends each line to its last buffer (`buf += line`) and
 * then asks `Buffer.byteLength` of that buffer, which flattens the growing string, so collecting
 * N bytes of lines allocates about N²/(2 × line length) bytes. With 64 KiB chunks that was a sixth
 * of everything the order service allocated at 300 orders/s (with the earlier 4 KiB chunks it
 * was smaller, not measured, and as quadratic); the lines here are kept in an array
 * and joined once per chunk, and SonicBoom (which does the writing, EAGAIN retries and all) is
 * handed one flat string at a time.
 */
export class LineBatcher implements DestinationStream {
  private lines: string[] = [];
  private chars = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly sink: ChunkSink,
    private readonly options: LineBatcherOptions,
  ) {
    // process.exit(): the lines still here, after what the sink holds, whichever handler runs
    // first. (A process that ends by running out of work keeps running until the timer below has
    // handed its lines over: it is not unref'd.)
    process.on('exit', () => {
      try {
        this.flushSync();
      } catch {
        // the sink was closed already: nothing can be written any more
      }
    });
  }

  write(line: string): void {
    this.lines.push(line);
    this.chars += line.length;
    if (this.chars >= this.options.maxChars) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), this.options.flushMs);
  }

  /** Hands what is waiting to the sink now. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.lines.length === 0) return;
    const chunk = this.lines.join('');
    this.lines = [];
    this.chars = 0;
    this.sink.write(chunk);
  }

  /** Writes what the sink holds and then what is waiting here, before the call returns. */
  flushSync(): void {
    this.sink.flushSync();
    this.flush();
    this.sink.flushSync();
  }
}
