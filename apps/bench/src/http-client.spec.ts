import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@tcc/testing';
import { KeepAliveClient } from './http-client';

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

/** A real node:http server on a free port; `handler` answers each request. */
async function serve(handler: Handler): Promise<{ url: string; server: Server; connections: () => number }> {
  let connections = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, connections: () => connections };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

describe('KeepAliveClient', () => {
  const servers: Server[] = [];
  const clients: KeepAliveClient[] = [];
  afterEach(async () => {
    jest.restoreAllMocks();
    for (const c of clients.splice(0)) c.close();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });
  async function setUp(handler: Handler) {
    const s = await serve(handler);
    servers.push(s.server);
    const client = new KeepAliveClient(s.url);
    clients.push(client);
    return { ...s, client };
  }

  it('sends the JSON body, path and headers, and reads status and JSON body', async () => {
    const { client } = await setUp((req, body, res) =>
      json(res, 202, {
        method: req.method,
        url: req.url,
        key: req.headers['idempotency-key'],
        type: req.headers['content-type'],
        got: JSON.parse(body) as unknown,
      }),
    );
    const res = await client.post(
      '/orders',
      { customerId: 'c-ü', lines: [1, 2] },
      { 'idempotency-key': 'k1' },
    );
    expect(res).toEqual({
      status: 202,
      body: {
        method: 'POST',
        url: '/orders',
        key: 'k1',
        type: 'application/json',
        got: { customerId: 'c-ü', lines: [1, 2] },
      },
    });
  });

  it('reuses one connection for requests one after another, and opens more for concurrent ones', async () => {
    const { client, connections } = await setUp((_req, body, res) =>
      json(res, 200, JSON.parse(body) as unknown),
    );
    for (let i = 0; i < 20; i++) expect((await client.post('/', { i })).body).toEqual({ i });
    expect(connections()).toBe(1);
    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => client.post('/', { i })));
    expect(answers.map((a) => a.body)).toEqual([0, 1, 2, 3, 4].map((i) => ({ i })));
    expect(client.opened).toBe(5);
    expect(connections()).toBe(5);
  });

  it('reads a response that arrives in pieces, and an empty body', async () => {
    const { client } = await setUp((req, _body, res) => {
      if (req.url === '/empty') {
        res.writeHead(204);
        res.end();
        return;
      }
      const text = JSON.stringify({ long: 'x'.repeat(100_000) });
      res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.write(text.slice(0, 10));
      setTimeout(() => res.end(text.slice(10)), 20); // the scenario: the rest of the body comes later
    });
    const res = await client.post('/', {});
    expect(res.status).toBe(400);
    expect((res.body as { long: string }).long).toHaveLength(100_000);
    expect(await client.post('/empty', {})).toEqual({ status: 204, body: undefined });
  });

  it('sends a request again on a new connection when a reused one is closed before any answer', async () => {
    let n = 0;
    const { client, connections } = await setUp((req, _body, res) => {
      if (n++ === 1)
        req.socket.destroy(); // the second request, on the first request's connection
      else json(res, 200, { n });
    });
    expect((await client.post('/', {})).body).toEqual({ n: 1 });
    expect((await client.post('/', {})).body).toEqual({ n: 3 });
    expect(connections()).toBe(2);
  });

  it('fails a request whose new connection the server closes, with the socket error', async () => {
    const { client } = await setUp((req) => req.socket.destroy());
    await expect(client.post('/', {})).rejects.toThrow();
    expect(client.opened).toBe(1);
  });

  it('does not reuse a connection idle for longer than maxIdleMs', async () => {
    const s = await serve((_req, _body, res) => json(res, 200, {}));
    servers.push(s.server);
    const client = new KeepAliveClient(s.url, 30);
    clients.push(client);
    await client.post('/', {});
    await client.post('/', {});
    expect(s.connections()).toBe(1);
    const now = Date.now();
    jest.spyOn(Date, 'now').mockReturnValue(now + 60); // the connection has been idle for 60 ms
    await client.post('/', {});
    expect(s.connections()).toBe(2);
  });

  it('does not reuse a connection the server asked to close, nor one it closed while idle', async () => {
    const { client, server, connections } = await setUp((req, _body, res) =>
      json(res, 200, {}, req.url === '/bye' ? { connection: 'close' } : {}),
    );
    await client.post('/bye', {});
    await client.post('/', {});
    expect(connections()).toBe(2);
    expect(client.openIdle).toBe(1);
    server.closeIdleConnections();
    await waitFor(() => client.openIdle === 0, {
      timeoutMs: 5_000,
      intervalMs: 5,
      description: 'the close seen',
    });
    expect((await client.post('/', {})).status).toBe(200);
    expect(connections()).toBe(3);
  });

  it('refuses what it cannot read with an error that says so', async () => {
    const { client } = await setUp((_req, _body, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // no length: chunked
      res.write('{"a":');
      res.end('1}');
    });
    await expect(client.post('/', {})).rejects.toThrow('unsupported response: transfer-encoding chunked');
  });
});
