-- manual "toggle" written by hand: UPDATE of the entity + audit row + version row
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
    FROM u)
INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                               model_version, state, transition, transaction_id, data)
SELECT u.id, u.version, 'UPDATE', u.updated_at, current_user, u.model, u.model_version, u.state,
       'toggle', u.transaction_id, u.data
  FROM u;
