-- The design front end: validate_design, import_design (the seed's
-- "Required Output" format translated into native workflows).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never
\pset format unaligned

-- Process and criteria functions of these tests live in their own schema.
CREATE SCHEMA design_fns;
CREATE FUNCTION design_fns.ok_crit(meta jsonb, data jsonb) RETURNS boolean
    LANGUAGE sql AS 'SELECT true';
CREATE FUNCTION design_fns.ok_proc(meta jsonb, data jsonb) RETURNS jsonb
    LANGUAGE sql AS 'SELECT data';

-- One line per issue: severity, path, message.
CREATE FUNCTION pg_temp.check(d jsonb) RETURNS SETOF text LANGUAGE sql AS $$
    SELECT v.severity || ' ' || v.path || ': ' || v.message
      FROM cyoda_wf.validate_design(d, 'design_fns') v
$$;

CREATE TABLE design_examples (name text PRIMARY KEY, design jsonb NOT NULL);

-- The data pipeline design: examples/designs/data_pipeline.json, which
-- sql/diagram.sql loads too.
\getenv abs_srcdir PG_ABS_SRCDIR
\set pipeline_file :abs_srcdir '/examples/designs/data_pipeline.json'
\set pipeline `cat :'pipeline_file'`
INSERT INTO design_examples VALUES ('pipeline', :'pipeline');

-- The pipeline is valid; its functions do not exist yet: warnings only.
SELECT * FROM cyoda_wf.validate_design((SELECT design FROM design_examples WHERE name = 'pipeline'), 'design_fns');

-- Import it: one model per entity, version 1.
SELECT jsonb_pretty(cyoda_wf.import_design(design, 'design_fns'))
  FROM design_examples WHERE name = 'pipeline';
SELECT name, version, entity_type, sources, depends_on, function_schema,
       design ->> 'entity_name' AS design_entity
  FROM cyoda_wf.model WHERE function_schema = 'design_fns' ORDER BY name;
SELECT model, model_version, name, ord, function_schema, owner
  FROM cyoda_wf.workflow WHERE function_schema = 'design_fns' ORDER BY model, ord;

-- The translation: initial state "None", transitions under their start state,
-- end states present, manual from transition_type, function criterion, one
-- SYNC processor, descriptions and adds_new_entites as annotations.
SELECT jsonb_pretty(cyoda_wf.export_workflows('data_ingestion_job', 1));
SELECT jsonb_pretty(cyoda_wf.export_workflows('aggregated_data_entity', 1));
SELECT cyoda_wf.export_workflows('raw_data_entity', 1);

-- Importing again replaces in place: the job now has a single transition
-- into a renamed workflow, and raw_data_entity gains a workflow.
SELECT jsonb_pretty(cyoda_wf.import_design(
  jsonb_set(jsonb_set(d.design,
    '{entities,0,entity_workflow}',
    '{"name": "ingestion_v2", "description": "Second version.", "transitions": [
       {"name": "ingest_data", "start_state": "None", "end_state": "done",
        "transition_type": "manual", "process": {"name": "ok_proc"}}]}'),
    '{entities,1,entity_workflow}',
    '{"name": "raw_workflow", "transitions": [
       {"name": "check", "start_state": "None", "end_state": "checked",
        "criteria": {"name": "ok_crit"}}]}'),
  'design_fns'))
  FROM design_examples d WHERE d.name = 'pipeline';
SELECT model, name, definition
  FROM cyoda_wf.workflow WHERE model IN ('data_ingestion_job', 'raw_data_entity')
 ORDER BY model, ord;

-- The seed's own example, with Python's None written as null, given as text
-- (an untyped literal goes to the text overload).  can_proceed false warns.
SELECT jsonb_pretty(cyoda_wf.import_design($json$
{
  "can_proceed": false,
  "entities": [
    {
      "depends_on_entity": "None",
      "entity_name": "data_ingestion_job",
      "entity_source": "SCHEDULED",
      "entity_type": "JOB",
      "entity_workflow": {
        "class_name": "com.cyoda.tdb.model.treenode.TreeNodeEntity",
        "name": "data_ingestion_workflow",
        "transitions": [
          {
            "criteria": {
              "description": "Triggered by a scheduled job to ingest data.",
              "name": "scheduled_ingestion"
            },
            "description": "Start the data ingestion process from the API.",
            "end_state": "data_ingested",
            "end_state_description": "Data has been successfully ingested.",
            "name": "start_data_ingestion",
            "process": {
              "adds_new_entites": "raw_data_entity",
              "description": "Process to ingest raw data from the specified API.",
              "name": "ingest_raw_data"
            },
            "start_state": "None",
            "start_state_description": "Initial state before data ingestion."
          }
        ]
      }
    },
    {
      "depends_on_entity": "data_ingestion_job",
      "entity_name": "raw_data_entity",
      "entity_source": "ENTITY_EVENT",
      "entity_type": "EXTERNAL_SOURCES_PULL_BASED_RAW_DATA",
      "entity_workflow": null
    }
  ]
}
$json$, 'design_fns'));
SELECT name, entity_type, sources, depends_on FROM cyoda_wf.model
 WHERE name IN ('data_ingestion_job', 'raw_data_entity') ORDER BY name;
SELECT model, name FROM cyoda_wf.workflow
 WHERE model IN ('data_ingestion_job', 'raw_data_entity') ORDER BY model, ord;

-- The same text as the seed writes it, with None: not JSON, 22023 and a hint.
\set VERBOSITY default
SELECT cyoda_wf.import_design($json$
{
  "can_proceed": false,
  "entities": [
    {
      "depends_on_entity": "None",
      "entity_name": "data_ingestion_job",
      "entity_source": "SCHEDULED",
      "entity_type": "JOB",
      "entity_workflow": {
        "class_name": "com.cyoda.tdb.model.treenode.TreeNodeEntity",
        "name": "data_ingestion_workflow",
        "transitions": [
          {
            "criteria": {
              "description": "Triggered by a scheduled job to ingest data.",
              "name": "scheduled_ingestion"
            },
            "description": "Start the data ingestion process from the API.",
            "end_state": "data_ingested",
            "end_state_description": "Data has been successfully ingested.",
            "name": "start_data_ingestion",
            "process": {
              "adds_new_entites": "raw_data_entity",
              "description": "Process to ingest raw data from the specified API.",
              "name": "ingest_raw_data"
            },
            "start_state": "None",
            "start_state_description": "Initial state before data ingestion."
          }
        ]
      }
    },
    {
      "depends_on_entity": "data_ingestion_job",
      "entity_name": "raw_data_entity",
      "entity_source": "ENTITY_EVENT",
      "entity_type": "EXTERNAL_SOURCES_PULL_BASED_RAW_DATA",
      "entity_workflow": None
    }
  ]
}
$json$, 'design_fns');
\echo :LAST_ERROR_SQLSTATE
-- validate_design(text) parses the same way.
SELECT * FROM cyoda_wf.validate_design('{"entities": [{"entity_workflow": None}] // x }');
\echo :LAST_ERROR_SQLSTATE
-- An explicit ::jsonb goes to the jsonb overload: PostgreSQL's own parser.
SELECT cyoda_wf.import_design('{"entities": None}'::jsonb);
\echo :LAST_ERROR_SQLSTATE
-- Text with and without a schema resolves without ambiguity.
SELECT cyoda_wf.import_design('{"entities": []}');
SELECT cyoda_wf.import_design('{"entities": []}', 'design_fns');
SELECT * FROM cyoda_wf.validate_design('{"entities": []}');
SELECT * FROM cyoda_wf.validate_design('{"entities": []}', 'design_fns');
SELECT cyoda_wf.import_design('{"entities": []}', '');
\echo :LAST_ERROR_SQLSTATE

-- Every rule, with its path.  The design itself:
SELECT pg_temp.check('[]');
SELECT pg_temp.check('{"title": "no entities"}');
SELECT pg_temp.check('{"entities": {"a": 1}}');
-- Extra top-level keys: "$schema", "title", "type" silently, others warned.
SELECT pg_temp.check('{"$schema": "x", "title": "t", "type": "object", "author": "me",
                       "can_proceed": false, "entities": []}');

-- Entities: object, entity_name.
SELECT pg_temp.check('{"entities": [1, "job"]}');
SELECT pg_temp.check('{"entities": [{"entity_type": "JOB", "entity_source": "API_REQUEST"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "DataJob", "entity_type": "JOB", "entity_source": "API_REQUEST"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "data job", "entity_type": "JOB", "entity_source": "API_REQUEST"}]}');
SELECT pg_temp.check(jsonb_build_object('entities', jsonb_build_array(jsonb_build_object(
    'entity_name', repeat('a', 64), 'entity_type', 'JOB', 'entity_source', 'API_REQUEST'))));
SELECT pg_temp.check('{"entities": [
    {"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST"},
    {"entity_name": "job", "entity_type": "UTIL", "entity_source": "API_REQUEST"}]}');

-- entity_type: known types only (subtypes and DERIVED_DATA accepted).
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_source": "API_REQUEST"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "TASK", "entity_source": "API_REQUEST"}]}');
SELECT pg_temp.check('{"entities": [
    {"entity_name": "job", "entity_type": "JOB", "entity_source": "SCHEDULED"},
    {"entity_name": "a", "entity_type": "WEB_SCRAPING_PUSH_BASED_RAW_DATA", "entity_source": "ENTITY_EVENT", "depends_on_entity": "job"},
    {"entity_name": "b", "entity_type": "DERIVED_DATA", "entity_source": "ENTITY_EVENT", "depends_on_entity": "a"},
    {"entity_name": "c", "entity_type": "UTIL", "entity_source": "SCHEDULED"},
    {"entity_name": "d", "entity_type": "CONFIG", "entity_source": "API_REQUEST"},
    {"entity_name": "e", "entity_type": "BUSINESS_ENTITY", "entity_entry_point": "ENTITY_EVENT", "depends_on_entity": "d"}]}');

-- entity_source (or entity_entry_point): known, allowed for the type.
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "CRON"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_entry_point": "WEBHOOK"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "raw", "entity_type": "RAW_DATA", "entity_source": "API_REQUEST"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "cfg", "entity_type": "CONFIG", "entity_source": "SCHEDULED"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "biz", "entity_type": "BUSINESS_ENTITY", "entity_source": "SCHEDULED"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "entity_entry_point": "SCHEDULED"}]}');

-- depends_on_entity: needed for ENTITY_EVENT; must name an entity.
SELECT pg_temp.check('{"entities": [{"entity_name": "raw", "entity_type": "RAW_DATA", "entity_source": "ENTITY_EVENT", "depends_on_entity": "None"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "raw", "entity_type": "RAW_DATA", "entity_source": "ENTITY_EVENT", "depends_on_entity": ""}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "raw", "entity_type": "RAW_DATA", "entity_source": "ENTITY_EVENT", "depends_on_entity": null}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "raw", "entity_type": "RAW_DATA", "entity_source": "ENTITY_EVENT", "depends_on_entity": "ingest_job"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "depends_on_entity": ["a"]}]}');

-- Unknown entity keys are warned about.
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "entity_owner": "me"}]}');

-- The workflow: object or null, a name, transitions.
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "entity_workflow": "job_workflow"}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "entity_workflow": {"transitions": []}}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "entity_workflow": {"name": "Job Workflow", "transitions": []}}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "entity_workflow": {"name": "job_workflow"}}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "entity_workflow": {"name": "job_workflow", "transitions": {"name": "go"}}}]}');
SELECT pg_temp.check('{"entities": [{"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST", "entity_workflow": {"name": "job_workflow", "version": 2, "transitions": []}}]}');

-- Transitions: object, name, states, transition_type.
CREATE FUNCTION pg_temp.tr(transitions jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('entities', jsonb_build_array(jsonb_build_object(
        'entity_name', 'job', 'entity_type', 'JOB', 'entity_source', 'API_REQUEST',
        'entity_workflow', jsonb_build_object('name', 'job_workflow', 'transitions', transitions))))
$$;
SELECT pg_temp.check(pg_temp.tr('["go"]'));
SELECT pg_temp.check(pg_temp.tr('[{"start_state": "None", "end_state": "done"}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "Go Now", "start_state": "None", "end_state": "done"}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "end_state": "done"}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None"}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": null}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": ""}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "done", "transition_type": "sometimes"}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "done", "transition_type": "MANUAL", "priority": 1}]'));
-- A start_state written null (Python None turned into JSON) is "None".
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": null, "end_state": "done"}]'));

-- criteria and process: objects with a function name.
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "done", "criteria": {"description": "no name"}}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "done", "criteria": "ok_crit"}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "done", "process": {"name": "Ingest-Data"}}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "done", "process": {"name": "ok_proc", "retries": 3}}]'));
-- An existing function with the wrong return type is warned about.
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "done", "criteria": {"name": "ok_proc"}}]'));
-- One name cannot be both a process and a criterion.
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "done", "criteria": {"name": "ok_crit"}, "process": {"name": "ok_crit"}}]'));

-- adds_new_entites (and adds_new_entities): a name, "None", "" or a list.
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1", "process": {"name": "ok_proc", "adds_new_entites": "None"}},
                                  {"name": "b", "start_state": "s1", "end_state": "s2", "process": {"name": "ok_proc", "adds_new_entites": ""}},
                                  {"name": "c", "start_state": "s2", "end_state": "s3", "process": {"name": "ok_proc", "adds_new_entities": ["job"]}},
                                  {"name": "d", "start_state": "s3", "end_state": "s4", "process": {"name": "ok_proc", "adds_new_entites": "job"}}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1", "process": {"name": "ok_proc", "adds_new_entites": "raw_data"}}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1", "process": {"name": "ok_proc", "adds_new_entities": ["job", "report", 7]}}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1", "process": {"name": "ok_proc", "adds_new_entites": {"name": "job"}}}]'));

-- The state machine: every state reachable from "None" ...
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1"},
                                  {"name": "b", "start_state": "s2", "end_state": "s3", "transition_type": "manual"}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "start", "end_state": "s1"}]'));
-- ... no automatic transition after one without criteria in the same state ...
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1"},
                                  {"name": "b", "start_state": "None", "end_state": "s2"},
                                  {"name": "c", "start_state": "None", "end_state": "s3", "criteria": {"name": "ok_crit"}},
                                  {"name": "d", "start_state": "None", "end_state": "s4", "transition_type": "manual"}]'));
-- ... (criteria first is fine) ...
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1", "criteria": {"name": "ok_crit"}},
                                  {"name": "b", "start_state": "None", "end_state": "s2"},
                                  {"name": "c", "start_state": "s1", "end_state": "s2", "transition_type": "manual"}]'));
-- ... transition names unique per state (the same name in two states is fine) ...
SELECT pg_temp.check(pg_temp.tr('[{"name": "go", "start_state": "None", "end_state": "s1", "criteria": {"name": "ok_crit"}},
                                  {"name": "go", "start_state": "None", "end_state": "s2", "transition_type": "manual"},
                                  {"name": "go", "start_state": "s1", "end_state": "s2"}]'));
-- ... and no cycle of automatic transitions without criteria.
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1"},
                                  {"name": "b", "start_state": "s1", "end_state": "s2"},
                                  {"name": "c", "start_state": "s2", "end_state": "s1"}]'));
SELECT pg_temp.check(pg_temp.tr('[{"name": "a", "start_state": "None", "end_state": "s1"},
                                  {"name": "b", "start_state": "s1", "end_state": "s2"},
                                  {"name": "c", "start_state": "s2", "end_state": "s1", "criteria": {"name": "ok_crit"}}]'));

-- What the native validator rejects is reported too (state names have at
-- most 256 characters).
SELECT pg_temp.check(pg_temp.tr(jsonb_build_array(jsonb_build_object(
    'name', 'go', 'start_state', 'None', 'end_state', repeat('x', 300)))));

-- An empty workflow is the initial state alone.
SELECT pg_temp.check(pg_temp.tr('[]'));

-- Errors in several entities are all reported, in design order.
SELECT pg_temp.check('{"entities": [
    {"entity_name": "job", "entity_type": "JOB", "entity_source": "API_REQUEST",
     "entity_workflow": {"name": "w", "transitions": [
        {"name": "go", "start_state": "None", "end_state": "done", "process": {"name": "start", "adds_new_entites": "rows"}}]}},
    {"entity_name": "row", "entity_type": "RAW_DATA", "entity_source": "ENTITY_EVENT", "depends_on_entity": "jobs"}]}');

-- A design with errors is refused whole: nothing stored.
SELECT cyoda_wf.import_design('{"entities": [
    {"entity_name": "refused_job", "entity_type": "JOB", "entity_source": "API_REQUEST",
     "entity_workflow": {"name": "w", "transitions": [
        {"name": "go", "start_state": "None", "end_state": "done"}]}},
    {"entity_name": "refused_row", "entity_type": "RAW_DATA", "entity_source": "API_REQUEST"},
    {"entity_name": "Refused", "entity_type": "JOB", "entity_source": "API_REQUEST"}]}'::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM cyoda_wf.model WHERE name LIKE 'refused%';
SELECT count(*) FROM cyoda_wf.workflow WHERE model LIKE 'refused%';

-- A role granted import_design owns the workflows it imports (processes run
-- as the importer); the engine writes the model rows on its behalf.
CREATE ROLE regress_design_importer;
GRANT USAGE ON SCHEMA cyoda_wf TO regress_design_importer;
GRANT EXECUTE ON FUNCTION cyoda_wf.import_design(jsonb, text) TO regress_design_importer;
SET ROLE regress_design_importer;
SELECT cyoda_wf.import_design('{"entities": [
    {"entity_name": "design_owned", "entity_type": "BUSINESS_ENTITY", "entity_source": "API_REQUEST",
     "entity_workflow": {"name": "owned_workflow", "transitions": [
        {"name": "approve", "start_state": "None", "end_state": "approved", "transition_type": "manual"}]}}]}'::jsonb,
    'design_fns') -> 'entities';
SELECT count(*) FROM cyoda_wf.model;
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
SELECT m.name, m.entity_type, m.sources, w.name AS workflow, w.owner
  FROM cyoda_wf.model m JOIN cyoda_wf.workflow w ON w.model = m.name
 WHERE m.name = 'design_owned';
SELECT cyoda_wf.import_design('{"entities": [
    {"entity_name": "design_owned", "entity_type": "BUSINESS_ENTITY", "entity_source": "API_REQUEST"}]}'::jsonb,
    'design_fns') -> 'entities';
SELECT count(*) FROM cyoda_wf.workflow WHERE model = 'design_owned';
REVOKE ALL ON FUNCTION cyoda_wf.import_design(jsonb, text) FROM regress_design_importer;
REVOKE ALL ON SCHEMA cyoda_wf FROM regress_design_importer;
DROP ROLE regress_design_importer;

-- DERIVED_DATA is stored as SECONDARY_DATA; entity_entry_point is the source;
-- only ENTITY_EVENT types are limited to ENTITY_EVENT.
SELECT cyoda_wf.import_design('{"entities": [
    {"entity_name": "design_util", "entity_type": "util", "entity_entry_point": "scheduled"},
    {"entity_name": "design_derived", "entity_type": "DERIVED_DATA", "entity_source": "ENTITY_EVENT",
     "depends_on_entity": "design_util"}]}'::jsonb, 'design_fns');
SELECT name, entity_type, sources, depends_on FROM cyoda_wf.model
 WHERE name IN ('design_util', 'design_derived') ORDER BY name;

DROP TABLE design_examples;

-- A SCHEDULED entity may carry a cron "schedule"; import_design turns it into a
-- pg_cron job (test/scripts/cron.sh runs one).  Only SCHEDULED entities may.
SELECT severity, path, message FROM cyoda_wf.validate_design('{"entities": [
  {"entity_name": "nightly_job", "entity_type": "JOB", "entity_source": "API_REQUEST",
   "depends_on_entity": "None", "schedule": "0 3 * * *", "entity_workflow": null},
  {"entity_name": "hourly_job", "entity_type": "JOB", "entity_source": "SCHEDULED",
   "depends_on_entity": "None", "schedule": 42, "entity_workflow": null}]}'::jsonb)
 WHERE severity = 'error';
-- without pg_cron in its database (cron.database_name) the import fails as a whole, with the fix in the hint
\set VERBOSITY default
SELECT cyoda_wf.import_design('{"entities": [
  {"entity_name": "sched_job", "entity_type": "JOB", "entity_source": "SCHEDULED",
   "depends_on_entity": "None", "schedule": "0 3 * * *", "entity_workflow": null}]}'::jsonb);
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM cyoda_wf.model WHERE name = 'sched_job';
