import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { once } from 'node:events';
import { metricsRegistry } from '@tcc/observability';

/**
 * GET /metrics in Prometheus' text format (this service's counters, gauges, histograms and process
 * metrics) on a port of its own (METRICS_PORT), apart from the API: scrapers need no token, and
 * the port stays inside the cluster while the API is exposed. Anything else is 404.
 */
export async function serveMetrics(port: number, host: string): Promise<Server> {
  const server = createServer((request, response) => {
    const path = request.url?.split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    metricsRegistry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metricsRegistry.contentType }).end(text),
      (error: unknown) => response.writeHead(500).end(`${String(error)}\n`),
    );
  });
  // scrapes are short; a keep-alive connection left open must not hold up a shutdown
  server.keepAliveTimeout = 5_000;
  server.listen(port, host);
  await Promise.race([
    once(server, 'listening'),
    once(server, 'error').then(([error]) => {
      throw Object.assign(error as Error, { metricsPort: port });
    }),
  ]);
  return server;
}
