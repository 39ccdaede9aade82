import { DataSource } from 'typeorm';
import type { EntitySchema, MixedList } from 'typeorm';
import type { AnyEnvelope } from '@tcc/contracts';
import { postgresDataSourceOptions } from '@tcc/database';
import { createTestDatabase } from './test-database';

export interface MigratedDatabase {
  db: DataSource;
  drop(): Promise<void>;
}

/** A fresh test database with a service's migrations applied, for testing that service's SQL directly. */
export async function migratedTestDatabase(
  label: string,
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  entities: MixedList<Function | string | EntitySchema>,
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function | string>,
): Promise<MigratedDatabase> {
  const database = await createTestDatabase(label);
  const db = new DataSource(
    postgresDataSourceOptions({
      url: database.url,
      poolSize: 20,
      applicationName: `${label}-test`,
      entities,
      migrations,
    }),
  );
  await db.initialize();
  await db.runMigrations();
  return {
    db,
    drop: async () => {
      await db.destroy();
      await database.drop();
    },
  };
}

/** What a service's transactions put in its outbox for one order, in order. */
export async function outboxEnvelopes(db: DataSource, correlationId: string): Promise<AnyEnvelope[]> {
  const rows = await db.query<{ envelope: AnyEnvelope }[]>(
    `SELECT envelope FROM outbox WHERE envelope->>'correlationId' = $1 ORDER BY id`,
    [correlationId],
  );
  return rows.map((r) => r.envelope);
}
