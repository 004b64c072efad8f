-- create + cascade through 5 automatic transitions, written by hand, with
-- the NOTIFY cyoda_wf sends for every save (same channel, same payload):
-- cascade.hw.sql plus pg_notify.  Used by bench/concurrency/run.sh.
\set n random(1, 1000000000)
WITH e AS (
  INSERT INTO hw.entity (model, model_version, state, data, created_at, updated_at, version,
                         last_transition, workflow, source, transaction_id)
  VALUES ('b_chain', 1, 's5', bench.data(:n), clock_timestamp(), clock_timestamp(), 1,
          't5', 'chain', 'API_REQUEST', txid_current())
  RETURNING id, model, model_version, state, data, updated_at, transaction_id),
a AS (
  INSERT INTO hw.audit (entity_id, at, transaction_id, event_type, transition, from_state,
                        to_state, role, detail)
  SELECT e.id, clock_timestamp(), e.transaction_id, 'TRANSITION_MAKE', s.tr, s.fr, s.tt,
         current_user, '{"workflow": "chain", "manual": false}'
    FROM e, (VALUES ('t1', 's0', 's1'), ('t2', 's1', 's2'), ('t3', 's2', 's3'),
                    ('t4', 's3', 's4'), ('t5', 's4', 's5')) AS s(tr, fr, tt)),
v AS (
  INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                                 model_version, state, transition, transaction_id, data)
  SELECT e.id, 1, 'CREATE', e.updated_at, current_user, e.model, e.model_version, e.state, 't5',
         e.transaction_id, e.data
    FROM e)
SELECT pg_notify('cyoda_wf', jsonb_build_object('id', e.id, 'model', e.model, 'state', e.state,
                 'version', 1, 'changeType', 'CREATE', 'transition', 't5',
                 'modelVersion', e.model_version)::text)
  FROM e;
