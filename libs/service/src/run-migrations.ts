import { z } from 'zod';
import { DataSource } from 'typeorm';
import type { EntitySchema, MixedList } from 'typeorm';
import { serviceConfigShape } from '@tcc/config';
import { loadConfigOrExit } from './run-service';
import { connectionUrl, postgresDataSourceOptions, runMigrationsCommand } from '@tcc/database';

export interface MigrationsDefinition {
  service: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
}

/**
 * Body of `node apps/<service>/dist/migrate.js`: needs only DATABASE_URL (and DATABASE_SSL_CA_FILE
 * where the server's CA is given apart). Run as the service's own role, which then owns what the
 * migrations create.
 */
export async function runMigrations({ service, entities, migrations }: MigrationsDefinition): Promise<void> {
  const config = loadConfigOrExit(`${service} migrate`, z.object(databaseConfigShape));
  const dataSource = new DataSource(
    postgresDataSourceOptions({
      url: connectionUrlOrExit(`${service} migrate`, config),
      poolSize: 1,
      applicationName: `tcc-${service}-migrate`,
      entities,
      migrations,
    }),
  );
  await runMigrationsCommand(service, dataSource, config.DATABASE_URL);
}

/** What the migrate and seed commands read: the connection, nothing else. */
export const databaseConfigShape = {
  DATABASE_URL: serviceConfigShape.DATABASE_URL,
  DATABASE_SSL_CA_FILE: serviceConfigShape.DATABASE_SSL_CA_FILE,
};

/** The URL the driver gets (the CA file in it), or one readable line on stderr and exit code 1. */
export function connectionUrlOrExit(
  label: string,
  config: { DATABASE_URL: string; DATABASE_SSL_CA_FILE?: string | undefined },
): string {
  try {
    return connectionUrl(config.DATABASE_URL, config.DATABASE_SSL_CA_FILE);
  } catch (error) {
    process.stderr.write(`${label}: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
