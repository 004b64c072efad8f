-- The data pipeline of examples/designs/data_pipeline.json end to end, with
-- the processes of examples/data_pipeline/processes.py loaded by
-- load_functions: a job ingests a CSV (given inline here, so that the
-- server needs no file), transforms, enriches and aggregates it in one save,
-- then builds a report when add_report is fired.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
\set SHOW_CONTEXT never
\getenv abs_srcdir PG_ABS_SRCDIR
\set design `cat :'abs_srcdir'/examples/designs/data_pipeline.json`
\set processes `cat :'abs_srcdir'/examples/data_pipeline/processes.py`
CREATE SCHEMA cw_pipeline;

-- The design, its functions in schema cw_pipeline.
SELECT e ->> 'name' AS entity, e ->> 'type' AS type, e ->> 'source' AS source,
       e ->> 'workflow' AS workflow
  FROM jsonb_array_elements(cyoda_wf.import_design(:'design'::jsonb, 'cw_pipeline') -> 'entities') AS e
 ORDER BY 1;
SELECT * FROM cyoda_wf.load_functions(:'processes', 'cw_pipeline') AS made ORDER BY made;
SELECT p.proname, format_type(p.prorettype, NULL) AS returns
  FROM pg_proc p WHERE p.pronamespace = 'cw_pipeline'::regnamespace ORDER BY 1;
-- imported again, the design finds nothing missing any more
SELECT cyoda_wf.import_design(:'design'::jsonb, 'cw_pipeline') -> 'warnings' AS warnings;

-- A job with an inline CSV: its workflow runs to data_aggregated at once.
SELECT cyoda_wf.add_item('data_ingestion_job', 1, jsonb_build_object(
    'name', 'test sales',
    'source', jsonb_build_object('inline_csv', $csv$region,product,units,unit_price,date
NA,Widget,10,12.50,2024-01-05
EU,Widget,4,11.60,2024-01-06
 eu ,gadget,2,37.00,2024-01-07
UK,Gadget,1,32.00,2024-01-08
NA,Gizmo,3,74.00,2024-01-09
APAC,Widget,20,16.90,2024-01-10
NA,Widget,,12.50,2024-01-11
EU,Gizmo,1,68.80,2024-02-30
$csv$))) AS job \gset
SELECT state, last_transition, source, parent_id IS NULL AS no_parent
  FROM cyoda_wf.entity WHERE id = :'job';
SELECT data -> 'rows_ingested' AS rows_ingested, data -> 'rows_rejected' AS rows_rejected,
       data -> 'revenue_usd' AS revenue_usd
  FROM cyoda_wf.entity WHERE id = :'job';
SELECT transition, from_state, to_state, detail -> 'processes' -> 0 ->> 'name' AS process
  FROM cyoda_wf.audit WHERE entity_id = :'job' AND event_type = 'TRANSITION_MAKE' ORDER BY id;

-- Its children: each made by one process of the job, as entity events.
SELECT model, state, source, parent_id = :'job' AS parent_is_job
  FROM cyoda_wf.entity WHERE parent_id = :'job' ORDER BY created_at;
-- the ids the job remembered are its children
SELECT key, (SELECT model FROM cyoda_wf.entity c WHERE c.id = (value #>> '{}')::uuid) AS model
  FROM cyoda_wf.entity, jsonb_each(data)
 WHERE id = :'job' AND key LIKE '%\_id' ORDER BY key;
SELECT jsonb_pretty(data -> 'rejected') AS rejected
  FROM cyoda_wf.entity WHERE parent_id = :'job' AND model = 'transformed_data_entity';
SELECT jsonb_pretty(data -> 'rows' -> 0) AS first_enriched_row
  FROM cyoda_wf.entity WHERE parent_id = :'job' AND model = 'enriched_data_entity';
SELECT jsonb_pretty(data - 'job_id' - 'enriched_id') AS aggregates
  FROM cyoda_wf.entity WHERE parent_id = :'job' AND model = 'aggregated_data_entity';

-- add_report is manual: firing it builds the report.
SELECT * FROM cyoda_wf.transitions(:'job');
SELECT cyoda_wf.fire(:'job', 'add_report');
SELECT state, last_transition FROM cyoda_wf.entity WHERE id = :'job';
SELECT count(*) AS reports, bool_and(source = 'ENTITY_EVENT') AS from_event
  FROM cyoda_wf.entity WHERE model = 'report_entity' AND parent_id = :'job';
SELECT data ->> 'title' AS title, data ->> 'format' AS format
  FROM cyoda_wf.entity WHERE model = 'report_entity' AND parent_id = :'job';
\pset format unaligned
\pset tuples_only on
SELECT data ->> 'body' FROM cyoda_wf.entity WHERE model = 'report_entity' AND parent_id = :'job';
\pset format aligned
\pset tuples_only off
SELECT version, change_type, state, transition FROM cyoda_wf.changes(:'job');

-- A job that names no source stays where it was created: has_connection is false.
SELECT cyoda_wf.add_item('data_ingestion_job', 1, '{"name": "no source"}') AS idle \gset
SELECT state, last_transition FROM cyoda_wf.entity WHERE id = :'idle';
SELECT count(*) AS children FROM cyoda_wf.entity WHERE parent_id = :'idle';
-- and a raw_data_entity cannot be made by a client: only by a process
SELECT cyoda_wf.add_item('raw_data_entity', 1, '{}');
