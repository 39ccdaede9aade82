import type { z } from 'zod';
import { maskUrlPasswords, REDACTED } from '@tcc/observability';

/** Thrown when the environment does not satisfy a service's configuration schema. Names every bad variable. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Validates `env` against a schema whose keys are environment variable names. Empty strings count
 * as unset, so `PORT=` behaves like a missing PORT. Every problem is reported at once.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Env = process.env): z.infer<S> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') input[key] = value.trim();
  }
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const got = typeof issue.path[0] === 'string' ? input[issue.path[0]] : undefined;
    if (got === undefined && issue.code === 'invalid_type') return `${name} is required but not set`;
    return `${name}: ${issue.message}${got === undefined ? '' : ` (got "${shown(name, got)}")`}`;
  });
  throw new ConfigError(problems);
}

/** Names of variables whose whole value is a secret: such a value is never echoed. */
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|PRIVATE_KEY/;

/** A bad value as the message may show it: a secret not at all, a URL without its password. */
function shown(name: string, value: string): string {
  return SECRET_NAME.test(name) ? REDACTED : maskUrlPasswords(value);
}
