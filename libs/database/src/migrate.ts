import type { DataSource } from 'typeorm';
import { maskUrlPasswords } from '@tcc/observability';
import { describeDatabaseError } from './connection';

/**
 * Body of every service's `migrate` command: applies pending migrations, prints what it applied,
 * and exits non-zero with a readable reason when it cannot.
 */
export async function runMigrationsCommand(
  service: string,
  dataSource: DataSource,
  url: string,
): Promise<void> {
  try {
    await dataSource.initialize();
  } catch (error) {
    process.stderr.write(`${service}: ${describeDatabaseError(error, url)}\n`);
    process.exit(1);
  }
  try {
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    const names = applied.map((m) => m.name);
    process.stdout.write(
      `${service}: ${names.length === 0 ? 'schema is up to date' : `applied ${names.length} migration(s): ${names.join(', ')}`}\n`,
    );
  } catch (error) {
    process.stderr.write(`${service}: migration failed: ${maskUrlPasswords((error as Error).message)}\n`);
    process.exitCode = 1;
  } finally {
    await dataSource.destroy();
  }
}
