-- The group roles, one per component (NOLOGIN: a person or service logs in with a role of its
-- own that is a member of one of these, e.g.
--   CREATE ROLE desk_agi LOGIN PASSWORD '...' IN ROLE cbd_desk;).
-- Roles belong to the whole PostgreSQL cluster, not to one database: this file is re-runnable
-- and safe when several databases (tests, two installs) are set up at the same moment.
-- Run by `callback-desk grant` (needs CREATEROLE); what each role may do is in grants.sql.
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['cbd_listener', 'cbd_desk', 'cbd_report', 'cbd_web', 'cbd_purge']
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a parallel run
            END;
        END IF;
    END LOOP;
END
$$;
