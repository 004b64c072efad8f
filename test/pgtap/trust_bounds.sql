-- pgTAP: bounded condition work.  Big OR groups of one path and one operator
-- are merged into one array test (search) or one set lookup (evaluation);
-- conditions beyond the limits (10,000 nodes, 64 levels, 100 path steps)
-- fail with 54000 before any work; compilation, translation and evaluation
-- stop on statement_timeout (57014); cyoda_wf.notify_payload is a
-- superuser's choice.  Runs in one transaction that is rolled back, in a
-- fresh database.
\set ON_ERROR_STOP 1
\pset format unaligned
\pset tuples_only true
\pset pager off
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pgtap;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
BEGIN;
SELECT plan(30);

-- n simple conditions on one path in a group.
CREATE FUNCTION pg_temp.terms(grp text, path text, op text, vals jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('type', 'group', 'operator', grp, 'conditions',
           coalesce(jsonb_agg(jsonb_build_object('type', 'simple', 'jsonPath', path,
                                                 'operatorType', op, 'value', v)), '[]'))
    FROM jsonb_array_elements(vals) v
$$;
-- The SQLSTATE a statement ends with; throws_ok cannot see 57014, which
-- PL/pgSQL's WHEN OTHERS does not catch.
CREATE FUNCTION pg_temp.sqlstate_of(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN '00000';
EXCEPTION WHEN query_canceled OR others THEN
  RETURN SQLSTATE;
END
$$;
-- n nested AND groups around a leaf.
CREATE FUNCTION pg_temp.nested(n int) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT (repeat('{"type":"group","operator":"AND","conditions":[', n)
          || '{"jsonPath":"$.n","operatorType":"NOT_NULL"}' || repeat(']}', n))::jsonb
$$;

-- 40 entities: n = 1..40, s = 'v1'..'v40'; every fifth writes n as a
-- string, one has n missing, one has n null.
SET LOCAL cyoda_wf.notify = off;
SELECT cyoda_wf.import_workflows('tb', 1, '{"workflows": []}') IS NOT NULL AS declared \gset
INSERT INTO cyoda_wf.entity (model, data)
SELECT 'tb', CASE WHEN i % 5 = 0 THEN jsonb_build_object('n', i::text, 's', 'v' || i)
                  WHEN i = 39 THEN jsonb_build_object('s', 'v' || i)
                  WHEN i = 38 THEN jsonb_build_object('n', NULL, 's', 'v' || i)
                  ELSE jsonb_build_object('n', i, 's', 'v' || i) END
  FROM generate_series(1, 40) i;

-- ---------------------------------------------------------------------------
-- 1. A 1,000-term OR group: the right rows, one array predicate
-- ---------------------------------------------------------------------------
-- n EQUALS 3, 6, 9, ... 3000 (as numbers): 3..36 except 39 (missing)
SELECT set_eq(
  $$ SELECT (data ->> 's') FROM cyoda_wf.search('tb', 1,
       pg_temp.terms('OR', '$.n', 'EQUALS', (SELECT jsonb_agg(3 * k) FROM generate_series(1, 1000) k))) $$,
  $$ SELECT 'v' || i FROM generate_series(3, 36, 3) i $$,
  '1,000-term OR of EQUALS numbers finds numbers and numeric strings');
-- s EQUALS 'v1' .. 'v1000' minus the even ones, as strings
SELECT set_eq(
  $$ SELECT (data ->> 's') FROM cyoda_wf.search('tb', 1,
       pg_temp.terms('OR', '$.s', 'EQUALS', (SELECT jsonb_agg('v' || (2 * k - 1)) FROM generate_series(1, 1000) k))) $$,
  $$ SELECT 'v' || i FROM generate_series(1, 40, 2) i $$,
  '1,000-term OR of EQUALS strings finds the odd ones');
SELECT is(
  (SELECT count(*)::int FROM cyoda_wf.search('tb', 1,
     pg_temp.terms('AND', '$.n', 'NOT_EQUAL', (SELECT jsonb_agg(k) FROM generate_series(2, 2000, 2) k)))),
  19, '1,000-term AND of NOT_EQUAL: the odd n, not the missing one (39)');
SELECT is(
  (SELECT count(*)::int FROM regexp_matches(cyoda_wf.search_sql('tb', 1,
     pg_temp.terms('OR', '$.n', 'EQUALS', (SELECT jsonb_agg(k) FROM generate_series(1, 1000) k))),
     'cyoda_wf_internal\.matches_condition\(', 'g')),
  1, 'search_sql: a 1,000-term OR group of numbers (no index narrows it) is one call of the evaluator');
SELECT is(
  (SELECT count(*)::int FROM regexp_matches(cyoda_wf.search_sql('tb', 1,
     pg_temp.terms('OR', '$.s', 'EQUALS', (SELECT jsonb_agg('v' || k) FROM generate_series(1, 1000) k))), '@[>?]', 'g')),
  1, 'search_sql: a 1,000-term OR of strings is one test for the GIN index');
-- evaluation in the engine agrees, one entity at a time
SELECT is(
  (SELECT count(*)::int FROM cyoda_wf.entity e
    WHERE e.model = 'tb' AND cyoda_wf.check_condition(
      pg_temp.terms('OR', '$.n', 'EQUALS', (SELECT jsonb_agg(3 * k) FROM generate_series(1, 1000) k)), e.data)),
  12, 'check_condition of the 1,000-term group agrees with search');

-- ---------------------------------------------------------------------------
-- 2. Limits: 54000 naming the limit and where
-- ---------------------------------------------------------------------------
CREATE TEMP TABLE big AS
SELECT pg_temp.terms('OR', '$.n', 'GREATER_THAN', (SELECT jsonb_agg(k) FROM generate_series(1, 9999) k)) AS at_limit,
       pg_temp.terms('OR', '$.n', 'GREATER_THAN', (SELECT jsonb_agg(k) FROM generate_series(1, 10000) k)) AS over_limit,
       jsonb_build_object('type', 'array', 'jsonPath', '$.n',
                          'values', (SELECT jsonb_agg(k) FROM generate_series(1, 10000) k)) AS over_array;
SELECT is((SELECT cyoda_wf.check_condition(at_limit, '{"n": 5}') FROM big), true,
          'a condition of 10,000 nodes is accepted');
SELECT throws_ok($$ SELECT cyoda_wf.check_condition(over_limit, '{}') FROM big $$, '54000',
                 'condition exceeds a limit at $.conditions[9999]: more than 10000 nodes',
                 'check_condition: 10,001 nodes are refused with 54000, naming the node');
SELECT throws_ok($$ SELECT count(*) FROM big, cyoda_wf.search('tb', 1, over_limit) $$, '54000',
                 'condition exceeds a limit at $.conditions[9999]: more than 10000 nodes',
                 'search: 10,001 nodes are refused with 54000');
SELECT throws_ok($$ SELECT cyoda_wf.check_condition(over_array, '{}') FROM big $$, '54000',
                 'condition exceeds a limit at $.values[9999]: more than 10000 nodes',
                 'values of an array condition count as nodes');
SELECT throws_ok($$ SELECT cyoda_wf.import_workflows('tb_big', 1, jsonb_build_object('workflows', jsonb_build_array(
                       jsonb_build_object('name', 'w', 'initialState', 'a', 'criterion', (SELECT over_limit FROM big),
                                          'states', '{"a": {}}'::jsonb)))) $$,
                 '54000', NULL, 'a workflow criterion over the limit is refused at import');
SELECT lives_ok($$ SELECT cyoda_wf.check_condition(pg_temp.nested(63), '{"n": 1}') $$,
                'conditions nested 64 levels deep are accepted');
SELECT throws_ok($$ SELECT cyoda_wf.check_condition(pg_temp.nested(64), '{}') $$, '54000', NULL,
                 'conditions nested 65 levels deep are refused with 54000');
SELECT throws_ok($$ SELECT * FROM cyoda_wf.search('tb', 1, pg_temp.nested(1000)) $$, '54000', NULL,
                 'search: deep nesting is refused with 54000');
SELECT throws_ok($$ SELECT cyoda_wf.check_condition(jsonb_build_object('jsonPath', '$' || repeat('[0]', 101),
                                                                        'operatorType', 'IS_NULL'), '{}') $$,
                 '54000', 'condition exceeds a limit at $.jsonPath: jsonPath has more than 100 steps',
                 'a jsonPath of 101 steps is refused with 54000');
SELECT is(cyoda_wf.check_condition(jsonb_build_object('jsonPath', '$' || repeat('[0]', 100), 'operatorType', 'IS_NULL'), '{}'),
          true, 'a jsonPath of 100 steps is accepted');

-- ---------------------------------------------------------------------------
-- 3. Interruptible: statement_timeout stops the work where it is
-- ---------------------------------------------------------------------------
-- CONTAINS of 100,001 characters in 400,000: about 3e10 byte comparisons.
-- The sequence is advanced only if check_condition returned before the
-- statement was cancelled (the target list is evaluated in order, with no
-- interrupt check between the two calls).
CREATE TEMP TABLE heavy AS
SELECT jsonb_build_object('s', repeat('a', 400000)) AS data,
       jsonb_build_object('jsonPath', '$.s', 'operatorType', 'CONTAINS',
                          'value', repeat('a', 100000) || 'b') AS cond;
CREATE TEMP SEQUENCE after_eval;
SET LOCAL statement_timeout = '50ms';
SELECT is(pg_temp.sqlstate_of($$ SELECT cyoda_wf.check_condition(cond, data), nextval('after_eval') FROM heavy $$),
          '57014', 'a heavy evaluation is cancelled by statement_timeout');
RESET statement_timeout;
SELECT is((SELECT is_called FROM after_eval), false,
          'the evaluation was stopped inside its loop, not after it');
-- a search heavy to plan and run: 2,000 different regular expressions
CREATE TEMP TABLE regexes AS
SELECT jsonb_build_object('type', 'group', 'operator', 'OR', 'conditions',
         jsonb_agg(jsonb_build_object('jsonPath', '$.s', 'operatorType', 'MATCHES_PATTERN',
                                      'value', format('(v|w)+%s(x|y)*', k)))) AS cond
  FROM generate_series(1, 2000) k;
SET LOCAL statement_timeout = '50ms';
SELECT is(pg_temp.sqlstate_of($$ SELECT count(*) FROM regexes, cyoda_wf.search('tb', 1, cond) $$),
          '57014', 'a heavy search is cancelled by statement_timeout');
RESET statement_timeout;
SELECT is((SELECT count(*)::int FROM regexes, cyoda_wf.search('tb', 1, cond)), 40,
          'the same search, without the timeout, answers');

-- ---------------------------------------------------------------------------
-- 4. Merged evaluation inside a workflow
-- ---------------------------------------------------------------------------
SELECT lives_ok($$ SELECT cyoda_wf.import_workflows('tb_wf', 1, jsonb_build_object('workflows', jsonb_build_array(
  jsonb_build_object('name', 'w', 'initialState', 'new', 'states', jsonb_build_object(
    'new', jsonb_build_object('transitions', jsonb_build_array(
       jsonb_build_object('name', 'pick', 'next', 'picked',
                          'criterion', pg_temp.terms('OR', '$.tags[*]', 'IEQUALS',
                                         (SELECT jsonb_agg('TAG' || k) FROM generate_series(1, 1000) k))),
       jsonb_build_object('name', 'other', 'next', 'other'))),
    'picked', '{}'::jsonb, 'other', '{}'::jsonb))))) $$,
  'a workflow with a 1,000-term criterion imports');
SELECT cyoda_wf.add_item('tb_wf', 1, '{"tags": ["x", "tag777"]}') AS listed,
       cyoda_wf.add_item('tb_wf', 1, '{"tags": ["tag1001", 7]}') AS unlisted \gset
SELECT is((SELECT state FROM cyoda_wf.entity WHERE id = :'listed'),
          'picked', 'an entity with a listed tag (case-insensitively) takes the merged transition');
SELECT is((SELECT state FROM cyoda_wf.entity WHERE id = :'unlisted'),
          'other', 'an entity without one does not');

-- ---------------------------------------------------------------------------
-- 5. cyoda_wf.notify_payload: a superuser's choice
-- ---------------------------------------------------------------------------
SELECT is(current_setting('cyoda_wf.notify_payload'), 'full', 'notify_payload defaults to full');
SELECT is((SELECT context FROM pg_settings WHERE name = 'cyoda_wf.notify_payload'), 'superuser',
          'notify_payload is a superuser setting');
SELECT is((SELECT enumvals FROM pg_settings WHERE name = 'cyoda_wf.notify_payload'), '{full,id}'::text[],
          'notify_payload takes full or id');
CREATE ROLE cw_tb_user;
SET LOCAL ROLE cw_tb_user;
SELECT throws_ok($$ SET cyoda_wf.notify_payload = full $$, '42501', NULL,
                 'a user cannot choose the payload others see');
SELECT throws_ok($$ SELECT set_config('cyoda_wf.notify_payload', 'full', true) $$, '42501', NULL,
                 'not even for the transaction');
RESET ROLE;
SET LOCAL cyoda_wf.notify_payload = id;
SELECT is(current_setting('cyoda_wf.notify_payload'), 'id', 'a superuser sets it');
SELECT throws_ok($$ SET cyoda_wf.notify_payload = model $$, '22023', NULL, 'other values are refused');

SELECT * FROM finish();
ROLLBACK;
