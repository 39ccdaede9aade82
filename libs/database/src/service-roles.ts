import { Client } from 'pg';

/** A service's login role and the database it owns, on one server. */
export interface ServiceDatabase {
  /** the role the service connects as; it owns the database and everything in it */
  role: string;
  password: string;
  database: string;
}

/** Plain lower-case names only: they are written into statements that take no parameters. */
const NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function checkName(kind: string, name: string): void {
  if (!NAME.test(name)) throw new Error(`${kind} name "${name}" must match ${NAME.source}`);
}

/**
 * Creates a service's role and database, or brings existing ones to this state: the role logs in
 * with the given password and may do nothing on the server beyond that (no superuser, createdb,
 * createrole, replication, bypassrls); it owns its database, the only one it may connect to, as
 * CONNECT (and TEMPORARY) are revoked from PUBLIC; it owns every table, sequence and function in
 * the database's public schema, so migrations run as it and it can use what they made before.
 * Idempotent; run as an administrator (a superuser) on `adminUrl`.
 */
export async function provisionServiceDatabase(adminUrl: string, spec: ServiceDatabase): Promise<void> {
  checkName('role', spec.role);
  checkName('database', spec.database);
  await withClient(adminUrl, async (admin) => {
    const me = (await admin.query<{ user: string }>('SELECT current_user AS user')).rows[0]?.user;
    if (me === spec.role) {
      throw new Error(`connect as an administrator to create role ${spec.role}, not as that role itself`);
    }
    await ensureRole(admin, spec);
    await ensureDatabase(admin, spec);
  });
  const inDatabase = new URL(adminUrl);
  inDatabase.pathname = `/${spec.database}`;
  await withClient(inDatabase.toString(), (admin) => handOverObjects(admin, spec.role));
}

/** Drops a role made by provisionServiceDatabase, once its database is gone (tests). */
export async function dropServiceRole(adminUrl: string, role: string): Promise<void> {
  checkName('role', role);
  await withClient(adminUrl, (admin) => admin.query(`DROP ROLE IF EXISTS "${role}"`));
}

const ROLE_LIMITS = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS';

async function ensureRole(admin: Client, { role, password }: ServiceDatabase): Promise<void> {
  const literal = admin.escapeLiteral(password);
  const exists = await admin.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
  if (exists.rowCount === 0) {
    try {
      await admin.query(`CREATE ROLE "${role}" ${ROLE_LIMITS} PASSWORD ${literal}`);
      return;
    } catch (error) {
      // made by another run between the look and the create: bring it to the same state below
      if ((error as { code?: string }).code !== '42710') throw error;
    }
  }
  await admin.query(`ALTER ROLE "${role}" ${ROLE_LIMITS} PASSWORD ${literal}`);
}

async function ensureDatabase(admin: Client, { role, database }: ServiceDatabase): Promise<void> {
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  if (exists.rowCount === 0) {
    try {
      await admin.query(`CREATE DATABASE "${database}" OWNER "${role}"`);
    } catch (error) {
      if ((error as { code?: string }).code !== '42P04') throw error;
    }
  }
  // a database made before the roles existed (an older ./dev db) changes hands here
  await admin.query(`ALTER DATABASE "${database}" OWNER TO "${role}"`);
  // PUBLIC may connect to every new database by default: then any role could open any service's
  await admin.query(`REVOKE ALL ON DATABASE "${database}" FROM PUBLIC`);
}

/**
 * Tables, sequences and functions that an administrator made in the database (migrations run
 * before the roles existed) become the role's. Tables first: a sequence owned by a column moves
 * with its table and cannot be moved alone.
 */
async function handOverObjects(admin: Client, role: string): Promise<void> {
  const owner = admin.escapeLiteral(role);
  await admin.query(`DO $$
    DECLARE o record;
    BEGIN
      FOR o IN SELECT c.oid::regclass AS name FROM pg_class c
               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                 AND c.relowner <> ${owner}::regrole LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO %I', o.name, ${owner});
      END LOOP;
      FOR o IN SELECT c.oid::regclass AS name FROM pg_class c
               WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
                 AND c.relowner <> ${owner}::regrole LOOP
        EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', o.name, ${owner});
      END LOOP;
      FOR o IN SELECT p.oid::regprocedure AS name FROM pg_proc p
               WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> ${owner}::regrole LOOP
        EXECUTE format('ALTER ROUTINE %s OWNER TO %I', o.name, ${owner});
      END LOOP;
    END $$`);
}

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
