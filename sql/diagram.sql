-- Views of stored workflows: diagram() (Mermaid, Graphviz DOT) and
-- scaffold() (stubs for the process and criteria functions still missing).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never
\pset format unaligned
\pset tuples_only on

-- The data pipeline design (examples/designs/data_pipeline.json, which
-- sql/design.sql loads too); its functions go to schema diagram_fns, which
-- does not exist yet.
\getenv abs_srcdir PG_ABS_SRCDIR
\set pipeline_file :abs_srcdir '/examples/designs/data_pipeline.json'
\set pipeline `cat :'pipeline_file'`
SELECT cyoda_wf.import_design(:'pipeline', 'diagram_fns') -> 'entities';

-- Mermaid (the default format) and DOT of the job's workflow: the manual
-- add_report is marked with a hand and "(manual)" in Mermaid, dashed in DOT.
SELECT cyoda_wf.diagram('data_ingestion_job');
SELECT cyoda_wf.diagram('data_ingestion_job', 1, 'dot');
SELECT cyoda_wf.diagram('aggregated_data_entity', format => 'mermaid');

-- A model without workflows (none imported, or no model at all) runs
-- Cyoda's default workflow, and that is what is drawn.
SELECT cyoda_wf.diagram('raw_data_entity');
SELECT cyoda_wf.diagram('no_such_model', 7, 'DOT');

-- Unknown format.
SELECT cyoda_wf.diagram('data_ingestion_job', 1, 'svg');
\echo :LAST_ERROR_SQLSTATE

-- Several workflows of one model, one of them inactive; free-text state
-- names (quotes, spaces, a Mermaid keyword), criteria (workflow criteria,
-- a nested group with a function criterion), a disabled transition, a
-- scheduled one, processors.  No workflow takes every new entity, so the
-- default workflow the engine falls back to is drawn after them.
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('diagram_doc', 1, 'diagram_fns');
SELECT cyoda_wf.import_workflows('diagram_doc', 1, $json$
{"importMode": "REPLACE", "workflows": [
  {"name": "review", "initialState": "Draft",
   "criterion": {"type": "simple", "jsonPath": "$.kind", "operatorType": "EQUALS", "value": "article"},
   "states": {
     "Draft": {"transitions": [
       {"name": "submit for review", "next": "In \"Review\"", "manual": true},
       {"name": "auto_check", "next": "Draft", "disabled": true,
        "criterion": {"type": "group", "operator": "AND", "conditions": [
          {"type": "simple", "jsonPath": "$.words", "operatorType": "GREATER_THAN", "value": 1000},
          {"type": "group", "operator": "NOT", "conditions": [
            {"type": "function", "function": {"name": "is_spam"}}]}]}}]},
     "In \"Review\"": {"transitions": [
       {"name": "approve", "next": "end", "manual": true,
        "processors": [{"name": "publish"}, {"name": "notify", "executionMode": "ASYNC_NEW_TX"}]},
       {"name": "expire", "next": "Draft", "schedule": {"delayMs": 86400000}}]},
     "end": {"transitions": []}}},
  {"name": "legacy", "active": false, "initialState": "new",
   "criterion": {"type": "function", "function": {"name": "is_legacy"}},
   "states": {"new": {"transitions": [{"name": "close", "next": "closed",
                                       "processors": [{"name": "publish"}]}]},
              "closed": {"transitions": []}}}]}
$json$) -> 'workflows';
SELECT cyoda_wf.diagram('diagram_doc');
SELECT cyoda_wf.diagram('diagram_doc', 1, 'dot');

-- scaffold(): one stub per missing function, each once however many
-- transitions use it; criteria return boolean, processes jsonb.  The
-- schema does not exist yet, so the script creates it.
SELECT cyoda_wf.scaffold('data_ingestion_job');
SELECT cyoda_wf.scaffold('diagram_doc');
-- A function that exists is no longer listed.
CREATE SCHEMA diagram_fns;
CREATE FUNCTION diagram_fns.has_connection(meta jsonb, data jsonb) RETURNS boolean
    LANGUAGE sql AS $$SELECT data ? 'source'$$;
SELECT cyoda_wf.scaffold('data_ingestion_job');
-- scaffold() with no model covers every model.
SELECT strpos(cyoda_wf.scaffold(), 'diagram_fns.ingest_raw_data') > 0,
       strpos(cyoda_wf.scaffold(), 'diagram_fns.is_spam') > 0;

-- The script runs as it is; afterwards nothing is missing, and the stubs
-- are not executable by PUBLIC.
SELECT cyoda_wf.scaffold('data_ingestion_job') \gexec
SELECT cyoda_wf.scaffold('diagram_doc') \gexec
SELECT cyoda_wf.scaffold('data_ingestion_job');
SELECT cyoda_wf.scaffold('diagram_doc');
SELECT p.proname, pg_get_function_result(p.oid),
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.pronamespace = 'diagram_fns'::regnamespace ORDER BY 1;

-- Names that are hard to quote (a newline in the model name, dollar signs,
-- quotes, backslashes): the script stays one runnable script.
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES (E'diagram\nodd', 1, 'diagram_fns');
SELECT cyoda_wf.import_workflows(E'diagram\nodd', 1, $json$
{"workflows": [{"name": "odd", "initialState": "a b", "states": {
  "a b": {"transitions": [{"name": "say $$ \"\"\"hi\"\"\" \\ now", "next": "a b", "manual": true,
                           "processors": [{"name": "Odd $$ Proc"}]}]}}}]}
$json$) -> 'workflows';
SELECT cyoda_wf.scaffold(E'diagram\nodd');
SELECT cyoda_wf.scaffold(E'diagram\nodd') \gexec
SELECT cyoda_wf.scaffold(E'diagram\nodd');
SELECT cyoda_wf.diagram(E'diagram\nodd');
SELECT cyoda_wf.diagram(E'diagram\nodd', 1, 'dot');

-- The stubs run: a job with a source goes through every automatic
-- transition and waits for the manual add_report.
SELECT cyoda_wf.add_item('data_ingestion_job', 1, '{"source": "https://example.org/feed"}') AS job \gset
SELECT state, last_transition FROM cyoda_wf.entity WHERE id = :'job';
SELECT cyoda_wf.fire(:'job', 'add_report');

-- Leave no entity behind for later tests.
DELETE FROM cyoda_wf.entity WHERE id = :'job';

-- Criteria are drawn from the compiled condition: a group whose operator is
-- written under "operatorType" (or "operation") is drawn with it, a group
-- without "type" from its members, each member of a group as written.
-- An operand that looks like a function condition is data: scaffold() does
-- not list it.
INSERT INTO cyoda_wf.model (name, version, function_schema) VALUES ('diagram_groups', 1, 'diagram_fns');
SELECT cyoda_wf.import_workflows('diagram_groups', 1, $json$
{"workflows": [{"name": "groups", "initialState": "a", "states": {
  "a": {"transitions": [
    {"name": "either", "next": "a",
     "criterion": {"type": "group", "operatorType": "OR", "conditions": [
       {"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": 1},
       {"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": "two"}]}},
    {"name": "untyped", "next": "a",
     "criterion": {"operation": "and", "conditions": [
       {"jsonPath": "$.c", "operatorType": "IS_NULL"},
       {"type": "array", "jsonPath": "$.t", "values": ["x", null, 3]}]}},
    {"name": "dates", "next": "a",
     "criterion": {"type": "lifecycle", "field": "creationDate", "operatorType": "BETWEEN",
                   "value": ["2024-01-01", "2025-01-01"]}},
    {"name": "data", "next": "a",
     "criterion": {"type": "simple", "jsonPath": "$.cfg", "operatorType": "EQUALS",
                   "value": {"type": "function", "function": {"name": "not_a_function"}}}}]}}}]}
$json$) -> 'workflows';
SELECT cyoda_wf.diagram('diagram_groups');
SELECT cyoda_wf.scaffold('diagram_groups');
