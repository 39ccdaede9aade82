import { connect } from 'node:net';
import type { Socket } from 'node:net';

export interface JsonResponse {
  status: number;
  body: unknown;
}

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * The load generator's HTTP/1.1 client: JSON POSTs over kept-alive connections, one request at a
 * time on each (no pipelining), a new connection whenever all are busy. It runs on the machine it
 * measures, so it is kept small: node:http's ClientRequest, agent and response stream cost about
 * 0.35 ms of CPU per request, 5% of everything the machine spent on an order at 300 orders/s
 * (global fetch cost twice that). It reads what the services answer: a status line, headers and a
 * body of Content-Length bytes; anything else (a chunked body, a second response) fails the
 * request with an error saying so, and the connection is dropped.
 *
 * A connection idle for `maxIdleMs` is not used again: the services close idle connections after
 * 5 s, and a request sent just as the server closes one is lost with it. A request that fails on a
 * reused connection before any byte of an answer came is sent once more on a new connection (the
 * load's POSTs carry idempotency keys); any other failure rejects with the socket's error.
 */
export class KeepAliveClient {
  private readonly idle: Connection[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;
  /** connections opened, for tests and the curious */
  opened = 0;

  /** idle connections that are still open, for tests and the curious */
  get openIdle(): number {
    return this.idle.filter((c) => !c.closed).length;
  }

  constructor(
    baseUrl: string,
    private readonly maxIdleMs = 4_000,
  ) {
    const url = new URL(baseUrl);
    if (url.protocol !== 'http:') throw new Error(`only http:// URLs are supported (got ${baseUrl})`);
    this.host = url.hostname;
    this.port = Number(url.port || 80);
    this.hostHeader = url.host;
  }

  async post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonResponse> {
    const payload = Buffer.from(JSON.stringify(body));
    let head = `POST ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\ncontent-type: application/json\r\ncontent-length: ${payload.length}\r\n`;
    for (const [name, value] of Object.entries(headers)) head += `${name}: ${value}\r\n`;
    const request = Buffer.concat([Buffer.from(`${head}\r\n`), payload]);
    const reused = this.reusable();
    if (!reused) return this.open().send(request);
    try {
      return await reused.send(request);
    } catch (error) {
      if (reused.answered) throw error;
      return this.open().send(request); // the server closed it as the request went out
    }
  }

  /** Closes the idle connections (busy ones close once answered: their requests settle first). */
  close(): void {
    for (const c of this.idle.splice(0)) c.close();
  }

  /** The most recently used idle connection that is still open and not idle for too long. */
  private reusable(): Connection | undefined {
    const now = Date.now();
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (!c.closed && now - c.idleSince < this.maxIdleMs) return c;
      c.close();
    }
    return undefined;
  }

  private open(): Connection {
    this.opened++;
    return new Connection(this.host, this.port, (c) => this.idle.push(c));
  }
}

class Connection {
  private readonly socket: Socket;
  private buffered: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: JsonResponse) => void; reject: (e: Error) => void } | undefined;
  private dead = false;
  /** when it was last handed back to the pool */
  idleSince = 0;
  /** whether any byte of an answer came on it for the request it carries */
  answered = false;

  constructor(
    host: string,
    port: number,
    private readonly release: (c: Connection) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (error) => this.fail(error));
    this.socket.on('close', () => this.fail(new Error('connection closed before the response')));
  }

  get closed(): boolean {
    return this.dead;
  }

  send(request: Buffer): Promise<JsonResponse> {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(new Error('connection closed'));
      this.waiting = { resolve, reject };
      this.answered = false;
      this.socket.write(request);
    });
  }

  close(): void {
    this.dead = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.answered = true;
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const headEnd = this.buffered.indexOf(HEAD_END);
    if (headEnd < 0) return;
    const head = this.buffered.toString('latin1', 0, headEnd);
    const status = Number(head.slice(9, 12));
    let length: number | undefined;
    let keepAlive = true;
    for (const line of head.split('\r\n').slice(1)) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line
        .slice(colon + 1)
        .trim()
        .toLowerCase();
      if (name === 'content-length') length = Number(value);
      else if (name === 'connection') keepAlive = value !== 'close';
      else if (name === 'transfer-encoding')
        return this.fail(new Error(`unsupported response: transfer-encoding ${value}`));
    }
    if (!head.startsWith('HTTP/1.') || !Number.isInteger(status))
      return this.fail(new Error(`not an HTTP/1.x response: ${JSON.stringify(head.slice(0, 40))}`));
    const bodyStart = headEnd + HEAD_END.length;
    const end = bodyStart + (length ?? 0);
    if (this.buffered.length < end) return; // the rest of the body is still on its way
    if (this.buffered.length > end)
      return this.fail(new Error('unsupported response: more bytes than its content-length'));
    const text = this.buffered.toString('utf8', bodyStart, end);
    this.buffered = Buffer.alloc(0);
    const waiting = this.waiting;
    this.waiting = undefined;
    let body: unknown;
    try {
      body = text ? (JSON.parse(text) as unknown) : undefined;
    } catch (error) {
      waiting?.reject(error instanceof Error ? error : new Error(String(error)));
      return this.close();
    }
    if (keepAlive) {
      this.idleSince = Date.now();
      this.release(this);
    } else this.close();
    waiting?.resolve({ status, body });
  }

  private fail(error: Error): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    if (!this.dead) this.close();
    waiting?.reject(error);
  }
}
