-- loopback written by hand: new data, the same criteria evaluated against it
-- in SQL (close / escalate / calm), entity row, audit row when a transition
-- fires, version row; one statement.
\set n random(1, :nseed)
\set p random(1, 5)
WITH o AS (
  SELECT e.id, e.state AS os, e.data || jsonb_build_object('priority', CAST(:p AS integer)) AS nd
    FROM hw.entity e WHERE e.id = bench.lid(:n) FOR UPDATE),
t AS (
  SELECT o.*, CASE
           WHEN o.os IN ('open', 'escalated') AND o.nd->>'status' = 'closed'
                AND (o.nd->'priority')::numeric < 0 THEN 'close'
           WHEN o.os = 'open' AND (o.nd->'priority')::numeric >= 3 THEN 'escalate'
           WHEN o.os = 'escalated' AND (o.nd->'priority')::numeric < 3 THEN 'calm'
         END AS tr
    FROM o),
u AS (
  UPDATE hw.entity e
     SET data = t.nd,
         state = CASE t.tr WHEN 'close' THEN 'closed' WHEN 'escalate' THEN 'escalated'
                           WHEN 'calm' THEN 'open' ELSE t.os END,
         version = e.version + 1, updated_at = clock_timestamp(),
         last_transition = COALESCE(t.tr, 'loopback'), transaction_id = txid_current()
    FROM t
   WHERE e.id = t.id
  RETURNING e.id, e.model, e.model_version, e.state, e.version, e.data, e.updated_at,
            e.transaction_id, t.tr, t.os),
a AS (
  INSERT INTO hw.audit (entity_id, at, transaction_id, event_type, transition, from_state,
                        to_state, role, detail)
  SELECT u.id, u.updated_at, u.transaction_id, 'TRANSITION_MAKE', u.tr, u.os, u.state,
         current_user, '{"workflow": "loop", "manual": false}'
    FROM u WHERE u.tr IS NOT NULL)
INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                               model_version, state, transition, transaction_id, data)
SELECT u.id, u.version, 'UPDATE', u.updated_at, current_user, u.model, u.model_version, u.state,
       COALESCE(u.tr, 'loopback'), u.transaction_id, u.data
  FROM u;
