import { z } from 'zod';
import { DataSource } from 'typeorm';
import type { EntitySchema, MixedList } from 'typeorm';
import { env } from '@tcc/config';
import { loadConfigOrExit } from './run-service';
import { postgresDataSourceOptions, runMigrationsCommand } from '@tcc/database';

export interface MigrationsDefinition {
  service: string;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>;
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>;
}

/** Body of `node apps/<service>/dist/migrate.js`: needs only DATABASE_URL. */
export async function runMigrations({ service, entities, migrations }: MigrationsDefinition): Promise<void> {
  const url = loadConfigOrExit(
    `${service} migrate`,
    z.object({ DATABASE_URL: env.postgresUrl() }),
  ).DATABASE_URL;
  const dataSource = new DataSource(
    postgresDataSourceOptions({
      url,
      poolSize: 1,
      applicationName: `tcc-${service}-migrate`,
      entities,
      migrations,
    }),
  );
  await runMigrationsCommand(service, dataSource, url);
}
