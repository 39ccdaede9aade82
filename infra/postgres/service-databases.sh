#!/usr/bin/env bash
# One database per service, each owned by the service's own login role (tcc_<service>), which may
# connect to no other database and do nothing else on the server; the passwords come from
# ORDER_DB_PASSWORD, STOCK_DB_PASSWORD and PAYMENT_DB_PASSWORD. The same rules as
# libs/database/src/service-roles.ts, which ./dev and the tests use; this one is for the postgres
# image, which runs it on its first start (/docker-entrypoint-initdb.d). Idempotent: on a volume
# made before the roles existed, run it again, which also hands over what is in the databases:
#   docker compose -f infra/docker-compose.yml exec postgres /docker-entrypoint-initdb.d/10-service-databases.sh
set -euo pipefail

for service in order stock payment; do
  var="$(printf '%s' "${service}" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  [[ -n "${!var:-}" ]] || { echo "service-databases.sh: ${var} is not set" >&2; exit 1; }
  # the password is read from the environment by psql itself (\getenv), not put on a command line
  psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-postgres}" -v name="tcc_${service}" -v password_var="${var}" <<'SQL'
\getenv password :password_var
SELECT format('CREATE ROLE %I', :'name') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \gexec
ALTER ROLE :"name" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'password';
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
  WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \gexec
ALTER DATABASE :"name" OWNER TO :"name";
-- PUBLIC may connect to every new database by default: then any role could open any service's
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
\connect :"name"
-- what an administrator made in the database before the role existed becomes the role's
SELECT set_config('tcc.owner', :'name', false) \gset
DO $$
DECLARE
  owner text := current_setting('tcc.owner');
  o record;
BEGIN
  FOR o IN SELECT c.oid::regclass AS name FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
             AND c.relowner <> owner::regrole LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO %I', o.name, owner);
  END LOOP;
  FOR o IN SELECT c.oid::regclass AS name FROM pg_class c
           WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
             AND c.relowner <> owner::regrole LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', o.name, owner);
  END LOOP;
  FOR o IN SELECT p.oid::regprocedure AS name FROM pg_proc p
           WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> owner::regrole LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', o.name, owner);
  END LOOP;
END $$;
SQL
  echo "service-databases.sh: role tcc_${service} owns database tcc_${service}"
done
