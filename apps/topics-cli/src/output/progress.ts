/**
 * A progress line on stderr for long scans, redrawn at most every 200 ms, and only when stderr is a
 * terminal: piped output and --json stay clean.
 */
export class Progress {
  private last = 0;
  private shown = false;

  constructor(
    private readonly label: string,
    private readonly enabled = Boolean(process.stderr.isTTY),
  ) {}

  update(done: bigint, total: bigint): void {
    if (!this.enabled || total < 500n) return;
    const now = Date.now();
    if (now - this.last < 200 && done < total) return;
    this.last = now;
    const pct = total === 0n ? 100n : (done * 100n) / total;
    process.stderr.write(`\r${this.label}: ${done}/${total} messages (${pct}%)`);
    this.shown = true;
  }

  done(): void {
    if (this.shown) process.stderr.write('\r\x1b[K');
  }
}
