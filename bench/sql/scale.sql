-- bench/sql/scale.sql: helpers of the scaling curves (database "scale").
\set ON_ERROR_STOP 1
SET client_min_messages = warning;

-- Drop the indexes and unique constraints of table t; returns the commands
-- that recreate them (bench.restore_indexes).  Loading first and indexing
-- afterwards makes a million-entity database in a fraction of the time.
CREATE OR REPLACE FUNCTION bench.drop_indexes(t regclass) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    defs text[] := '{}';
BEGIN
    FOR r IN SELECT c.conname, pg_get_constraintdef(c.oid) AS def
               FROM pg_constraint c WHERE c.conrelid = t AND c.contype IN ('p', 'u') LOOP
        defs := defs || format('ALTER TABLE %s ADD CONSTRAINT %I %s', t, r.conname, r.def);
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', t, r.conname);
    END LOOP;
    FOR r IN SELECT i.indexrelid::regclass AS idx, pg_get_indexdef(i.indexrelid) AS def
               FROM pg_index i WHERE i.indrelid = t LOOP
        defs := defs || r.def;
        EXECUTE format('DROP INDEX %s', r.idx);
    END LOOP;
    RETURN defs;
END
$$;

-- Store n entities of model b_toggle (state "a", ids bench.tid(1..n)) with
-- a history as the engine leaves it: one version row and five audit rows
-- each; and the same rows in the hand-written SQL's tables (the control of
-- the curve).  Written directly, with the engine's trigger off and the
-- indexes built afterwards, because making a million entities through the
-- engine would take most of the benchmark's time; the rows are what the
-- engine writes.  For an empty database only.
CREATE OR REPLACE FUNCTION bench.seed_stored(n bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    defs text[] := '{}';
    t regclass;
    d text;
BEGIN
    SET LOCAL session_replication_role = replica;
    SET LOCAL maintenance_work_mem = '1GB';
    FOREACH t IN ARRAY ARRAY['cyoda_wf.entity', 'cyoda_wf.entity_version', 'cyoda_wf.audit_log',
                             'hw.entity', 'hw.entity_version', 'hw.audit']::regclass[] LOOP
        defs := defs || bench.drop_indexes(t);
    END LOOP;
    INSERT INTO cyoda_wf.entity (id, model, model_version, state, data, created_at, updated_at,
                                 version, last_transition, workflow, source, transaction_id)
    SELECT bench.tid(g), 'b_toggle', 1, 'a', bench.data(g), now(), now(), 1, NULL, 'toggle',
           'API_REQUEST', txid_current()
      FROM generate_series(1, n) AS g;
    INSERT INTO cyoda_wf.entity_version (entity_id, version, change_type, changed_at, changed_by,
                                         model, model_version, state, transition, transaction_id, data, started_at)
    SELECT bench.tid(g), 1, 'CREATE', now(), current_user, 'b_toggle', 1, 'a', NULL,
           txid_current(), bench.data(g), now()
      FROM generate_series(1, n) AS g;
    INSERT INTO cyoda_wf.audit_log (entity_id, at, transaction_id, event_type, transition, from_state,
                                to_state, role, detail)
    SELECT bench.tid(g), now(), txid_current(), 'TRANSITION_MAKE', 't' || i, 's' || (i - 1), 's' || i,
           current_user, '{"workflow": "chain", "manual": false}'
      FROM generate_series(1, n) AS g, generate_series(1, 5) AS i;
    INSERT INTO hw.entity SELECT * FROM cyoda_wf.entity;
    INSERT INTO hw.entity_version SELECT * FROM cyoda_wf.entity_version;
    INSERT INTO hw.audit (entity_id, at, transaction_id, event_type, transition, from_state,
                          to_state, role, detail)
    SELECT entity_id, at, transaction_id, event_type, transition, from_state, to_state, role, detail
      FROM cyoda_wf.audit_log ORDER BY id;
    FOREACH d IN ARRAY defs LOOP
        EXECUTE d;
    END LOOP;
END
$$;

-- Import the k-state workflow as model b_states<k> and create 1000 of its
-- entities (ids bench.kid(k, n)) through the engine: they cascade to s5.
CREATE OR REPLACE FUNCTION bench.setup_states(k int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cyoda_wf.import_workflows('b_states' || k, 1, bench.states_body(k));
    INSERT INTO cyoda_wf.entity (id, model, data)
    SELECT bench.kid(k, g), 'b_states' || k, bench.data(g) FROM generate_series(1, 1000) AS g;
END
$$;
