-- loopback written by hand: new data, the same criteria evaluated against it
-- in SQL in the workflow's order (close / escalate in open, close / calm in
-- escalated, and again in the state a transition reaches), entity row, an
-- audit row when a transition fires and one per criterion that did not match
-- (TRANSITION_NOT_MATCH_CRITERION with the failing condition, as cyoda_wf
-- writes them), version row; one statement.
\set n random(1, :nseed)
\set p random(1, 5)
WITH o AS (
  SELECT e.id, e.state AS os, e.data || jsonb_build_object('priority', CAST(:p AS integer)) AS nd
    FROM hw.entity e WHERE e.id = bench.lid(:n) FOR UPDATE),
c AS (
  -- each criterion on the new data
  SELECT o.*,
         COALESCE(o.nd->>'status' = 'closed' AND (o.nd->'priority')::numeric < 0, false) AS c_close,
         COALESCE((o.nd->'priority')::numeric >= 3, false) AS c_esc,
         COALESCE((o.nd->'priority')::numeric < 3, false) AS c_calm
    FROM o),
ev AS MATERIALIZED (
  -- the criteria evaluated, in order: in the entity's state, then in the
  -- state its transition reached
  SELECT c.id, v.ord, v.tr, v.st, v.ok
    FROM c, LATERAL (VALUES
           (1, 'close', c.os, c.c_close),
           (2, CASE c.os WHEN 'open' THEN 'escalate' ELSE 'calm' END, c.os,
               CASE c.os WHEN 'open' THEN c.c_esc ELSE c.c_calm END),
           (3, 'close', CASE c.os WHEN 'open' THEN 'escalated' ELSE 'open' END, c.c_close),
           (4, CASE c.os WHEN 'open' THEN 'calm' ELSE 'escalate' END,
               CASE c.os WHEN 'open' THEN 'escalated' ELSE 'open' END,
               CASE c.os WHEN 'open' THEN c.c_calm ELSE c.c_esc END)) AS v(ord, tr, st, ok)
   WHERE c.os IN ('open', 'escalated')
     AND (v.ord = 1
          OR (v.ord = 2 AND NOT c.c_close)
          OR (v.ord >= 3 AND NOT c.c_close AND CASE c.os WHEN 'open' THEN c.c_esc ELSE c.c_calm END))),
t AS (
  SELECT c.*, (SELECT ev.tr FROM ev WHERE ev.ok ORDER BY ev.ord LIMIT 1) AS tr
    FROM c),
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
  SELECT u.id, clock_timestamp(), u.transaction_id, x.event_type, x.tr, x.st, x.tt,
         current_user, x.detail
    FROM u, (SELECT ev.ord, CASE WHEN ev.ok THEN 'TRANSITION_MAKE'
                                 ELSE 'TRANSITION_NOT_MATCH_CRITERION' END AS event_type,
                    ev.tr, ev.st,
                    CASE WHEN NOT ev.ok THEN ev.st
                         WHEN ev.tr = 'close' THEN 'closed' WHEN ev.tr = 'escalate' THEN 'escalated'
                         ELSE 'open' END AS tt,
                    CASE WHEN ev.ok THEN '{"workflow": "loop", "manual": false}'::jsonb
                         ELSE jsonb_build_object('reason', 'criterion did not match', 'workflow', 'loop',
                                'condition', CASE ev.tr
                                  WHEN 'close' THEN
                                    CASE WHEN c.nd->>'status' IS DISTINCT FROM 'closed'
                                         THEN '{"type": "simple", "value": "closed", "jsonPath": "$.status", "operatorType": "EQUALS"}'::jsonb
                                         ELSE '{"type": "simple", "value": 0, "jsonPath": "$.priority", "operatorType": "LESS_THAN"}' END
                                  WHEN 'escalate' THEN '{"type": "simple", "value": 3, "jsonPath": "$.priority", "operatorType": "GREATER_OR_EQUAL"}'
                                  ELSE '{"type": "simple", "value": 3, "jsonPath": "$.priority", "operatorType": "LESS_THAN"}' END) END AS detail
               FROM ev, c
              ORDER BY ev.ord) AS x)
INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                               model_version, state, transition, transaction_id, data)
SELECT u.id, u.version, 'UPDATE', u.updated_at, current_user, u.model, u.model_version, u.state,
       COALESCE(u.tr, 'loopback'), u.transaction_id, u.data
  FROM u;
