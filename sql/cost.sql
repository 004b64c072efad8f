-- Planner costs of the API: a save is evaluated after the plain quals of
-- its WHERE clause, whichever order they are written in; reads cost more
-- than an operator; set-returning functions declare their rows.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never

SELECT cyoda_wf.import_workflows('costed', 1, $json$
{
  "importMode": "REPLACE",
  "workflows": [
    {
      "version": "1.0", "name": "costed_flow", "initialState": "a", "active": true,
      "states": {
        "a": {"transitions": [{"name": "bump", "next": "b", "manual": true}]},
        "b": {"transitions": []}
      }
    }
  ]
}
$json$) IS NOT NULL AS imported;

CREATE TEMP TABLE t (k integer, id uuid);
INSERT INTO t SELECT k, cyoda_wf.add_item('costed', 1, jsonb_build_object('k', k))
  FROM generate_series(1, 10) k;

-- the save is written first here: the planner still tests k = 5 first
SELECT t.k FROM t
 WHERE cyoda_wf.fire(t.id, 'bump') IS NOT NULL AND t.k = 5;
SELECT t.k FROM t
 WHERE t.k = 6 AND cyoda_wf.fire(t.id, 'bump') IS NOT NULL;
SELECT (e.data->>'k')::integer AS k, e.state FROM cyoda_wf.entity e
 WHERE e.model = 'costed' ORDER BY 1;

-- the qual order EXPLAIN shows: the plain one first
EXPLAIN (COSTS OFF) SELECT * FROM t
 WHERE cyoda_wf.fire(t.id, 'bump') IS NOT NULL AND t.k = 5;
EXPLAIN (COSTS OFF) SELECT * FROM t
 WHERE cyoda_wf.get_item(t.id) IS NOT NULL AND t.k = 5;

-- every function of the API costs more than an operator (1); which do not
SELECT p.oid::regprocedure AS cheap
  FROM pg_proc p
 WHERE p.pronamespace = 'cyoda_wf'::regnamespace AND p.prokind = 'f'
   AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
   AND p.procost <= 1
 ORDER BY p.oid::regprocedure::text;
-- entity-changing functions cost 100 or more
SELECT p.oid::regprocedure AS save, p.procost >= 100 AS costly
  FROM pg_proc p
 WHERE p.pronamespace = 'cyoda_wf'::regnamespace
   AND p.proname IN ('add_item', 'update_item', 'patch_item', 'fire', 'delete_item',
                     'delete_items', 'import_model', 'import_workflows', 'import_design',
                     'load_functions', 'retry_task', 'ingest', 'prune_history', 'prune_tasks')
 ORDER BY p.oid::regprocedure::text;
-- set-returning functions: their row estimate
SELECT p.oid::regprocedure AS srf, p.prorows
  FROM pg_proc p
 WHERE p.pronamespace = 'cyoda_wf'::regnamespace AND p.proretset
 ORDER BY p.oid::regprocedure::text;
