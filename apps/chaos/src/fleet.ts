import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, ServiceProcess } from '@tcc/testing';
import type { ServiceName } from './plan';

type State = 'starting' | 'up' | 'down' | 'removed';

export interface Instance {
  id: string;
  service: ServiceName;
  port: number;
  /** where its /metrics is served (METRICS_PORT) */
  metricsPort: number;
  state: State;
  proc?: ServiceProcess;
}

export interface FleetStats {
  kills: Record<ServiceName, number>;
  restarts: Record<ServiceName, number>;
  added: string[];
  removed: string[];
  /** instances that died without being killed, while up: always a finding */
  unexpectedExits: string[];
  /** starts that failed (e.g. while Kafka or PostgreSQL was down) and were tried again */
  failedStarts: number;
  /** instances still running well after SIGTERM (past SHUTDOWN_TIMEOUT_MS): always a finding */
  shutdownHangs: string[];
  /** instances that exited non-zero after SIGTERM (e.g. ended by SHUTDOWN_TIMEOUT_MS): reported */
  uncleanShutdowns: string[];
}

const counts = (): Record<ServiceName, number> => ({ order: 0, stock: 0, payment: 0 });

/**
 * The services as real processes (node apps/<service>/dist/main.js), several instances of one
 * service sharing its database and consumer group. Kills with SIGKILL and restarts; a watchdog
 * notices an instance that died on its own, records it and starts it again.
 */
export class Fleet {
  private readonly instances: Instance[] = [];
  private readonly next = counts();
  private watchdog: NodeJS.Timeout | undefined;
  private closing = false;
  readonly stats: FleetStats = {
    kills: counts(),
    restarts: counts(),
    added: [],
    removed: [],
    unexpectedExits: [],
    failedStarts: 0,
    shutdownHangs: [],
    uncleanShutdowns: [],
  };

  constructor(
    /** the environment of an instance's process */
    private readonly envOf: (instance: Instance) => Record<string, string>,
    private readonly logDir: string,
    private readonly log: (message: string) => void,
    /** how long a SIGTERMed instance may take to exit (a little more than its SHUTDOWN_TIMEOUT_MS) */
    private readonly shutdownLimitMs: number,
  ) {}

  all(): readonly Instance[] {
    return this.instances;
  }

  live(service: ServiceName): Instance[] {
    return this.instances.filter((i) => i.service === service && i.state === 'up');
  }

  url(service: ServiceName): string {
    const up = this.live(service)[0] ?? this.instances.find((i) => i.service === service);
    if (!up) throw new Error(`no ${service} instance`);
    return `http://127.0.0.1:${up.port}`;
  }

  /** Starts one more instance of the service and waits until it is healthy. */
  async add(service: ServiceName): Promise<Instance> {
    this.next[service]++;
    const instance: Instance = {
      id: `${service}#${this.next[service]}`,
      service,
      port: await freePort(),
      metricsPort: await freePort(),
      state: 'starting',
    };
    this.instances.push(instance);
    await this.launch(instance);
    return instance;
  }

  /** Starts the instance's process, again and again while it exits during startup, until healthy. */
  private async launch(instance: Instance, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const logFile = join(this.logDir, `${instance.id.replace('#', '-')}.log`);
    for (;;) {
      if (this.closing) return;
      instance.state = 'starting';
      instance.proc = ServiceProcess.start(instance.service, this.envOf(instance), logFile);
      try {
        await instance.proc.waitHealthy(Math.max(1_000, deadline - Date.now()));
        instance.state = 'up';
        return;
      } catch (error) {
        if (instance.proc.running) await instance.proc.stop('SIGKILL').catch(() => undefined);
        if (this.closing) return;
        if (Date.now() >= deadline)
          throw new Error(`${instance.id} did not become healthy: ${(error as Error).message.slice(0, 500)}`);
        this.stats.failedStarts++;
        this.log(`${instance.id} exited during startup; starting it again`);
        await sleep(1_000);
      }
    }
  }

  /** An up instance of the service, `victim` picking among them; waits a while for one to be up. */
  private async pick(service: ServiceName, victim: number, minLive = 1): Promise<Instance | undefined> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const live = this.live(service);
      if (live.length >= minLive) return live[victim % live.length];
      if (Date.now() > deadline) return undefined;
      await sleep(200);
    }
  }

  /** SIGKILL one instance of the service, then start it again downMs later. */
  async kill(
    service: ServiceName,
    victim: number,
    downMs: number,
    onKilled: () => void = () => {},
  ): Promise<string | undefined> {
    const instance = await this.pick(service, victim);
    if (!instance?.proc) return undefined;
    instance.state = 'down';
    await instance.proc.stop('SIGKILL');
    this.stats.kills[service]++;
    this.log(`killed ${instance.id} (SIGKILL, pid ${instance.proc.pid}); restarting in ${downMs} ms`);
    onKilled();
    await sleep(downMs);
    await this.launch(instance);
    this.stats.restarts[service]++;
    this.log(`${instance.id} restarted and healthy`);
    return instance.id;
  }

  /** A new instance joins the service's consumer group. */
  async scaleUp(service: ServiceName): Promise<string> {
    const instance = await this.add(service);
    this.stats.added.push(instance.id);
    this.log(`added ${instance.id}: healthy, joined the ${service} consumer group`);
    return instance.id;
  }

  /** One instance leaves for good (SIGTERM: it finishes its message, leaves the group). */
  async scaleDown(service: ServiceName, victim: number): Promise<string | undefined> {
    const instance = await this.pick(service, victim, 2);
    if (!instance?.proc) return undefined;
    instance.state = 'removed';
    try {
      const { code } = await instance.proc.stop('SIGTERM', this.shutdownLimitMs);
      if (code !== 0) {
        this.stats.uncleanShutdowns.push(`${instance.id} exited ${code} after SIGTERM`);
        this.log(`NOTE: ${instance.id} exited ${code} after SIGTERM (see its log: shutdown took too long?)`);
      }
      this.log(`removed ${instance.id} (SIGTERM): it left the ${service} consumer group`);
    } catch {
      // ServiceProcess.stop has SIGKILLed it
      this.stats.shutdownHangs.push(instance.id);
      this.log(
        `UNEXPECTED: ${instance.id} was still running ${this.shutdownLimitMs} ms after SIGTERM; killed it`,
      );
    }
    this.stats.removed.push(instance.id);
    return instance.id;
  }

  startWatchdog(): void {
    this.watchdog = setInterval(() => {
      for (const instance of this.instances) {
        if (instance.state !== 'up' || instance.proc?.running !== false) continue;
        instance.state = 'down';
        this.stats.unexpectedExits.push(instance.id);
        this.log(`UNEXPECTED: ${instance.id} exited by itself; starting it again`);
        void this.launch(instance)
          .then(() => this.log(`${instance.id} back after its unexpected exit`))
          .catch((error: Error) => this.log(`${instance.id} could not be restarted: ${error.message}`));
      }
    }, 500);
  }

  /** Every instance that should run (not removed) is up. */
  allUp(): boolean {
    return this.instances.every((i) => i.state === 'up' || i.state === 'removed');
  }

  async stopAll(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    this.closing = true;
    if (this.watchdog) clearInterval(this.watchdog);
    await Promise.all(
      this.instances.map(async (i) => {
        if (!i.proc?.running) return;
        await i.proc.stop(signal, 20_000).catch(() => i.proc?.stop('SIGKILL'));
      }),
    );
  }
}
