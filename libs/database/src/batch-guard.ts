import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A batch writes many changes in one statement, each decided from rows it read just before; every
 * guarded part (an update that must still find the row as it was read) counts its rows, and
 * `batchExpect(ok, what)` in the statement's final SELECT fails the WHOLE statement when a count is
 * short, so a batch that lost a race writes nothing and its messages are handled one by one.
 */
export function batchExpect(condition: string, what: string): string {
  return `tcc_expect(${condition}, '${what.replace(/'/g, "''")}')`;
}

/** The SQLSTATE batchExpect raises: serialization_failure, the class of "lost a race, try again". */
const BATCH_CONFLICT = '40001';

export function isBatchConflict(error: unknown): boolean {
  return (error as { code?: string } | undefined)?.code === BATCH_CONFLICT;
}

/** Creates `tcc_expect` in a service's database; each service that writes batches lists this. */
export class BatchGuard1763820000000 implements MigrationInterface {
  name = 'BatchGuard1763820000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION tcc_expect(ok boolean, what text) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        IF ok IS NOT TRUE THEN
          RAISE EXCEPTION 'batch conflict: %', what USING ERRCODE = '${BATCH_CONFLICT}';
        END IF;
        RETURN true;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query('DROP FUNCTION tcc_expect(boolean, text)');
  }
}
