-- The version and audit rows of INSERT ... SELECT statements: complete for
-- every entity of a statement, also after a statement whose rows could not
-- be written (a CHECK constraint on audit_log) and after the row type of
-- audit_log and entity_version changed between statements (the slots the
-- rows are written through are kept for the session).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

SELECT cyoda_wf.import_workflows('br', 1, '{"importMode": "REPLACE", "workflows": [{"name": "br_chain",
  "initialState": "s0", "states": {
    "s0": {"transitions": [{"name": "t1", "next": "s1", "manual": false}]},
    "s1": {"transitions": [{"name": "t2", "next": "s2", "manual": false}]},
    "s2": {"transitions": [{"name": "t3", "next": "s3", "manual": false}]},
    "s3": {"transitions": []}}}]}') ->> 'workflows' AS imported;

-- rows per entity of the model: versions, audit rows, the audit ids in order
CREATE FUNCTION br_counts() RETURNS TABLE (entities bigint, versions bigint, audits bigint,
                                           complete boolean, data_kept boolean)
LANGUAGE sql AS $$
  SELECT count(*),
         (SELECT count(*) FROM cyoda_wf.entity_version v JOIN cyoda_wf.entity e ON e.id = v.entity_id
           WHERE e.model = 'br'),
         (SELECT count(*) FROM cyoda_wf.audit_log a JOIN cyoda_wf.entity e ON e.id = a.entity_id
           WHERE e.model = 'br'),
         bool_and((SELECT array_agg(a.transition ORDER BY a.id) FROM cyoda_wf.audit_log a
                    WHERE a.entity_id = e.id) = '{t1,t2,t3}'
                  AND (SELECT v.state = 's3' AND v.version = 1 AND v.data = e.data
                         FROM cyoda_wf.entity_version v WHERE v.entity_id = e.id)),
         bool_and(e.state = 's3' AND (e.data->>'n')::int BETWEEN 1 AND 2000)
    FROM cyoda_wf.entity e WHERE e.model = 'br'
$$;

-- more rows than one batch of the flush (1,000), then a small statement
INSERT INTO cyoda_wf.entity (model, data) SELECT 'br', jsonb_build_object('n', g) FROM generate_series(1, 1500) g;
INSERT INTO cyoda_wf.entity (model, data) SELECT 'br', jsonb_build_object('n', g) FROM generate_series(1, 3) g;
SELECT * FROM br_counts();

-- a statement whose audit rows fail a constraint writes nothing
ALTER TABLE cyoda_wf.audit_log ADD CONSTRAINT br_no_t3 CHECK (transition IS DISTINCT FROM 't3') NOT VALID;
\set VERBOSITY terse
INSERT INTO cyoda_wf.entity (model, data) SELECT 'br', jsonb_build_object('n', g) FROM generate_series(1, 20) g;
\set VERBOSITY default
ALTER TABLE cyoda_wf.audit_log DROP CONSTRAINT br_no_t3;
SELECT * FROM br_counts();
INSERT INTO cyoda_wf.entity (model, data) SELECT 'br', jsonb_build_object('n', g) FROM generate_series(1, 20) g;
SELECT * FROM br_counts();

-- a column added to and dropped from the tables between statements
ALTER TABLE cyoda_wf.audit_log ADD COLUMN br_note text;
ALTER TABLE cyoda_wf.entity_version ADD COLUMN br_note text;
INSERT INTO cyoda_wf.entity (model, data) SELECT 'br', jsonb_build_object('n', g) FROM generate_series(1, 10) g;
SELECT * FROM br_counts();
ALTER TABLE cyoda_wf.audit_log DROP COLUMN br_note;
ALTER TABLE cyoda_wf.entity_version DROP COLUMN br_note;
INSERT INTO cyoda_wf.entity (model, data) SELECT 'br', jsonb_build_object('n', g) FROM generate_series(1, 10) g;
SELECT * FROM br_counts();

DELETE FROM cyoda_wf.entity WHERE model = 'br';
DROP FUNCTION br_counts();
