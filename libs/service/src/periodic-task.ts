import { Logger } from '@nestjs/common';

/**
 * Runs `work` every `intervalMs` until stopped; again at once when it reports a full batch.
 * A failing round is logged and tried again next round: a sweeper or scheduler never dies.
 */
export class PeriodicTask {
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly log: Logger;

  constructor(
    readonly name: string,
    private readonly intervalMs: number,
    private readonly work: () => Promise<{ more: boolean } | void>,
  ) {
    this.log = new Logger(name);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let more = false;
      try {
        more = (await this.work())?.more ?? false;
      } catch (error) {
        this.log.error({ msg: `${this.name} round failed; trying again next round`, err: error });
      }
      if (!more) await this.pause();
    }
  }

  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, this.intervalMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
