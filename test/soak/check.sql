-- Invariants after a soak run; one row per check: name, violations, an example.
-- test/scripts/soak.sh fails when any count is not 0.  Every check is a join
-- or a grouped scan (no per-row subquery), so it stays fast on long runs.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset fieldsep '|'
CREATE TEMP TABLE ent AS
  SELECT * FROM cyoda_wf.entity WHERE model IN ('soak', 'soak_cold', 'soak_child');
CREATE TEMP TABLE tm AS
  SELECT a.id, a.entity_id, a.transition, a.from_state, a.to_state,
         lag(a.to_state) OVER w AS prev_to, row_number() OVER w AS n
    FROM cyoda_wf.audit a
   WHERE a.event_type = 'TRANSITION_MAKE'
  WINDOW w AS (PARTITION BY a.entity_id ORDER BY a.id);
CREATE TEMP TABLE tm_sum AS
  SELECT DISTINCT ON (entity_id) entity_id, to_state AS last_to, transition AS last_transition,
         count(*) OVER (PARTITION BY entity_id) AS made,
         count(*) FILTER (WHERE transition <> 'close') OVER (PARTITION BY entity_id) AS with_process,
         count(*) FILTER (WHERE transition = 'spawn') OVER (PARTITION BY entity_id) AS spawns
    FROM tm ORDER BY entity_id, id DESC;
CREATE TEMP TABLE ver AS
  SELECT DISTINCT ON (entity_id) entity_id, version AS last_version, change_type AS last_change,
         state AS last_state, data AS last_data, transition AS last_transition,
         count(*) OVER (PARTITION BY entity_id) AS n,
         min(version) OVER (PARTITION BY entity_id) AS minv,
         count(*) FILTER (WHERE change_type = 'CREATE') OVER (PARTITION BY entity_id) AS creates,
         count(*) FILTER (WHERE change_type = 'DELETE') OVER (PARTITION BY entity_id) AS deletes
    FROM cyoda_wf.entity_version ORDER BY entity_id, version DESC;
CREATE TEMP TABLE kids AS
  SELECT (data->>'parent')::uuid AS parent, count(*) AS kids
    FROM cyoda_wf.entity_version WHERE model = 'soak_child' AND change_type = 'CREATE' GROUP BY 1;
CREATE INDEX ON tm_sum (entity_id);
CREATE INDEX ON ver (entity_id);
ANALYZE ent, tm, tm_sum, ver, kids;

WITH checks AS (
  -- the state is where the audit trail ends (or the initial state)
  SELECT 'state_equals_end_of_audit' AS name, count(*) AS violations, min(e.id::text) AS example
    FROM ent e LEFT JOIN tm_sum s ON s.entity_id = e.id
   WHERE e.state IS DISTINCT FROM coalesce(s.last_to, 'new')
  UNION ALL
  -- the audit trail is a chain: each transition starts where the last ended
  SELECT 'audit_is_a_chain', count(*), min(entity_id::text)
    FROM tm WHERE from_state IS DISTINCT FROM coalesce(prev_to, 'new')
  UNION ALL
  -- version = number of saves, numbered 1..n without gaps, one CREATE
  SELECT 'version_equals_count_of_saves', count(*), min(e.id::text)
    FROM ent e LEFT JOIN ver v ON v.entity_id = e.id
   WHERE v.n IS NULL OR e.version <> v.n OR v.last_version <> v.n OR v.minv <> 1
  UNION ALL
  SELECT 'one_create_per_entity', count(*), min(entity_id::text) FROM ver WHERE creates <> 1
  UNION ALL
  -- the latest version row is the entity as stored
  SELECT 'last_version_matches_entity', count(*), min(e.id::text)
    FROM ent e JOIN ver v ON v.entity_id = e.id
   WHERE v.last_state IS DISTINCT FROM e.state OR v.last_data IS DISTINCT FROM e.data
      OR v.last_transition IS DISTINCT FROM e.last_transition OR v.last_change = 'DELETE'
  UNION ALL
  -- last_transition is the last transition made by the latest save
  SELECT 'last_transition_in_audit', count(*), min(e.id::text)
    FROM ent e JOIN tm_sum s ON s.entity_id = e.id
   WHERE e.last_transition NOT IN (s.last_transition, 'loopback')
  UNION ALL
  -- every process ran exactly once per transition made ("close" has none)
  SELECT 'steps_equal_transitions_with_process', count(*), min(e.id::text)
    FROM ent e LEFT JOIN tm_sum s ON s.entity_id = e.id
   WHERE e.model IN ('soak', 'soak_cold')
     AND coalesce((e.data->>'steps')::int, 0) <> coalesce(s.with_process, 0)
  UNION ALL
  -- a child exists for each spawn made, and only then
  SELECT 'children_equal_spawns', count(*), min(coalesce(s.entity_id, k.parent)::text)
    FROM (SELECT entity_id, spawns FROM tm_sum WHERE spawns > 0) s
    FULL JOIN kids k ON k.parent = s.entity_id
   WHERE coalesce(s.spawns, 0) <> coalesce(k.kids, 0)
  UNION ALL
  SELECT 'children_have_their_parent', count(*), min(e.id::text)
    FROM ent e WHERE e.model = 'soak_child'
     AND (e.parent_id IS DISTINCT FROM (e.data->>'parent')::uuid OR e.source <> 'ENTITY_EVENT')
  UNION ALL
  -- deleted entities: gone, DELETE is their last version, deleted once
  SELECT 'deleted_are_gone', count(*), min(v.entity_id::text)
    FROM ver v LEFT JOIN cyoda_wf.entity e ON e.id = v.entity_id
   WHERE v.deletes > 0 AND (e.id IS NOT NULL OR v.last_change <> 'DELETE' OR v.deletes <> 1)
  UNION ALL
  SELECT 'no_pending_task_of_missing_entity', count(*), min(t.entity_id::text)
    FROM cyoda_wf.task t LEFT JOIN cyoda_wf.entity e ON e.id = t.entity_id
   WHERE t.state IN ('pending', 'running') AND e.id IS NULL
  UNION ALL
  -- after the final drain nothing is left to run, and no task failed
  SELECT 'no_pending_task_after_drain', count(*), min(t.id::text)
    FROM cyoda_wf.task t WHERE t.state IN ('pending', 'running')
  UNION ALL
  SELECT 'no_failed_task', count(*), min(t.id::text || ': ' || coalesce(t.last_error, ''))
    FROM cyoda_wf.task t WHERE t.state = 'failed'
  UNION ALL
  -- no audit or task row of an entity that never existed
  SELECT 'no_orphan_audit', count(*), min(a.entity_id::text)
    FROM (SELECT DISTINCT entity_id FROM cyoda_wf.audit) a LEFT JOIN ver v ON v.entity_id = a.entity_id
   WHERE v.entity_id IS NULL
  UNION ALL
  SELECT 'no_orphan_task', count(*), min(t.entity_id::text)
    FROM (SELECT DISTINCT entity_id FROM cyoda_wf.task) t LEFT JOIN ver v ON v.entity_id = t.entity_id
   WHERE v.entity_id IS NULL
  UNION ALL
  SELECT 'no_cancel_or_failure_audit', count(*), min(a.event_type || ' ' || a.entity_id::text)
    FROM cyoda_wf.audit a WHERE a.event_type IN ('CANCEL', 'PROCESS_FAILED')
)
SELECT name, violations, coalesce(example, '') FROM checks ORDER BY name;
