import { accessSync, constants } from 'node:fs';
import { z } from 'zod';

/** Reusable validators for environment variables; each message says what a good value looks like. */
export const env = {
  port: (fallback?: number) => {
    const s = z.coerce
      .number({ error: 'must be a number' })
      .int('must be a whole number')
      .min(1, 'must be a TCP port between 1 and 65535')
      .max(65535, 'must be a TCP port between 1 and 65535');
    return fallback === undefined ? s : s.default(fallback);
  },

  int: (opts: { min?: number; max?: number; fallback?: number }) => {
    let s = z.coerce.number({ error: 'must be a number' }).int('must be a whole number');
    if (opts.min !== undefined) s = s.min(opts.min, `must be at least ${opts.min}`);
    if (opts.max !== undefined) s = s.max(opts.max, `must be at most ${opts.max}`);
    return opts.fallback === undefined ? s : s.default(opts.fallback);
  },

  /** A PostgreSQL connection URL such as postgres://user@127.0.0.1:5432/tcc_order */
  postgresUrl: () =>
    z.string().refine(
      (v) => {
        try {
          const u = new URL(v);
          return (u.protocol === 'postgres:' || u.protocol === 'postgresql:') && u.pathname.length > 1;
        } catch {
          return false;
        }
      },
      { error: 'must be a URL like postgres://user:password@host:5432/database' },
    ),

  /** Comma-separated host:port list, e.g. 127.0.0.1:9092,127.0.0.1:9094 */
  brokers: () =>
    z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((b) => b.trim())
          .filter(Boolean),
      )
      .refine((list) => list.length > 0 && list.every((b) => /^[A-Za-z0-9._-]+:\d{1,5}$/.test(b)), {
        error: 'must be a comma-separated list of host:port, e.g. 127.0.0.1:9092',
      }),

  logLevel: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  string: (fallback?: string) =>
    fallback === undefined ? z.string().min(1) : z.string().min(1).default(fallback),

  /** A path to a file this process can read, e.g. a CA certificate; optional */
  readableFile: () =>
    z
      .string()
      .refine(
        (path) => {
          try {
            accessSync(path, constants.R_OK);
            return true;
          } catch {
            return false;
          }
        },
        { error: 'must name a file this process can read' },
      )
      .optional(),

  boolean: (fallback: boolean) =>
    z
      .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
      .transform((v) => v === 'true' || v === '1')
      .default(fallback),
};
