import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { testBrokers } from './test-kafka';
import { waitFor } from './wait-for';

export const workspaceRoot = join(__dirname, '..', '..', '..');

export type ServiceName = 'order' | 'stock' | 'payment';

export interface ProcessResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a node script to its end with only the given environment (plus PATH). */
export async function runNode(
  file: string,
  args: string[],
  env: Record<string, string>,
): Promise<ProcessResult> {
  const child = spawn(process.execPath, [file, ...args], {
    cwd: workspaceRoot,
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = collect(child);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal, ...output() };
}

/** Runs a built script of a service (dist/<script>.js) to its end. */
export function runScript(
  service: ServiceName,
  script: string,
  env: Record<string, string>,
): Promise<ProcessResult> {
  return runNode(join(workspaceRoot, 'apps', service, 'dist', `${script}.js`), [], env);
}

/** The built topics CLI as an operator runs it (`./dev topics ...`), for one topic prefix on the test broker. */
export function topicsCli(prefix: string, ...args: string[]): Promise<ProcessResult> {
  return runNode(join(workspaceRoot, 'apps', 'topics-cli', 'dist', 'main.js'), args, {
    KAFKA_BROKERS: testBrokers().join(','),
    KAFKA_TOPIC_PREFIX: prefix,
  });
}

function spawnNode(
  service: ServiceName,
  script: string,
  env: Record<string, string>,
  logFile?: string,
): ChildProcess {
  const file = join(workspaceRoot, 'apps', service, 'dist', `${script}.js`);
  // with a log file, stdout and stderr are appended to it instead of being kept in memory
  const fd = logFile === undefined ? undefined : openSync(logFile, 'a');
  try {
    return spawn(process.execPath, [file], {
      cwd: workspaceRoot,
      // only what the test gives, plus PATH: a service must not pick up the developer's variables
      env: { PATH: process.env['PATH'] ?? '', ...env },
      stdio: fd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', fd, fd],
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function collect(child: ChildProcess, logFile?: string): () => { stdout: string; stderr: string } {
  if (logFile !== undefined) return () => ({ stdout: readFileSync(logFile, 'utf8'), stderr: '' });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return () => ({ stdout, stderr });
}

/** A service running as its own process, exactly as in production (node apps/<name>/dist/main.js). */
export class ServiceProcess {
  private readonly exited: Promise<[number | null, NodeJS.Signals | null]>;
  private readonly output: () => { stdout: string; stderr: string };

  private constructor(
    readonly name: ServiceName,
    readonly url: string,
    private readonly child: ChildProcess,
    logFile?: string,
  ) {
    this.output = collect(child, logFile);
    this.exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  }

  /**
   * Starts `node apps/<name>/dist/main.js` with only `env` (plus PATH). With `logFile`, its output
   * is appended to that file (stdout/stderr then read it back) rather than kept in memory.
   */
  static start(name: ServiceName, env: Record<string, string>, logFile?: string): ServiceProcess {
    const port = env['PORT'];
    if (!port) throw new Error('PORT is required to start a service');
    return new ServiceProcess(
      name,
      `http://127.0.0.1:${port}`,
      spawnNode(name, 'main', env, logFile),
      logFile,
    );
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get stdout(): string {
    return this.output().stdout;
  }

  get stderr(): string {
    return this.output().stderr;
  }

  /** JSON log lines written so far */
  logs(): Record<string, unknown>[] {
    return this.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits for 200 from /health; fails at once if the process exits first. */
  async waitHealthy(timeoutMs = 60_000): Promise<unknown> {
    const exited = Symbol('exited');
    const health = await waitFor(
      async () => {
        if (!this.running) return exited;
        const res = await fetch(`${this.url}/health`);
        return res.status === 200 ? await res.json() : undefined;
      },
      { timeoutMs, intervalMs: 250, description: `${this.name} to be healthy` },
    );
    if (health === exited)
      throw new Error(`${this.name} exited early:\n${this.stderr}\n${this.stdout.slice(-3000)}`);
    return health;
  }

  async waitExit(timeoutMs = 30_000): Promise<ProcessResult> {
    const timer = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms`)),
        timeoutMs,
      ).unref(),
    );
    const [code, signal] = await Promise.race([this.exited, timer]);
    return { code, signal, ...this.output() };
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<ProcessResult> {
    if (this.running) this.child.kill(signal);
    try {
      return await this.waitExit(timeoutMs);
    } catch (error) {
      this.child.kill('SIGKILL');
      throw error;
    }
  }
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
