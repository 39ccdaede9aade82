import { maskUrlPassword, maskUrlPasswords } from '@tcc/observability';

/**
 * The connection string the pg driver gets. TypeORM hands DATABASE_URL to pg as its
 * `connectionString`, and pg reads the URL's own parameters (sslmode, sslrootcert, sslcert,
 * sslkey, ...) over anything else, so TLS is set in the URL. A CA file given apart
 * (DATABASE_SSL_CA_FILE, e.g. a mounted secret next to a URL from another secret) goes into the
 * URL as `sslrootcert`; with no sslmode that asks for TLS verified against that CA and the
 * server's name, as `sslmode=verify-full` does.
 */
export function connectionUrl(url: string, sslCaFile?: string): string {
  if (!sslCaFile) return url;
  const u = new URL(url);
  const named = u.searchParams.get('sslrootcert');
  if (named !== null && named !== sslCaFile) {
    throw new Error(
      `DATABASE_SSL_CA_FILE (${sslCaFile}) and sslrootcert in DATABASE_URL (${named}) name different CA files: keep one`,
    );
  }
  u.searchParams.set('sslrootcert', sslCaFile);
  return u.toString();
}

/** Node's TLS errors when a server's certificate is not trusted or not the server's. */
const CERTIFICATE_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** pg's words when TLS was asked for and the server speaks none. */
const SERVER_WITHOUT_TLS = 'The server does not support SSL connections';

/** A TLS failure of a PostgreSQL connection, said so; undefined for any other error. */
export function describeTlsError(error: unknown, safeUrl: string): string | undefined {
  const e = error as { code?: string; message?: string };
  if (e.message === SERVER_WITHOUT_TLS) {
    return `PostgreSQL at ${safeUrl} does not accept TLS, which the URL asks for (sslmode, sslrootcert or DATABASE_SSL_CA_FILE): enable ssl on the server, or use sslmode=disable`;
  }
  if (typeof e.code === 'string' && CERTIFICATE_ERRORS.has(e.code)) {
    return `TLS to PostgreSQL at ${safeUrl} failed: the server's certificate was not accepted (${e.message ?? e.code}): give its CA (sslrootcert in the URL or DATABASE_SSL_CA_FILE), and connect by the name the certificate holds`;
  }
  return undefined;
}

/** Whether a failed start was the database's doing (a PostgreSQL error, refused connection, TLS). */
export function isDatabaseError(error: unknown): boolean {
  const e = error as { code?: string; message?: string; name?: string };
  if (typeof e.code === 'string' && (/^[0-9A-Z]{5}$/.test(e.code) || e.code === 'ECONNREFUSED')) return true;
  // Kafka's clients wrap their TLS failures in errors of their own (KafkaJS...), told apart here
  if (e.name?.startsWith('KafkaJS')) return false;
  return describeTlsError(error, '') !== undefined;
}

/** Turns a PostgreSQL connection failure into a sentence an operator can act on. */
export function describeDatabaseError(error: unknown, url: string): string {
  const safeUrl = maskUrlPassword(url);
  const e = error as { code?: string; message?: string };
  const tls = describeTlsError(error, safeUrl);
  if (tls) return tls;
  switch (e.code) {
    case 'ECONNREFUSED':
      return `cannot connect to PostgreSQL at ${safeUrl}: connection refused (is the server running?)`;
    case '3D000':
      return `database in ${safeUrl} does not exist: create it (./dev db) and run the migrations`;
    case '28P01':
    case '28000':
      return `PostgreSQL refused the credentials in ${safeUrl}`;
    case '42501':
      return `the role in ${safeUrl} may not do this: ${maskUrlPasswords(e.message ?? '')} (each service connects as the role that owns its database: ./dev db creates them)`;
    default:
      return `cannot use PostgreSQL at ${safeUrl}: ${maskUrlPasswords(e.message ?? String(error))}`;
  }
}
