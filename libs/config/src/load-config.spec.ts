import { z } from 'zod';
import { ConfigError, env, loadConfig, serviceConfigSchema } from './index';

const good = {
  PORT: '3000',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/tcc_order',
  KAFKA_BROKERS: '127.0.0.1:9092, 127.0.0.1:9094',
};

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('parses a valid environment and applies defaults', () => {
    const config = loadConfig(serviceConfigSchema, good);
    expect(config).toMatchObject({
      PORT: 3000,
      KAFKA_BROKERS: ['127.0.0.1:9092', '127.0.0.1:9094'],
      KAFKA_TOPIC_PARTITIONS: 6,
      LOG_LEVEL: 'info',
    });
  });

  it('names every missing variable', () => {
    expect(problemsOf(() => loadConfig(serviceConfigSchema, {}))).toEqual([
      'PORT is required but not set',
      'DATABASE_URL is required but not set',
      'KAFKA_BROKERS is required but not set',
    ]);
  });

  it('treats an empty value as unset', () => {
    expect(problemsOf(() => loadConfig(serviceConfigSchema, { ...good, PORT: '  ' }))).toEqual([
      'PORT is required but not set',
    ]);
  });

  it.each([
    ['PORT', 'abc', 'PORT: must be a number (got "abc")'],
    ['PORT', '70000', 'PORT: must be a TCP port between 1 and 65535 (got "70000")'],
    [
      'DATABASE_URL',
      'mysql://x/y',
      'DATABASE_URL: must be a URL like postgres://user:password@host:5432/database (got "mysql://x/y")',
    ],
    [
      'KAFKA_BROKERS',
      'localhost',
      'KAFKA_BROKERS: must be a comma-separated list of host:port, e.g. 127.0.0.1:9092 (got "localhost")',
    ],
    ['KAFKA_TOPIC_PARTITIONS', '1', 'KAFKA_TOPIC_PARTITIONS: must be at least 2 (got "1")'],
    ['LOG_LEVEL', 'loud', expect.stringMatching(/^LOG_LEVEL: .* \(got "loud"\)$/)],
  ])('rejects %s=%s with a message naming it', (name, value, message) => {
    expect(problemsOf(() => loadConfig(serviceConfigSchema, { ...good, [name]: value }))).toEqual([message]);
  });

  it('shows a bad URL without its password, and a secret not at all', () => {
    const url = 'postgres://tcc_order:s3cret-pw@127.0.0.1:5432';
    expect(problemsOf(() => loadConfig(serviceConfigSchema, { ...good, DATABASE_URL: url }))).toEqual([
      'DATABASE_URL: must be a URL like postgres://user:password@host:5432/database (got "postgres://tcc_order:***@127.0.0.1:5432")',
    ]);
    const schema = z.object({ SOME_PASSWORD: z.string().min(20, 'must be at least 20 characters') });
    expect(problemsOf(() => loadConfig(schema, { SOME_PASSWORD: 's3cret-pw' }))).toEqual([
      'SOME_PASSWORD: must be at least 20 characters (got "***")',
    ]);
  });

  it('takes DATABASE_SSL_CA_FILE only when it names a readable file', () => {
    expect(
      loadConfig(serviceConfigSchema, { ...good, DATABASE_SSL_CA_FILE: __filename }).DATABASE_SSL_CA_FILE,
    ).toBe(__filename);
    expect(loadConfig(serviceConfigSchema, good).DATABASE_SSL_CA_FILE).toBeUndefined();
    expect(
      problemsOf(() =>
        loadConfig(serviceConfigSchema, { ...good, DATABASE_SSL_CA_FILE: '/nonexistent/ca.pem' }),
      ),
    ).toEqual(['DATABASE_SSL_CA_FILE: must name a file this process can read (got "/nonexistent/ca.pem")']);
  });

  it('puts every problem in the error message', () => {
    const error = (() => {
      try {
        loadConfig(z.object({ A: env.port(), B: env.boolean(false) }), { B: 'maybe' });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toBe(
      'Invalid configuration:\n  - A is required but not set\n  - B: must be true or false (got "maybe")',
    );
  });
});
