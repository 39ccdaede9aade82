import { randomBytes } from 'node:crypto';
import { DataSource, QueryFailedError } from 'typeorm';
import { postgresDataSourceOptions, preparedQuery, unlessExists } from './postgres';

/** preparedQuery against a real PostgreSQL (the tests' database, TEST_DATABASE_URL). */
describe('preparedQuery (real PostgreSQL)', () => {
  const table = `prepared_${randomBytes(4).toString('hex')}`;
  let db: DataSource;

  beforeAll(async () => {
    const url = process.env['TEST_DATABASE_URL'];
    if (!url) throw new Error('TEST_DATABASE_URL is not set (the global test setup sets it)');
    db = new DataSource(
      postgresDataSourceOptions({
        url,
        poolSize: 1,
        applicationName: 'prepared-test',
        entities: [],
        migrations: [],
      }),
    );
    await db.initialize();
    await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL)`);
  });

  afterAll(async () => {
    await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.destroy();
  });

  it('runs a statement as a named prepared statement, the same on every call', async () => {
    const insert = `INSERT INTO ${table} (id, name) SELECT * FROM unnest($1::int[], $2::text[]) RETURNING id`;
    expect(
      await preparedQuery(db, insert, [
        [1, 2],
        ['a', 'b'],
      ]),
    ).toEqual([{ id: 1 }, { id: 2 }]);
    expect(await preparedQuery(db, insert, [[3], ['c']])).toEqual([{ id: 3 }]);
    const prepared = await db.query<{ n: number }[]>(
      `SELECT count(*)::int AS n FROM pg_prepared_statements WHERE statement LIKE $1`,
      [`INSERT INTO ${table}%`],
    );
    // one connection in the pool: the statement was prepared on it once, and reused
    expect(prepared[0]?.n).toBe(1);
  });

  it('fails like db.query does: a QueryFailedError that keeps the driver code', async () => {
    const insert = `INSERT INTO ${table} (id, name) VALUES ($1, $2)`;
    await preparedQuery(db, insert, [10, 'x']);
    const error = await preparedQuery(db, insert, [10, 'y']).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect(error).toMatchObject({ name: 'QueryFailedError', code: '23505' });
  });

  it('unlessExists gives undefined for an insert whose key exists, and rethrows anything else', async () => {
    const insert = `INSERT INTO ${table} (id, name) VALUES ($1, $2) RETURNING id`;
    expect(await unlessExists(() => preparedQuery(db, insert, [20, 'first']))).toEqual([{ id: 20 }]);
    expect(await unlessExists(() => preparedQuery(db, insert, [20, 'again']))).toBeUndefined();
    await expect(unlessExists(() => preparedQuery(db, insert, [21, null]))).rejects.toMatchObject({
      code: '23502', // not_null_violation
    });
  });
});
