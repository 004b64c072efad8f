-- manual "toggle" written by hand, with the NOTIFY cyoda_wf sends for every
-- save (same channel, same payload): fire.hw.sql plus pg_notify.  Used by
-- bench/concurrency/run.sh.
\set n random(1, :nseed)
WITH u AS (
  UPDATE hw.entity e
     SET state = CASE e.state WHEN 'a' THEN 'b' ELSE 'a' END, version = e.version + 1,
         updated_at = clock_timestamp(), last_transition = 'toggle',
         transaction_id = txid_current()
   WHERE e.id = bench.tid(:n) AND e.state IN ('a', 'b')
  RETURNING e.id, e.model, e.model_version, e.state, e.version, e.data, e.updated_at,
            e.transaction_id),
a AS (
  INSERT INTO hw.audit (entity_id, at, transaction_id, event_type, transition, from_state,
                        to_state, role, detail)
  SELECT u.id, u.updated_at, u.transaction_id, 'TRANSITION_MAKE', 'toggle',
         CASE u.state WHEN 'a' THEN 'b' ELSE 'a' END, u.state, current_user,
         '{"workflow": "toggle", "manual": true}'
    FROM u),
v AS (
  INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                                 model_version, state, transition, transaction_id, data)
  SELECT u.id, u.version, 'UPDATE', u.updated_at, current_user, u.model, u.model_version, u.state,
         'toggle', u.transaction_id, u.data
    FROM u)
SELECT pg_notify('cyoda_wf', jsonb_build_object('id', u.id, 'model', u.model, 'state', u.state,
                 'version', u.version, 'changeType', 'UPDATE', 'transition', 'toggle',
                 'modelVersion', u.model_version)::text)
  FROM u;
