SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
-- search keeps one saved plan per condition shape (the generated query's
-- text: model, paths, operators, sort keys, paging present or not); values
-- are parameters.  Every search below is compared with the condition
-- evaluator (check_condition) over the same entities: shapes that differ
-- only in a path, an operator, a group's operator or the sort must never
-- answer with each other's plan, and the values of one shape, searched
-- again and again (past the plan cache's first five custom plans), must
-- each find their own rows.  With sequential scans off, the shapes with an
-- indexable test run a generic plan on the GIN index; the others (ranges)
-- are planned with their values: both kinds are covered.  The shapes from
-- 14 on test the parts the evaluator takes (numbers written as strings,
-- arrays, [*], nulls, NOT groups, array conditions, OR runs next to a
-- lifecycle condition) and the AND / OR that mix them with index tests.
\set SHOW_CONTEXT never
SELECT count(*) AS declared
  FROM unnest(ARRAY['splan_a', 'splan_b']) AS m,
       cyoda_wf.import_workflows(m, 1, '{"workflows": []}');

INSERT INTO cyoda_wf.entity (model, data)
SELECT m, jsonb_build_object('a', 'v' || (i % 7), 'b', 'v' || (i % 5),
                             'n', i % 13, 's', ((i % 11) * 1.5)::text,
                             'tags', jsonb_build_array('v' || (i % 3), 'w' || (i % 4)),
                             'nums', jsonb_build_array(i % 5, ((i % 7) * 1.5)::text),
                             'items', jsonb_build_array(jsonb_build_object('q', i % 4),
                                                        jsonb_build_object('q', (i % 9)::text)),
                             'maybe', CASE i % 3 WHEN 0 THEN 'null'::jsonb
                                                 WHEN 1 THEN to_jsonb(i % 10) END)
  FROM generate_series(1, 300) i, unnest(ARRAY['splan_a', 'splan_b']) m
 WHERE m = 'splan_a' OR i % 2 = 0;
-- a few rows without the fields at all, or with other types there
INSERT INTO cyoda_wf.entity (model, data)
SELECT 'splan_a', d
  FROM unnest(ARRAY['{}', '{"nums": [], "items": [], "s": null}',
                    '{"nums": 3, "items": {"q": 1}, "s": ["4.5", 9], "maybe": "7"}',
                    '{"nums": [[3]], "items": [null, {"q": "2.0"}], "s": "3e0", "maybe": []}']::jsonb[]) d;
ANALYZE cyoda_wf.entity;
SET enable_seqscan = off;

-- The shapes: %1$s and %2$s are a value and a second one (a range's top).
CREATE TEMP TABLE shape (k int PRIMARY KEY, model text, kind text, cond text);
INSERT INTO shape VALUES
 (1, 'splan_a', 'str', '{"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": %1$s}'),
 (2, 'splan_a', 'str', '{"type": "simple", "jsonPath": "$.b", "operatorType": "EQUALS", "value": %1$s}'),
 (3, 'splan_a', 'str', '{"type": "simple", "jsonPath": "$.a", "operatorType": "NOT_EQUAL", "value": %1$s}'),
 (4, 'splan_a', 'str', '{"type": "simple", "jsonPath": "$.a", "operatorType": "IEQUALS", "value": %1$s}'),
 (5, 'splan_a', 'str', '{"type": "group", "operator": "AND", "conditions": [{"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": %1$s}, {"type": "simple", "jsonPath": "$.b", "operatorType": "EQUALS", "value": %2$s}]}'),
 (6, 'splan_a', 'str', '{"type": "group", "operator": "OR", "conditions": [{"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": %1$s}, {"type": "simple", "jsonPath": "$.b", "operatorType": "EQUALS", "value": %2$s}]}'),
 (7, 'splan_a', 'str', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "EQUALS", "value": %1$s}'),
 (8, 'splan_b', 'str', '{"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": %1$s}'),
 (9, 'splan_a', 'num', '{"type": "simple", "jsonPath": "$.n", "operatorType": "GREATER_THAN", "value": %1$s}'),
 (10, 'splan_a', 'num', '{"type": "simple", "jsonPath": "$.n", "operatorType": "BETWEEN_INCLUSIVE", "value": [%1$s, %2$s]}'),
 (11, 'splan_a', 'num', '{"type": "simple", "jsonPath": "$.s", "operatorType": "GREATER_OR_EQUAL", "value": %1$s}'),
 (12, 'splan_a', 'num', '{"type": "simple", "jsonPath": "$.n", "operatorType": "EQUALS", "value": %1$s}'),
 (13, 'splan_b', 'num', '{"type": "simple", "jsonPath": "$.n", "operatorType": "LESS_THAN", "value": %1$s}'),
 (14, 'splan_a', 'num', '{"type": "group", "operator": "NOT", "conditions": [{"type": "simple", "jsonPath": "$.s", "operatorType": "BETWEEN", "value": [%1$s, %2$s]}]}'),
 (15, 'splan_a', 'num', '{"type": "simple", "jsonPath": "$.items[*].q", "operatorType": "LESS_OR_EQUAL", "value": %1$s}'),
 (16, 'splan_a', 'num', '{"type": "simple", "jsonPath": "$.nums", "operatorType": "GREATER_THAN", "value": %1$s}'),
 (17, 'splan_a', 'num', '{"type": "group", "operator": "OR", "conditions": [{"type": "simple", "jsonPath": "$.maybe", "operatorType": "IS_NULL"}, {"type": "simple", "jsonPath": "$.maybe", "operatorType": "GREATER_THAN", "value": %1$s}]}'),
 (18, 'splan_a', 'str', '{"type": "group", "operator": "AND", "conditions": [{"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": %1$s}, {"type": "group", "operator": "NOT", "conditions": [{"type": "simple", "jsonPath": "$.tags", "operatorType": "CONTAINS", "value": %2$s}]}, {"type": "simple", "jsonPath": "$.nums", "operatorType": "NOT_EQUAL", "value": 1}]}'),
 (19, 'splan_a', 'str', '{"type": "group", "operator": "OR", "conditions": [{"type": "lifecycle", "field": "state", "operatorType": "EQUALS", "value": "no such state"}, {"type": "simple", "jsonPath": "$.tags", "operatorType": "CONTAINS", "value": %1$s}, {"type": "simple", "jsonPath": "$.tags", "operatorType": "CONTAINS", "value": %2$s}]}'),
 (20, 'splan_a', 'str', '{"type": "array", "jsonPath": "$.tags", "values": [%1$s, null]}'),
 (21, 'splan_a', 'str', '{"type": "group", "operator": "OR", "conditions": [{"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": %1$s}, {"type": "simple", "jsonPath": "$.b", "operatorType": "STARTS_WITH", "value": %2$s}]}');
CREATE TEMP TABLE val (ord int, kind text, v1 text, v2 text);
INSERT INTO val
SELECT i, 'str', format('"v%s"', i % 8), format('"v%s"', (i + 3) % 6) FROM generate_series(0, 9) i
UNION ALL
SELECT i, 'num', (i * 1.5)::text, (i * 1.5 + 2)::text FROM generate_series(0, 9) i;

-- One pass: every value of every shape, the shapes interleaved.
CREATE FUNCTION pg_temp.agree(OUT checks int, OUT wrong int, OUT matched bigint)
LANGUAGE sql AS $$
SELECT count(*)::int, count(*) FILTER (WHERE got IS DISTINCT FROM want)::int,
       sum(cardinality(want))
  FROM (SELECT v.ord, s.k,
               ARRAY(SELECT x.id FROM cyoda_wf.search(s.model, 1, c) x ORDER BY x.id) AS got,
               ARRAY(SELECT e.id FROM cyoda_wf.entity e
                      WHERE e.model = s.model AND cyoda_wf.check_condition(c, e.data)
                      ORDER BY e.id) AS want
          FROM val v
          JOIN shape s USING (kind)
          CROSS JOIN LATERAL (SELECT format(s.cond, v.v1, v.v2)::jsonb AS c) f
         ORDER BY v.ord, s.k) t
$$;
SELECT * FROM pg_temp.agree();
-- again, the plans now saved
SELECT * FROM pg_temp.agree();

-- Sort and paging change the query's text: each is a shape of its own.
SELECT p.sort, p.size, p.number,
       ARRAY(SELECT x.data ->> 'n'
               FROM cyoda_wf.search('splan_a', 1, '{"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": "v3"}',
                                    NULL, p.sort, p.size, p.number) x) AS n
  FROM (VALUES (1, NULL::text[], NULL::int, 0),
               (2, ARRAY['n:desc'], 4, 0),
               (3, ARRAY['n:asc'], 4, 0),
               (4, ARRAY['n:desc'], 4, 1),
               (5, ARRAY['n:desc'], NULL, 0),
               (6, ARRAY['n:desc'], 2, 0)) p(o, sort, size, number)
 ORDER BY p.o;

-- point_in_time (a query over the version history) and stats_by.
SELECT now() AS t_now \gset
SELECT count(*) FILTER (WHERE a.got IS DISTINCT FROM a.want) AS wrong, count(*) AS checks
  FROM (SELECT ARRAY(SELECT x.id FROM cyoda_wf.search('splan_a', 1, format('{"type": "simple", "jsonPath": "$.b", "operatorType": "EQUALS", "value": "v%s"}', i)::jsonb, :'t_now') x ORDER BY x.id) AS got,
               ARRAY(SELECT e.id FROM cyoda_wf.entity e WHERE e.model = 'splan_a' AND e.data ->> 'b' = 'v' || i ORDER BY e.id) AS want
          FROM generate_series(0, 7) i) a;
SELECT i, array_agg(s.value::text || ':' || s.count ORDER BY s.value) AS stats
  FROM generate_series(0, 7) i,
       cyoda_wf.stats_by('splan_a', 1, '$.b', format('{"type": "simple", "jsonPath": "$.a", "operatorType": "EQUALS", "value": "v%s"}', i)::jsonb) s
 WHERE i IN (0, 6, 7)
 GROUP BY i ORDER BY i;

-- After a workflow import (the definitions change: the saved plans go).
SELECT cyoda_wf.import_workflows('splan_a', 1, '{"importMode": "REPLACE", "workflows": []}') ->> 'importMode' AS mode;
SELECT * FROM pg_temp.agree();

-- After DDL on the entity table: an index comes, then goes (PostgreSQL
-- replans the saved plans), and entities change.
CREATE INDEX splan_a_idx ON cyoda_wf.entity ((data ->> 'a'));
SELECT * FROM pg_temp.agree();
UPDATE cyoda_wf.entity SET data = data || '{"a": "v1"}' WHERE model = 'splan_a' AND (data ->> 'n')::int < 3;
DROP INDEX cyoda_wf.splan_a_idx;
SELECT * FROM pg_temp.agree();

-- With sequential scans allowed and with every plan custom.
RESET enable_seqscan;
SELECT * FROM pg_temp.agree();
SET plan_cache_mode = force_custom_plan;
SELECT * FROM pg_temp.agree();
SET plan_cache_mode = force_generic_plan;
SELECT * FROM pg_temp.agree();
RESET plan_cache_mode;

-- The parts of a condition no index serves are tested by the evaluator,
-- cyoda_wf_internal.matches_condition(e.data, $n), which keeps the compiled
-- condition from row to row: the condition changing from one row to the
-- next (every shape with every value, against every entity) must be
-- compiled again, never answered from the previous one.
SELECT count(*) AS pairs,
       count(*) FILTER (WHERE cyoda_wf_internal.matches_condition(e.data, f.c)
                        IS DISTINCT FROM cyoda_wf.check_condition(f.c, e.data)) AS wrong,
       count(*) FILTER (WHERE cyoda_wf_internal.matches_condition(e.data, f.c)) AS matched
  FROM cyoda_wf.entity e,
       LATERAL (SELECT format(s.cond, v.v1, v.v2)::jsonb AS c
                  FROM shape s JOIN val v USING (kind)
                 WHERE s.k <> 19) f
 WHERE e.model = 'splan_a';
SELECT cyoda_wf_internal.matches_condition(NULL, '{"jsonPath": "$.x", "operatorType": "IS_NULL"}') AS null_data,
       cyoda_wf_internal.matches_condition('{"x": 1}', NULL) AS null_condition;
SELECT cyoda_wf_internal.matches_condition('{}', '{"jsonPath": "$.x", "operatorType": "NO_SUCH"}');

-- search_sql shows the query search runs; it runs and finds the same rows.
SELECT cyoda_wf.search_sql('splan_a', 1, '{"type": "simple", "jsonPath": "$.n", "operatorType": "BETWEEN_INCLUSIVE", "value": [3, "4.5"]}') AS range_sql \gset
SELECT regexp_replace(:'range_sql', ' ORDER BY.*', '') AS range_sql;
SELECT cyoda_wf.search_sql('splan_a', 1, format(shape.cond, '"v1"', '"v2"')::jsonb) AS and_sql
  FROM shape WHERE k = 18 \gset
-- the EQUALS keeps its index test, and the whole AND is one call of the
-- evaluator (no SQL form of a leaf)
SELECT :'and_sql' LIKE '%e.data @? %' AS gin_prefilter,
       regexp_count(:'and_sql', 'cyoda_wf_internal\.matches_condition\(e\.data, ') AS evaluated,
       regexp_count(:'and_sql', 'jsonb_array_elements') AS sql_leaves;
CREATE FUNCTION pg_temp.ids(sql text) RETURNS uuid[] LANGUAGE plpgsql AS $$
DECLARE r uuid[];
BEGIN
    EXECUTE 'SELECT array_agg(q.id ORDER BY q.id) FROM (' || sql || ') q' INTO r;
    RETURN r;
END $$;
SELECT pg_temp.ids(:'range_sql') = ARRAY(SELECT x.id FROM cyoda_wf.search('splan_a', 1, '{"type": "simple", "jsonPath": "$.n", "operatorType": "BETWEEN_INCLUSIVE", "value": [3, "4.5"]}') x ORDER BY x.id) AS range_same,
       pg_temp.ids(:'and_sql') = ARRAY(SELECT x.id FROM cyoda_wf.search('splan_a', 1, format(shape.cond, '"v1"', '"v2"')::jsonb) x ORDER BY x.id) AS and_same
  FROM shape WHERE k = 18;

-- A search that reads every row may use parallel workers (the evaluator is
-- parallel safe), as the hand-written query may.
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
CREATE FUNCTION pg_temp.plan_lines(sql text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || sql;
END $$;
SELECT bool_or(l ~ '^ *-> +Parallel .*Scan on entity e') AS parallel_scan,
       bool_or(l ~ 'Gather') AS gather,
       bool_or(l ~ 'SubPlan') AS subplan,
       bool_or(l ~ 'Filter: .*cyoda_wf_internal\.matches_condition\(data, ') AS evaluated
  FROM pg_temp.plan_lines(:'range_sql') AS l;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- Lifecycle fields are tested in SQL (state, previousTransition, id: text
-- columns), everything on the data by the evaluator.  Each lifecycle test
-- must answer as the evaluator answers for the same text in the data
-- (check_condition on {"lc": column}, the key missing where the column is
-- NULL): every operator with operands that are strings, numbers written
-- both ways, booleans and patterns, against states and transitions that
-- read as numbers, booleans and LIKE characters; alone, under NOT, and in
-- AND / OR groups with data members, whose data members are one evaluator
-- call beside the lifecycle SQL.
SELECT cyoda_wf.import_workflows('splan_lc', 1, '{"workflows": [{"name": "lc", "initialState": "new", "states": {
  "new": {"transitions": [
    {"name": "30", "next": "30.0", "manual": true},
    {"name": "Go_True", "next": "true", "manual": true},
    {"name": "3e1", "next": "-2.5", "manual": true},
    {"name": "p%q", "next": "a_b", "manual": true},
    {"name": "mixed", "next": "Abc", "manual": true},
    {"name": "TRUE", "next": "ABC", "manual": true}]},
  "30.0": {"transitions": []}, "true": {"transitions": []}, "-2.5": {"transitions": []},
  "a_b": {"transitions": []}, "Abc": {"transitions": []}, "ABC": {"transitions": []}}}]}') IS NOT NULL AS imported;
INSERT INTO cyoda_wf.entity (model, data)
SELECT 'splan_lc', jsonb_build_object('k', g, 'v', g % 3) FROM generate_series(1, 14) g;
SELECT count(*) AS fired
  FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS r
          FROM cyoda_wf.entity WHERE model = 'splan_lc') e
  JOIN unnest(ARRAY['30', 'Go_True', '3e1', 'p%q', 'mixed', 'TRUE']) WITH ORDINALITY AS t(name, r)
    ON (e.r - 1) % 7 + 1 = t.r,
       LATERAL cyoda_wf.fire(e.id, t.name) f;
CREATE TEMP TABLE lc_case AS
SELECT f.field, o.op, v.v,
       jsonb_strip_nulls(jsonb_build_object('type', 'lifecycle', 'field', f.field, 'operatorType', o.op, 'value', v.v)) AS lc,
       jsonb_strip_nulls(jsonb_build_object('type', 'simple', 'jsonPath', '$.lc', 'operatorType', o.op, 'value', v.v)) AS dc
  FROM unnest(ARRAY['state', 'previousTransition', 'id']) AS f(field),
       unnest(ARRAY['EQUALS', 'NOT_EQUAL', 'IEQUALS', 'INOT_EQUAL', 'GREATER_THAN', 'GREATER_OR_EQUAL',
                     'LESS_THAN', 'LESS_OR_EQUAL', 'CONTAINS', 'NOT_CONTAINS', 'ICONTAINS', 'INOT_CONTAINS',
                     'STARTS_WITH', 'NOT_STARTS_WITH', 'ISTARTS_WITH', 'INOT_STARTS_WITH', 'ENDS_WITH',
                     'NOT_ENDS_WITH', 'IENDS_WITH', 'INOT_ENDS_WITH', 'LIKE', 'MATCHES_PATTERN']) AS o(op),
       unnest(ARRAY['"30"', '30', '"3e1"', '30.0', 'true', '"TRUE"', '"abc"', '"a"', '"_"', '"%"', '"a_b"',
                    '"A.*"', '-3', '"-2.5"', '"p%q"', '"e"']::jsonb[]) AS v(v)
UNION ALL
SELECT f.field, o.op, v.v,
       jsonb_strip_nulls(jsonb_build_object('type', 'lifecycle', 'field', f.field, 'operatorType', o.op, 'value', v.v)),
       jsonb_strip_nulls(jsonb_build_object('type', 'simple', 'jsonPath', '$.lc', 'operatorType', o.op, 'value', v.v))
  FROM unnest(ARRAY['state', 'previousTransition', 'id']) AS f(field),
       unnest(ARRAY['BETWEEN', 'BETWEEN_INCLUSIVE']) AS o(op),
       unnest(ARRAY['[-5, 40]', '["30", "a"]', '["A", "a"]', '[-2.5, "30.0"]', '["0", "z"]']::jsonb[]) AS v(v)
UNION ALL
SELECT f.field, o.op, NULL,
       jsonb_build_object('type', 'lifecycle', 'field', f.field, 'operatorType', o.op),
       jsonb_build_object('type', 'simple', 'jsonPath', '$.lc', 'operatorType', o.op)
  FROM unnest(ARRAY['state', 'previousTransition', 'id']) AS f(field),
       unnest(ARRAY['IS_NULL', 'NOT_NULL']) AS o(op);
-- the cases the evaluator accepts (some operators refuse some operands)
CREATE FUNCTION pg_temp.valid(c jsonb) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cyoda_wf.check_condition(c, '{}');
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END $$;
DELETE FROM lc_case WHERE NOT pg_temp.valid(dc);
-- the entity's field as the data member "lc", beside its data
CREATE FUNCTION pg_temp.lc_data(e cyoda_wf.entity, field text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT e.data || jsonb_strip_nulls(jsonb_build_object('lc',
        CASE field WHEN 'state' THEN e.state WHEN 'previousTransition' THEN e.last_transition
                   ELSE e.id::text END))
$$;
CREATE FUNCTION pg_temp.lc_agree(lc jsonb, dc jsonb, field text) RETURNS boolean LANGUAGE sql AS $$
    SELECT (SELECT array_agg(s.id ORDER BY s.id) FROM cyoda_wf.search('splan_lc', 1, lc) s)
           IS NOT DISTINCT FROM
           (SELECT array_agg(e.id ORDER BY e.id) FROM cyoda_wf.entity e
             WHERE e.model = 'splan_lc' AND cyoda_wf.check_condition(dc, pg_temp.lc_data(e, field)))
$$;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE NOT pg_temp.lc_agree(lc, dc, field)) AS disagree,
       count(*) FILTER (WHERE NOT pg_temp.lc_agree(jsonb_build_object('type', 'group', 'operator', 'NOT', 'conditions', jsonb_build_array(lc)),
                                                   jsonb_build_object('type', 'group', 'operator', 'NOT', 'conditions', jsonb_build_array(dc)),
                                                   field)) AS disagree_under_not,
       sum((SELECT count(*) FROM cyoda_wf.search('splan_lc', 1, lc))) AS found
  FROM lc_case;
-- in groups: AND / OR of the lifecycle test with data members (a run of
-- EQUALS on one path, a range), and one level down
SELECT count(*) AS group_cases,
       count(*) FILTER (WHERE NOT pg_temp.lc_agree(
           replace(g.shape, '"LC"', c.lc::text)::jsonb, replace(g.shape, '"LC"', c.dc::text)::jsonb, c.field)) AS disagree
  FROM lc_case c,
       unnest(ARRAY[
         '{"type": "group", "operator": "AND", "conditions": ["LC", {"type": "simple", "jsonPath": "$.v", "operatorType": "EQUALS", "value": 1}]}',
         '{"type": "group", "operator": "OR", "conditions": [{"type": "simple", "jsonPath": "$.k", "operatorType": "EQUALS", "value": "3"}, "LC", {"type": "simple", "jsonPath": "$.k", "operatorType": "EQUALS", "value": 5}, {"type": "simple", "jsonPath": "$.k", "operatorType": "GREATER_THAN", "value": 12}]}',
         '{"type": "group", "operator": "AND", "conditions": [{"type": "simple", "jsonPath": "$.k", "operatorType": "LESS_THAN", "value": 12}, {"type": "group", "operator": "OR", "conditions": ["LC", {"type": "simple", "jsonPath": "$.v", "operatorType": "EQUALS", "value": 0}]}]}',
         '{"type": "group", "operator": "OR", "conditions": [{"type": "group", "operator": "NOT", "conditions": ["LC"]}, {"type": "group", "operator": "AND", "conditions": ["LC", {"type": "simple", "jsonPath": "$.v", "operatorType": "EQUALS", "value": 2}]}]}'
       ]) AS g(shape)
 WHERE c.op IN ('EQUALS', 'NOT_EQUAL', 'GREATER_THAN', 'ICONTAINS', 'NOT_STARTS_WITH', 'LIKE', 'BETWEEN', 'IS_NULL');
