-- certflow's PostgreSQL roles, schemas and grants: one database, one schema per service, so no
-- service can touch another's tables (deploy/README.md, "Databases"). For every service
-- <svc> in ingest, anchor, notify, verify:
--   certflow_<svc>_owner  owns schema <svc>; runs <svc>'s migrations
--                         (Secret key CERTFLOW_<SVC>_MIGRATE_DATABASE_URL)
--   certflow_<svc>        the running service: reads and writes the rows of <svc>'s tables,
--                         nothing else (no DDL, no other schema)
--                         (Secret key CERTFLOW_<SVC>_DATABASE_URL)
-- and certflow_keda, which may read notify.deliveries only: KEDA counts the deliveries due
-- (Secret key KEDA_NOTIFY_DATABASE_URL).
--
-- Each role's search_path is its service's schema, so the services' unqualified table names land
-- there. Run as a superuser (or the managed service's admin role) in the certflow database:
--   psql "$ADMIN_URL" -v ON_ERROR_STOP=1 -f certflow-roles.sql
-- then set the passwords (ALTER ROLE certflow_verify PASSWORD '...'; or CloudNativePG's
-- spec.managed.roles). Idempotent: run it again after the first migration, which is when
-- notify.deliveries exists for certflow_keda's grant. Roles are cluster-wide: one set per
-- PostgreSQL server. With a database per service instead, run it in each (the grants for
-- services that have no schema there are harmless).
-- Tested: tests/integration/test_deploy_database_roles.py.

REVOKE CREATE ON SCHEMA public FROM PUBLIC;  -- the default since PostgreSQL 15

DO $roles$
DECLARE
    svc text;
    owner_role text;
    app_role text;
BEGIN
    FOREACH svc IN ARRAY ARRAY['ingest', 'anchor', 'notify', 'verify'] LOOP
        owner_role := 'certflow_' || svc || '_owner';
        app_role := 'certflow_' || svc;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = owner_role) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', owner_role);
        END IF;
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = app_role) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', app_role);
        END IF;
        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', svc, owner_role);
        EXECUTE format('ALTER ROLE %I SET search_path = %I', owner_role, svc);
        EXECUTE format('ALTER ROLE %I SET search_path = %I', app_role, svc);
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', svc, app_role);
        -- tables and sequences the owner creates from now on (every migration)...
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
            'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', owner_role, svc, app_role);
        EXECUTE format(
            'ALTER DEFAULT PRIVILEGES FOR ROLE %I IN SCHEMA %I '
            'GRANT USAGE, SELECT ON SEQUENCES TO %I', owner_role, svc, app_role);
        -- ...and those that exist already (roles added to a migrated database)
        EXECUTE format(
            'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I',
            svc, app_role);
        EXECUTE format(
            'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', svc, app_role);
    END LOOP;

    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'certflow_keda') THEN
        CREATE ROLE certflow_keda LOGIN;
    END IF;
    ALTER ROLE certflow_keda SET search_path = notify;
    GRANT USAGE ON SCHEMA notify TO certflow_keda;
    IF to_regclass('notify.deliveries') IS NOT NULL THEN
        GRANT SELECT ON notify.deliveries TO certflow_keda;
    END IF;
END
$roles$;
