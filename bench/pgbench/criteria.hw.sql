-- create + criteria-heavy cascade written by hand: every state's three
-- conditions evaluated in SQL in order (reject / hold / next), the path they
-- give, then entity row, one audit row per step, version row; one statement.
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
s AS MATERIALIZED (
  SELECT v.i, v.kind,
         CASE v.kind WHEN 1 THEN 'reject_' WHEN 2 THEN 'hold_' ELSE 'next_' END || v.i AS tr,
         'c' || (v.i - 1) AS fr,
         CASE v.kind WHEN 1 THEN 'rejected' WHEN 2 THEN 'held' ELSE 'c' || v.i END AS tt
    FROM k, LATERAL (VALUES
                   (1, k1),
                   (2, CASE WHEN k1 = 3 THEN k2 ELSE 0 END),
                   (3, CASE WHEN k1 = 3 AND k2 = 3 THEN k3 ELSE 0 END),
                   (4, CASE WHEN k1 = 3 AND k2 = 3 AND k3 = 3 THEN k4 ELSE 0 END),
                   (5, CASE WHEN k1 = 3 AND k2 = 3 AND k3 = 3 AND k4 = 3 THEN k5 ELSE 0 END)) AS v(i, kind)
   WHERE v.kind > 0),
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
  SELECT e.id, clock_timestamp(), e.transaction_id, 'TRANSITION_MAKE', s.tr, s.fr, s.tt,
         current_user, '{"workflow": "crit", "manual": false}'
    FROM e, s)
INSERT INTO hw.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                               model_version, state, transition, transaction_id, data)
SELECT e.id, 1, 'CREATE', e.updated_at, current_user, e.model, e.model_version, e.state,
       e.last_transition, e.transaction_id, e.data
  FROM e;
