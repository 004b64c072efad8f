-- pgTAP: search's and stats_by's signatures, privileges and SQLSTATEs;
-- search's row test cyoda_wf_internal.matches_condition in pg_proc.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(39);

-- signatures
SELECT function_returns('cyoda_wf', 'search',
    ARRAY['text', 'integer', 'jsonb', 'timestamp with time zone', 'text[]', 'integer', 'integer'],
    'setof cyoda_wf.entity', 'search takes sort, page_size, page_number');
SELECT hasnt_function('cyoda_wf', 'search', ARRAY['text', 'integer', 'jsonb', 'timestamp with time zone'],
    'the 4-argument search is gone');
SELECT is((SELECT pg_get_expr(proargdefaults, 0) FROM pg_proc
            WHERE oid = 'cyoda_wf.search(text,integer,jsonb,timestamptz,text[],integer,integer)'::regprocedure),
          'NULL::timestamp with time zone, NULL::text[], NULL::integer, 0',
          'search defaults: point_in_time, sort, page_size NULL, page_number 0');
SELECT function_returns('cyoda_wf', 'search_sql',
    ARRAY['text', 'integer', 'jsonb', 'timestamp with time zone', 'text[]', 'integer', 'integer'],
    'text', 'search_sql takes the same arguments');
SELECT function_returns('cyoda_wf', 'stats_by', ARRAY['text', 'integer', 'text', 'jsonb'],
    'setof record', 'stats_by(model, model_version, json_path, condition)');
SELECT is((SELECT array_agg(n ORDER BY o)::text FROM pg_proc p,
                  unnest(p.proargnames, p.proargmodes) WITH ORDINALITY AS a(n, m, o)
            WHERE p.oid = 'cyoda_wf.stats_by(text,integer,text,jsonb)'::regprocedure AND m = 't'),
          '{value,count}', 'stats_by returns (value, count)');
SELECT is((SELECT pg_get_expr(proargdefaults, 0) FROM pg_proc
            WHERE oid = 'cyoda_wf.stats_by(text,integer,text,jsonb)'::regprocedure),
          'NULL::jsonb', 'stats_by condition defaults to NULL');
SELECT volatility_is('cyoda_wf', 'stats_by', ARRAY['text', 'integer', 'text', 'jsonb'], 'stable');
SELECT is((SELECT prosrc FROM pg_proc WHERE oid = 'cyoda_wf.stats_by(text,integer,text,jsonb)'::regprocedure),
          'cyoda_wf_stats_by', 'stats_by C symbol carries the prefix');

-- nothing granted to PUBLIC; a role granted EXECUTE may use them
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.pronamespace = 'cyoda_wf'::regnamespace
              AND p.proname IN ('search', 'search_sql', 'stats_by') AND a.grantee = 0),
          0, 'search, search_sql, stats_by not executable by PUBLIC');
CREATE ROLE cw_tap_search_reader;
CREATE ROLE cw_tap_search_other;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_tap_search_reader, cw_tap_search_other;
GRANT EXECUTE ON FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer),
                          cyoda_wf.stats_by(text, integer, text, jsonb) TO cw_tap_search_reader;
-- declared, so saves run the default workflow
SELECT count(*) AS declared FROM (SELECT cyoda_wf.import_workflows(m, 1, '{"workflows": []}')
  FROM unnest(ARRAY['tap_srt']) AS m) d \gset
INSERT INTO cyoda_wf.entity (model, data) VALUES
    ('tap_srt', '{"c": "red", "n": 2}'), ('tap_srt', '{"c": "blue", "n": 1}'), ('tap_srt', '{"c": "red"}');
SET LOCAL ROLE cw_tap_search_reader;
SELECT is((SELECT string_agg(data ->> 'c', ',') FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, '{n:desc}', 2)),
          'red,blue', 'a granted role searches with sort and page (no table rights needed)');
SELECT is((SELECT string_agg(value::text || '=' || count, ',') FROM cyoda_wf.stats_by('tap_srt', 1, '$.c')),
          '"red"=2,"blue"=1', 'a granted role counts with stats_by');
RESET ROLE;
SET LOCAL ROLE cw_tap_search_other;
SELECT throws_ok($$ SELECT * FROM cyoda_wf.stats_by('tap_srt', 1, '$.c') $$, '42501', NULL,
                 'stats_by without EXECUTE: 42501');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, '{n}') $$, '42501', NULL,
                 'search without EXECUTE: 42501');
RESET ROLE;

-- search's row test: internal, stable, parallel safe, costed, not STRICT
-- (NULL data is data without fields), executable only by its owner; a role
-- that may search uses it through search without any right on it
SELECT function_returns('cyoda_wf_internal', 'matches_condition', ARRAY['jsonb', 'jsonb'], 'boolean',
    'matches_condition(data, condition) returns boolean');
SELECT volatility_is('cyoda_wf_internal', 'matches_condition', ARRAY['jsonb', 'jsonb'], 'stable');
SELECT is((SELECT proparallel FROM pg_proc
            WHERE oid = 'cyoda_wf_internal.matches_condition(jsonb,jsonb)'::regprocedure),
          's', 'matches_condition is PARALLEL SAFE');
SELECT is((SELECT proisstrict FROM pg_proc
            WHERE oid = 'cyoda_wf_internal.matches_condition(jsonb,jsonb)'::regprocedure),
          false, 'matches_condition is not STRICT');
SELECT is((SELECT procost FROM pg_proc
            WHERE oid = 'cyoda_wf_internal.matches_condition(jsonb,jsonb)'::regprocedure),
          10::real, 'matches_condition costs 10 operators');
SELECT is((SELECT prosrc FROM pg_proc
            WHERE oid = 'cyoda_wf_internal.matches_condition(jsonb,jsonb)'::regprocedure),
          'cyoda_wf_matches_condition', 'matches_condition C symbol carries the prefix');
SELECT is((SELECT prosupport::regprocedure::text FROM pg_proc
            WHERE oid = 'cyoda_wf_internal.matches_condition(jsonb,jsonb)'::regprocedure),
          'cyoda_wf_internal.matches_condition_support(internal)',
          'matches_condition has a planner support function (its selectivity)');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.oid = 'cyoda_wf_internal.matches_condition_support(internal)'::regprocedure
              AND a.grantee <> p.proowner),
          0, 'matches_condition_support executable by its owner only');
SELECT is((SELECT count(*)::int FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
            WHERE p.oid = 'cyoda_wf_internal.matches_condition(jsonb,jsonb)'::regprocedure
              AND a.grantee <> p.proowner),
          0, 'matches_condition executable by its owner only');
SET LOCAL ROLE cw_tap_search_reader;
SELECT is((SELECT string_agg(data ->> 'c', ',' ORDER BY data ->> 'n')
             FROM cyoda_wf.search('tap_srt', 1, '{"type": "simple", "jsonPath": "$.n", "operatorType": "BETWEEN_INCLUSIVE", "value": [1, "2"]}')),
          'blue,red', 'a granted role searches a range (the evaluator runs as the engine owner)');
SELECT throws_ok($$ SELECT cyoda_wf_internal.matches_condition('{}', '{"jsonPath": "$.n", "operatorType": "IS_NULL"}') $$,
                 '42501', NULL, 'matches_condition called directly without rights: 42501');
RESET ROLE;
SELECT ok((SELECT cyoda_wf.search_sql('tap_srt', 1, '{"type": "simple", "jsonPath": "$.n", "operatorType": "BETWEEN_INCLUSIVE", "value": [1, "2"]}'))
          LIKE '%cyoda_wf_internal.matches_condition(e.data, %',
          'search_sql shows the evaluator call');

-- SQLSTATEs
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, array_fill('n'::text, ARRAY[11])) $$,
                 '22023', 'too many sort keys: 11', 'more than 10 sort keys: 22023');
SELECT lives_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, array_fill('n'::text, ARRAY[10])) $$,
                '10 sort keys are fine');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, '{n:up}') $$,
                 '22023', NULL, 'a bad direction: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, '{@nope}') $$,
                 '22023', NULL, 'an unknown lifecycle key: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, '{""}') $$,
                 '22023', NULL, 'an empty key: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, ARRAY[NULL::text]) $$,
                 '22023', NULL, 'a NULL key: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, NULL, -1) $$,
                 '22023', NULL, 'a negative page_size: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tap_srt', 1, NULL, NULL, NULL, 5, -1) $$,
                 '22023', NULL, 'a negative page_number: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search_sql('tap_srt', 1, NULL, NULL, '{a[*]}') $$,
                 '22023', NULL, 'search_sql checks the keys too');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.stats_by('tap_srt', 1, '$.a[*]') $$,
                 '22023', NULL, 'stats_by json_path with [*]: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.stats_by('tap_srt', 1, '$.') $$,
                 '22023', NULL, 'stats_by bad json_path: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.stats_by('tap_srt', 1, '$.c', '{"type": "nope"}') $$,
                 '22023', NULL, 'stats_by bad condition: 22023');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.stats_by(NULL, 1, '$.c') $$,
                 '22004', NULL, 'stats_by NULL model: 22004');

SELECT * FROM finish();
ROLLBACK;
