-- create + criteria-heavy cascade written by hand: every state's three
-- conditions evaluated in SQL in order (reject / hold / next), the path they
-- give, then entity row, one audit row per step and one per criterion that
-- did not match before it (TRANSITION_NOT_MATCH_CRITERION with the failing
-- condition, as cyoda_wf writes them), version row; one statement.
\set n random(1, 1000000000)
WITH x AS MATERIALIZED (SELECT bench.data(:n) AS d),
k AS MATERIALIZED (
  SELECT x.d,
         CASE WHEN (d->'amount')::numeric > 100001 AND d->>'country' = 'US' THEN 1
              WHEN (d->'priority')::numeric > 10 OR (d->>'country' = 'XX' AND d->'tags' ? 'vip') THEN 2
              WHEN (d->'amount')::numeric > 1 AND d->>'country' = 'NL' AND (d->'priority')::numeric < 11 THEN 3 ELSE 0 END AS k1,
         CASE WHEN (d->'amount')::numeric > 100002 AND d->>'country' = 'US' THEN 1
              WHEN (d->'priority')::numeric > 11 OR (d->>'country' = 'XX' AND d->'tags' ? 'vip') THEN 2
              WHEN (d->'amount')::numeric > 2 AND d->>'country' = 'NL' AND (d->'priority')::numeric < 12 THEN 3 ELSE 0 END AS k2,
         CASE WHEN (d->'amount')::numeric > 100003 AND d->>'country' = 'US' THEN 1
              WHEN (d->'priority')::numeric > 12 OR (d->>'country' = 'XX' AND d->'tags' ? 'vip') THEN 2
              WHEN (d->'amount')::numeric > 3 AND d->>'country' = 'NL' AND (d->'priority')::numeric < 13 THEN 3 ELSE 0 END AS k3,
         CASE WHEN (d->'amount')::numeric > 100004 AND d->>'country' = 'US' THEN 1
              WHEN (d->'priority')::numeric > 13 OR (d->>'country' = 'XX' AND d->'tags' ? 'vip') THEN 2
              WHEN (d->'amount')::numeric > 4 AND d->>'country' = 'NL' AND (d->'priority')::numeric < 14 THEN 3 ELSE 0 END AS k4,
         CASE WHEN (d->'amount')::numeric > 100005 AND d->>'country' = 'US' THEN 1
              WHEN (d->'priority')::numeric > 14 OR (d->>'country' = 'XX' AND d->'tags' ? 'vip') THEN 2
              WHEN (d->'amount')::numeric > 5 AND d->>'country' = 'NL' AND (d->'priority')::numeric < 15 THEN 3 ELSE 0 END AS k5
    FROM x),
r AS MATERIALIZED (
  -- the steps reached and what matched there (1 reject, 2 hold, 3 next, 0 none)
  SELECT v.i, v.kind
    FROM k, LATERAL (VALUES
                   (1, k1),
                   (2, CASE WHEN k1 = 3 THEN k2 END),
                   (3, CASE WHEN k1 = 3 AND k2 = 3 THEN k3 END),
                   (4, CASE WHEN k1 = 3 AND k2 = 3 AND k3 = 3 THEN k4 END),
                   (5, CASE WHEN k1 = 3 AND k2 = 3 AND k3 = 3 AND k4 = 3 THEN k5 END)) AS v(i, kind)
   WHERE v.kind IS NOT NULL),
s AS MATERIALIZED (
  SELECT r.i, r.kind,
         CASE r.kind WHEN 1 THEN 'reject_' WHEN 2 THEN 'hold_' ELSE 'next_' END || r.i AS tr,
         'c' || (r.i - 1) AS fr,
         CASE r.kind WHEN 1 THEN 'rejected' WHEN 2 THEN 'held' ELSE 'c' || r.i END AS tt
    FROM r WHERE r.kind > 0),
nm AS MATERIALIZED (
  -- the criteria evaluated before the one that matched (all three when none
  -- did), each with its innermost failing condition
  SELECT r.i, t.ord, t.name || '_' || r.i AS tr, 'c' || (r.i - 1) AS st, t.cond
    FROM r, k, LATERAL (VALUES
           (1, 'reject', CASE WHEN NOT COALESCE((k.d->'amount')::numeric > 100000 + r.i, false)
                              THEN jsonb_build_object('type', 'simple', 'value', 100000 + r.i,
                                                      'jsonPath', '$.amount', 'operatorType', 'GREATER_THAN')
                              ELSE '{"type": "simple", "value": "US", "jsonPath": "$.country", "operatorType": "EQUALS"}' END),
           (2, 'hold', '{"type": "group", "operator": "OR"}'::jsonb),
           (3, 'next', CASE WHEN NOT COALESCE((k.d->'amount')::numeric > r.i, false)
                            THEN jsonb_build_object('type', 'simple', 'value', r.i,
                                                    'jsonPath', '$.amount', 'operatorType', 'GREATER_THAN')
                            WHEN k.d->>'country' IS DISTINCT FROM 'NL'
                            THEN '{"type": "simple", "value": "NL", "jsonPath": "$.country", "operatorType": "EQUALS"}'
                            ELSE jsonb_build_object('type', 'simple', 'value', 10 + r.i,
                                                    'jsonPath', '$.priority', 'operatorType', 'LESS_THAN') END)
         ) AS t(ord, name, cond)
   WHERE r.kind = 0 OR t.ord < r.kind),
e AS (
  INSERT INTO hw.entity (model, model_version, state, data, created_at, updated_at, version,
                         last_transition, workflow, source, transaction_id)
  SELECT 'b_crit', 1, COALESCE(l.tt, 'c0'), k.d, clock_timestamp(), clock_timestamp(), 1,
         l.tr, 'crit', 'API_REQUEST', txid_current()
    FROM k LEFT JOIN (SELECT tr, tt FROM s ORDER BY i DESC LIMIT 1) AS l ON true
  RETURNING id, model, model_version, state, data, last_transition, updated_at, transaction_id),
a AS (
  INSERT INTO hw.audit (entity_id, at, transaction_id, event_type, transition, from_state,
                        to_state, role, detail)
  SELECT e.id, clock_timestamp(), e.transaction_id, x.event_type, x.tr, x.fr, x.tt,
         current_user, x.detail
    FROM e, (SELECT s.i, 9 AS ord, 'TRANSITION_MAKE' AS event_type, s.tr, s.fr, s.tt,
                    '{"workflow": "crit", "manual": false}'::jsonb AS detail
               FROM s
             UNION ALL
             SELECT nm.i, nm.ord, 'TRANSITION_NOT_MATCH_CRITERION', nm.tr, nm.st, nm.st,
                    jsonb_build_object('reason', 'criterion did not match', 'workflow', 'crit',
                                       'condition', nm.cond)
               FROM nm
              ORDER BY 1, 2) AS x)
INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                               model_version, state, transition, transaction_id, data)
SELECT e.id, 1, 'CREATE', e.updated_at, current_user, e.model, e.model_version, e.state,
       e.last_transition, e.transaction_id, e.data
  FROM e;
