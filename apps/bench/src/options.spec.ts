import { parseOptions, UsageError } from './options';
import type { BenchOptions } from './options';

const env = { POSTGRES_URL: 'postgres://postgres@127.0.0.1:5432/postgres' };

function parse(...argv: string[]): BenchOptions {
  const o = parseOptions(argv, env);
  if (o === 'help') throw new Error('asked for the usage');
  return o;
}

describe('bench options: the instances of each service', () => {
  it("given no URLs, loads ./dev up's one instance of each service", () => {
    const o = parse();
    expect(o.urls).toEqual({
      order: ['http://127.0.0.1:3000'],
      stock: 'http://127.0.0.1:3001',
      payment: 'http://127.0.0.1:3002',
    });
    expect(o.metrics).toEqual({
      order: ['http://127.0.0.1:9464/metrics'],
      stock: ['http://127.0.0.1:9465/metrics'],
      payment: ['http://127.0.0.1:9466/metrics'],
    });
  });

  it('takes --order-url once per instance, in the order given, in place of the default', () => {
    expect(parse('--order-url', 'http://10.0.0.5:3000').urls.order).toEqual(['http://10.0.0.5:3000']);
    expect(
      parse(
        '--order-url',
        'http://10.0.0.5:3000',
        '--order-url=http://10.0.0.6:3000',
        '--order-url',
        'http://10.0.0.5:3010',
      ).urls.order,
    ).toEqual(['http://10.0.0.5:3000', 'http://10.0.0.6:3000', 'http://10.0.0.5:3010']);
  });

  it("takes each service's metrics URL once per instance, the others keeping their default", () => {
    const o = parse(
      '--order-metrics-url',
      'http://10.0.0.5:9464/metrics',
      '--order-metrics-url',
      'http://10.0.0.6:9464/metrics',
      '--payment-metrics-url',
      'http://10.0.0.7:9466/metrics',
    );
    expect(o.metrics).toEqual({
      order: ['http://10.0.0.5:9464/metrics', 'http://10.0.0.6:9464/metrics'],
      stock: ['http://127.0.0.1:9465/metrics'],
      payment: ['http://10.0.0.7:9466/metrics'],
    });
  });

  it('refuses an instance given twice: it would take twice its share, or count its CPU twice', () => {
    expect(() => parse('--order-url', 'http://10.0.0.5:3000', '--order-url', 'http://10.0.0.5:3000')).toThrow(
      new UsageError(
        '--order-url: "http://10.0.0.5:3000" and "http://10.0.0.5:3000" are the same instance (give each instance once)',
      ),
    );
    // one process serves one metrics port, whatever the path
    expect(() =>
      parse(
        '--stock-metrics-url',
        'http://10.0.0.5:9465/metrics',
        '--stock-metrics-url',
        'http://10.0.0.5:9465/',
      ),
    ).toThrow(/^--stock-metrics-url: .* are the same instance/);
    // the same port on two hosts, or two ports on one host, are two instances
    expect(
      parse(
        '--stock-metrics-url',
        'http://10.0.0.5:9465/metrics',
        '--stock-metrics-url',
        'http://10.0.0.6:9465/metrics',
      ).metrics.stock,
    ).toHaveLength(2);
  });

  it('refuses what is not a URL as a bad argument', () => {
    expect(() => parse('--order-url', 'localhost:3000')).toThrow(
      new UsageError('--order-url takes an http:// URL (got "localhost:3000")'),
    );
    expect(() => parse('--order-url', 'https://10.0.0.5:3000')).toThrow(/takes an http:\/\/ URL/);
    expect(parse('--order-metrics-url', 'https://10.0.0.5:9464/metrics').metrics.order).toHaveLength(1);
    expect(() =>
      parse('--payment-metrics-url', 'http://10.0.0.7:9466/metrics', '--payment-metrics-url', ''),
    ).toThrow(new UsageError('--payment-metrics-url takes an http:// or https:// URL (got "")'));
  });
});
