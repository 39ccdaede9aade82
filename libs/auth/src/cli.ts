/*
 * ./dev's side of the development identity provider:
 *   node libs/auth/dist/cli.js env DIR                        AUTH_* lines for the services (creates the key)
 *   node libs/auth/dist/cli.js token DIR CUSTOMER [--ttl S]  a customer's token
 *   node libs/auth/dist/cli.js token DIR --operator [--ttl S] an operator's token
 */
import { ids } from '@tcc/contracts';
import { join } from 'node:path';
import { DEV_AUDIENCE, DEV_ISSUER, devSigningKey, signToken } from './dev-tokens';

const OPERATOR_SCOPE = process.env['AUTH_OPERATOR_SCOPE'] || 'tcc:operate';

async function main(args: string[]): Promise<string> {
  const [command, dir, ...rest] = args;
  if (!dir) throw new Error('usage: cli.js (env|token) DIR ...');
  const key = devSigningKey(dir);
  if (command === 'env') {
    // the key by its file, so that the lines can be sourced by a shell or read by Compose
    return [
      `AUTH_PUBLIC_KEY_FILE=${join(dir, 'signing.pub')}`,
      `AUTH_ISSUER=${DEV_ISSUER}`,
      `AUTH_AUDIENCE=${DEV_AUDIENCE}`,
    ].join('\n');
  }
  if (command !== 'token') throw new Error(`unknown command "${command}" (env, token)`);
  let ttl = 3600;
  let subject: string | undefined;
  let operator = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--operator') operator = true;
    else if (arg === '--ttl') ttl = Number(rest[++i]);
    else if (arg?.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else subject = arg;
  }
  if (!Number.isInteger(ttl) || ttl < 1) throw new Error('--ttl takes a number of seconds');
  if (operator) {
    return signToken(key, { subject: subject ?? 'operator', scopes: [OPERATOR_SCOPE], expiresInS: ttl });
  }
  if (!subject) throw new Error('whose token? give a customer id, or --operator');
  const valid = ids.customerId.safeParse(subject);
  if (!valid.success) throw new Error(`"${subject}" is not a customer id: ${valid.error.issues[0]?.message}`);
  return signToken(key, { subject, expiresInS: ttl });
}

main(process.argv.slice(2)).then(
  (out) => process.stdout.write(`${out}\n`),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  },
);
