import type { LoggerOptions } from 'pino';

/** What a secret is replaced with, in log lines and in the messages a failed start prints. */
export const REDACTED = '***';

/**
 * `scheme://user:password@` anywhere in a text. The password runs to the last `@` before the
 * host's end (a `/`, white space or a quote), as a URL parser reads `user:p@ss@host`; a stray `@`
 * later in the same segment masks too much, never too little.
 */
const URL_CREDENTIALS = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@"'<>]*:)[^\s/"'<>]+@/gi;

/** Every URL's password in a text (an error message, a stack, a log line) replaced by `***`. */
export function maskUrlPasswords(text: string): string {
  // most lines hold no URL at all: one substring search instead of a regular expression
  return text.includes('://') ? text.replace(URL_CREDENTIALS, `$1${REDACTED}@`) : text;
}

/**
 * A URL fit to print: its password replaced by `***`, everything else kept (user, host, database,
 * sslmode...), so the message still says which server and role were meant; a URL without a
 * password comes back as it was. The one helper for every place that prints a connection URL.
 */
export function maskUrlPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = REDACTED;
    return u.toString();
  } catch {
    return maskUrlPasswords(url);
  }
}

/**
 * Headers that carry credentials, wherever a log call may put a request's or response's headers.
 * The request lines themselves log no header (see pinoParams); these paths keep a header object
 * logged by any other code (an error's request, a debugging line) from printing a token.
 */
const SECRET_HEADERS = ['authorization', '"proxy-authorization"', 'cookie', '"set-cookie"'];
const HEADER_HOLDERS = ['req.headers', 'res.headers', 'headers'];

/** Fields that hold a secret as a whole: replaced by `***`. */
export const SECRET_LOG_PATHS: readonly string[] = [
  ...HEADER_HOLDERS.flatMap((holder) =>
    SECRET_HEADERS.map((h) => `${holder}${h.startsWith('"') ? `[${h}]` : `.${h}`}`),
  ),
  'password',
  // a Kafka client's settings, should a line log them
  'sasl.password',
];

/** Fields that hold a connection URL: kept, with the password masked. */
export const URL_LOG_PATHS: readonly string[] = ['databaseUrl', 'DATABASE_URL', 'url'];

const URL_FIELDS = new Set(URL_LOG_PATHS);

function censor(value: unknown, path: string[]): unknown {
  const field = path[path.length - 1] ?? '';
  if (URL_FIELDS.has(field) && typeof value === 'string') return maskUrlPassword(value);
  return REDACTED;
}

/** Paths under a request or response: their redaction copies and re-serializes the whole object. */
const UNDER_REQUEST = /^(req|res)\./;

/**
 * pino options that keep secrets out of every line: credential headers and password fields
 * replaced by `***` and connection URLs logged with their password masked (pino's `redact`,
 * applied to the logged objects after their serializers), and the password of any URL left in the
 * finished line masked too (an error message or a stack that quotes a connection string). Used by
 * the service logger and the boot logger alike.
 *
 * `requestsSerialized`: the logger's own req and res serializers keep no header (pinoParams), so
 * the paths under req and res are left out; redacting them took 2-4 µs more on every request line.
 */
export function secretRedaction({ requestsSerialized = false } = {}): Pick<
  LoggerOptions,
  'redact' | 'hooks'
> {
  const secrets = requestsSerialized
    ? SECRET_LOG_PATHS.filter((p) => !UNDER_REQUEST.test(p))
    : SECRET_LOG_PATHS;
  return {
    redact: { paths: [...secrets, ...URL_LOG_PATHS], censor },
    hooks: { streamWrite: maskUrlPasswords },
  };
}
