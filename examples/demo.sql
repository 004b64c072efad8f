-- cyoda_wf demo: the data pipeline of examples/designs/data_pipeline.json.
--
-- Run from the repository root (scripts/demo.sh does):
--     psql -v ON_ERROR_STOP=1 -f examples/demo.sql [-v dataset=/path/the/server/can/read.csv]
-- With -v dataset, the job tells the server to read that CSV file; without
-- it, psql reads examples/data_pipeline/sales.csv and the job carries the
-- CSV text itself.
\set QUIET on
\set ON_ERROR_STOP on
\pset pager off
\pset footer off
SET client_min_messages = warning;

\echo
\echo '=================================================================='
\echo ' cyoda_wf demo: a data pipeline that runs inside PostgreSQL'
\echo '=================================================================='
\echo 'Entities (rows of cyoda_wf.entity) move through workflows (state'
\echo 'machines).  Each transition may run processes: Python functions that'
\echo 'receive the entity data and may create further entities.'
\echo
\echo '1. CREATE EXTENSION cyoda_wf CASCADE'
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
SELECT extname AS extension, extversion AS version FROM pg_extension
 WHERE extname IN ('cyoda_wf', 'plpython3u', 'jsonb_plpython3u') ORDER BY 1;

\echo
\echo '2. The design (examples/designs/data_pipeline.json): a data_ingestion_job'
\echo '   that ingests, transforms, enriches and aggregates sales data, and'
\echo '   builds a report on request.  validate_design checks it without'
\echo '   storing anything; the warnings say which Python functions it needs:'
\set design `cat examples/designs/data_pipeline.json`
\pset format unaligned
\pset tuples_only on
SELECT format(E'  %s at %s:\n      %s', severity, path, message)
  FROM cyoda_wf.validate_design(:'design'::jsonb);
\pset format aligned
\pset tuples_only off

\echo
\echo '3. import_design stores one model per entity and the workflows:'
SELECT e ->> 'name' AS entity, e ->> 'type' AS type, e ->> 'source' AS created_by,
       coalesce(e ->> 'workflow', '(default workflow)') AS workflow
  FROM jsonb_array_elements(cyoda_wf.import_design(:'design'::jsonb) -> 'entities') AS e;

\echo
\echo '4. load_functions turns each top-level def of examples/data_pipeline/processes.py'
\echo '   (written for the Cyoda Python client: it imports entity_service from'
\echo '   logic.app_init) into a SQL function the workflow calls.  has_connection'
\echo '   is a criterion (returns boolean), the others are processes.  (Defs'
\echo '   whose names start with _ are helpers and stay inside the module.)'
\set processes `cat examples/data_pipeline/processes.py`
SELECT cyoda_wf.load_functions(:'processes') AS function_made;
SELECT p.oid::regprocedure AS function, format_type(p.prorettype, NULL) AS returns,
       obj_description(p.oid, 'pg_proc') AS comment
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND p.prosrc LIKE '# cyoda_wf.load_functions:%'
 ORDER BY p.proname;
\echo 'validate_design now finds nothing missing:'
SELECT count(*) AS warnings FROM cyoda_wf.validate_design(:'design'::jsonb);

\echo
\echo '5. A client creates a job.  Its whole automatic part runs in this one'
\echo '   call of add_item: ingest_data -> transform_data -> enrich_data -> aggregate_data.'
\if :{?dataset}
\echo '   The job names a connection: a CONFIG entity that says where the data'
\echo '   comes from (here a file the server reads; http(s) works the same way).'
\echo '   ingest_raw_data calls data_ingestion.ingest_data_from_connection, which'
\echo '   fetches and parses it and stores the raw_data_entity with its provenance.'
SELECT set_config('demo.dir', regexp_replace(:'dataset', '/[^/]*$', ''), false) IS NOT NULL AS ok \gset
INSERT INTO cyoda_wf.ingest_file_root (dir) VALUES (current_setting('demo.dir'));
SELECT cyoda_wf.create_connection('sales_csv', jsonb_build_object(
           'url', 'file://' || :'dataset', 'format', 'csv', 'csv_numbers', false,
           'max_bytes', 1048576,
           'description', 'Q1 sales export (examples/data_pipeline/sales.csv)')) IS NOT NULL AS connection_created;
SELECT cyoda_wf.add_item('data_ingestion_job', 1, jsonb_build_object(
           'name', 'Q1 2024 sales', 'connection', 'sales_csv')) AS job \gset
\else
\echo '   The job carries the CSV text (examples/data_pipeline/sales.csv) itself.'
\set csv `cat examples/data_pipeline/sales.csv`
SELECT cyoda_wf.add_item('data_ingestion_job', 1, jsonb_build_object(
           'name', 'Q1 2024 sales',
           'source', jsonb_build_object('inline_csv', :'csv' || E'\n'))) AS job \gset
\endif
\echo
\echo 'The job (its source left out):'
SELECT state, last_transition, source, version FROM cyoda_wf.entity WHERE id = :'job';
SELECT jsonb_pretty(data - 'source') AS job_data FROM cyoda_wf.entity WHERE id = :'job';

\echo
\echo '6. The entities its processes created: parent_id is the job, source is'
\echo '   ENTITY_EVENT.  aggregated_data_entity has a workflow of its own, which'
\echo '   published it as soon as it was created:'
SELECT model, state, source, parent_id = :'job' AS child_of_job,
       (SELECT string_agg(k, ', ') FROM jsonb_object_keys(data) AS k) AS data_keys
  FROM cyoda_wf.entity WHERE parent_id = :'job' ORDER BY created_at;
\echo 'Where the raw data came from (its provenance, kept with it):'
SELECT data ->> 'connection' AS connection, data ->> 'url' AS url, data ->> 'format' AS format,
       (data ->> 'bytes')::int AS bytes, (data ->> 'row_count')::int AS rows,
       left(data ->> 'sha256', 16) || '...' AS sha256
  FROM cyoda_wf.entity WHERE parent_id = :'job' AND model = 'raw_data_entity';
\echo 'One row as enrich_transformed_data left it:'
SELECT jsonb_pretty(data -> 'rows' -> 0) AS enriched_row
  FROM cyoda_wf.entity WHERE parent_id = :'job' AND model = 'enriched_data_entity';
\echo 'Rows the transform rejected:'
SELECT r ->> 'line' AS csv_line,
       concat_ws(',', r #>> '{row,region}', r #>> '{row,product}', r #>> '{row,units}',
                 r #>> '{row,unit_price}', r #>> '{row,date}') AS csv_text,
       r ->> 'reason' AS reason
  FROM cyoda_wf.entity, jsonb_array_elements(data -> 'rejected') AS r
 WHERE parent_id = :'job' AND model = 'transformed_data_entity';

\echo
\echo '7. add_report is a manual transition: nothing runs it until asked.'
SELECT name AS transition, next_state, manual FROM cyoda_wf.transitions(:'job');
\echo 'cyoda_wf.fire(job, ''add_report'') runs build_report and returns the state reached:'
SELECT cyoda_wf.fire(:'job', 'add_report') AS state_reached;

\echo
\echo '8. The report entity build_report stored:'
\pset format unaligned
\pset tuples_only on
SELECT data ->> 'body' FROM cyoda_wf.entity WHERE model = 'report_entity' AND parent_id = :'job';
\pset format aligned
\pset tuples_only off

\echo
\echo '9. The job''s audit trail (cyoda_wf.audit): one row per transition made,'
\echo '   with the processes that ran and how long they took:'
SELECT a.event_type, a.transition, a.from_state, a.to_state, a.role,
       (SELECT string_agg(format('%s (%s ms)', p ->> 'name', round((p ->> 'ms')::numeric, 1)), ', ')
          FROM jsonb_array_elements(a.detail -> 'processes') AS p) AS processes
  FROM cyoda_wf.audit a WHERE a.entity_id = :'job' AND a.event_type = 'TRANSITION_MAKE' ORDER BY a.id;

\echo
\echo '10. Its saves (cyoda_wf.changes): one version per save, newest first.'
\echo '    The create made four transitions in one save; fire made one more.'
SELECT version, change_type, state, transition, changed_by FROM cyoda_wf.changes(:'job');

\echo
\echo '11. The job''s workflow as a Mermaid state diagram (cyoda_wf.diagram);'
\echo '    paste it into https://mermaid.live to see it drawn:'
\pset format unaligned
\pset tuples_only on
SELECT cyoda_wf.diagram('data_ingestion_job');
\pset format aligned
\pset tuples_only off

\echo
\echo 'Entities per model and state (cyoda_wf.stats):'
SELECT * FROM cyoda_wf.stats();
\echo
\echo 'Done.  Everything above ran inside PostgreSQL: the design, the Python'
\echo 'processes and every entity they made are rows of the cyoda_wf schema.'
