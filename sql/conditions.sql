-- Conditions: cyoda_wf.check_condition(condition, data) compiles a Cyoda
-- condition and tests it against data (reference section B).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;

-- A simple condition on $.f with the given operator and value.
CREATE FUNCTION pg_temp.chk(op text, val jsonb, data jsonb) RETURNS boolean
LANGUAGE sql AS $$
  SELECT cyoda_wf.check_condition(
    jsonb_build_object('type', 'simple', 'jsonPath', '$.f',
                       'operatorType', op, 'value', val), data)
$$;

-- SQLSTATE and message of the error a condition raises, if any.
CREATE FUNCTION pg_temp.err(cond jsonb, data jsonb DEFAULT '{}') RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM cyoda_wf.check_condition(cond, data);
  RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- n nested NOT groups around a leaf.
CREATE FUNCTION pg_temp.nested(n int) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT (repeat('{"type":"group","operator":"NOT","conditions":[', n)
          || '{"jsonPath":"$.a","operatorType":"IS_NULL"}'
          || repeat(']}', n))::jsonb
$$;

--
-- Every operator, matching and not matching
--
SELECT n, op, val, data, pg_temp.chk(op, val::jsonb, data::jsonb) AS result, expect
FROM (VALUES
  (  1, 'EQUALS',            '"abc"',     '{"f":"abc"}',          true),
  (  2, 'EQUALS',            '"abc"',     '{"f":"abd"}',          false),
  (  3, 'EQUALS',            '"ABC"',     '{"f":"abc"}',          false),
  (  4, 'EQUALS',            '30',        '{"f":30}',             true),
  (  5, 'EQUALS',            '30',        '{"f":"30"}',           true),
  (  6, 'EQUALS',            '"30"',      '{"f":30}',             true),
  (  7, 'EQUALS',            '"30.0"',    '{"f":30}',             true),
  (  8, 'EQUALS',            '"030"',     '{"f":"30"}',           true),
  (  9, 'EQUALS',            '30',        '{"f":"abc"}',          false),
  ( 10, 'EQUALS',            '30',        '{"f":31}',             false),
  ( 11, 'EQUALS',            '12345678901234567890', '{"f":12345678901234567891}', false),
  ( 12, 'EQUALS',            '1e3',       '{"f":"1000"}',         true),
  ( 13, 'EQUALS',            'true',      '{"f":true}',           true),
  ( 14, 'EQUALS',            '"true"',    '{"f":true}',           true),
  ( 15, 'EQUALS',            'true',      '{"f":"true"}',         true),
  ( 16, 'EQUALS',            'false',     '{"f":true}',           false),
  ( 17, 'EQUALS',            '{"x":1}',   '{"f":{"x":1}}',        true),
  ( 18, 'EQUALS',            '{"x":1}',   '{"f":{"x":2}}',        false),
  ( 19, 'EQUALS',            '[1,2]',     '{"f":[1,2]}',          false),
  ( 20, 'EQUALS',            '[1,2]',     '{"f":[2,1]}',          false),
  ( 21, 'EQUALS',            '"x"',       '{"f":["x"]}',          true),
  ( 22, 'NOT_EQUAL',         '"abc"',     '{"f":"abd"}',          true),
  ( 23, 'NOT_EQUAL',         '"abc"',     '{"f":"abc"}',          false),
  ( 24, 'NOT_EQUAL',         '30',        '{"f":"30"}',           false),
  ( 25, 'NOT_EQUAL',         '"abc"',     '{"f":30}',             true),
  ( 26, 'NOT_EQUAL',         '{"x":1}',   '{"f":{"x":2}}',        true),
  ( 27, 'GREATER_THAN',      '10',        '{"f":11}',             true),
  ( 28, 'GREATER_THAN',      '10',        '{"f":10}',             false),
  ( 29, 'GREATER_THAN',      '20',        '{"f":"100"}',          true),
  ( 30, 'GREATER_THAN',      '"20"',      '{"f":"100"}',          true),
  ( 31, 'GREATER_THAN',      '"a"',       '{"f":"b"}',            true),
  ( 32, 'GREATER_THAN',      '"a"',       '{"f":"B"}',            false),
  ( 33, 'GREATER_THAN',      '10',        '{"f":"abc"}',          false),
  ( 34, 'GREATER_THAN',      'false',     '{"f":true}',           true),
  ( 35, 'GREATER_OR_EQUAL',  '10',        '{"f":10}',             true),
  ( 36, 'GREATER_OR_EQUAL',  '10',        '{"f":9.99}',           false),
  ( 37, 'LESS_THAN',         '10',        '{"f":9}',              true),
  ( 38, 'LESS_THAN',         '10',        '{"f":"9"}',            true),
  ( 39, 'LESS_THAN',         '10',        '{"f":10}',             false),
  ( 40, 'LESS_THAN',         '"abc"',     '{"f":"abd"}',          false),
  ( 41, 'LESS_OR_EQUAL',     '10',        '{"f":10}',             true),
  ( 42, 'LESS_OR_EQUAL',     '10',        '{"f":10.5}',           false),
  ( 43, 'CONTAINS',          '"bc"',      '{"f":"abcd"}',         true),
  ( 44, 'CONTAINS',          '"x"',       '{"f":"abcd"}',         false),
  ( 45, 'CONTAINS',          '"BC"',      '{"f":"abcd"}',         false),
  ( 46, 'CONTAINS',          '23',        '{"f":1234}',           true),
  ( 47, 'CONTAINS',          '"red"',     '{"f":["red","blue"]}', true),
  ( 48, 'CONTAINS',          '"re"',      '{"f":["red","blue"]}', true),
  ( 49, 'CONTAINS',          '3',         '{"f":[1,"3"]}',        true),
  ( 50, 'CONTAINS',          '{"a":1}',   '{"f":[{"a":1}]}',      false),
  ( 51, 'CONTAINS',          '"a"',       '{"f":{"a":1}}',        false),
  ( 52, 'NOT_CONTAINS',      '"x"',       '{"f":"abcd"}',         true),
  ( 53, 'NOT_CONTAINS',      '"bc"',      '{"f":"abcd"}',         false),
  ( 54, 'NOT_CONTAINS',      '"red"',     '{"f":["red","blue"]}', true),
  ( 55, 'NOT_CONTAINS',      '"green"',   '{"f":["red","blue"]}', true),
  ( 56, 'STARTS_WITH',       '"ab"',      '{"f":"abcd"}',         true),
  ( 57, 'STARTS_WITH',       '"bc"',      '{"f":"abcd"}',         false),
  ( 58, 'STARTS_WITH',       '12',        '{"f":1234}',           true),
  ( 59, 'STARTS_WITH',       '"a"',       '{"f":["a"]}',          true),
  ( 60, 'NOT_STARTS_WITH',   '"bc"',      '{"f":"abcd"}',         true),
  ( 61, 'NOT_STARTS_WITH',   '"ab"',      '{"f":"abcd"}',         false),
  ( 62, 'ENDS_WITH',         '"cd"',      '{"f":"abcd"}',         true),
  ( 63, 'ENDS_WITH',         '"bc"',      '{"f":"abcd"}',         false),
  ( 64, 'ENDS_WITH',         '"ue"',      '{"f":true}',           true),
  ( 65, 'NOT_ENDS_WITH',     '"bc"',      '{"f":"abcd"}',         true),
  ( 66, 'NOT_ENDS_WITH',     '"cd"',      '{"f":"abcd"}',         false),
  ( 67, 'LIKE',              '"a%"',      '{"f":"abc"}',          true),
  ( 68, 'LIKE',              '"a%"',      '{"f":"bac"}',          false),
  ( 69, 'LIKE',              '"a_c"',     '{"f":"abc"}',          true),
  ( 70, 'LIKE',              '"a_c"',     '{"f":"abbc"}',         false),
  ( 71, 'LIKE',              '"%b%"',     '{"f":"abc"}',          true),
  ( 72, 'LIKE',              '"ab"',      '{"f":"abc"}',          false),
  ( 73, 'LIKE',              '"a%%c"',    '{"f":"ac"}',           true),
  ( 74, 'LIKE',              '"%a%b"',    '{"f":"xaxbxab"}',      true),
  ( 75, 'LIKE',              '"%a%b"',    '{"f":"xaxbxa"}',       false),
  ( 76, 'LIKE',              '"%"',       '{"f":""}',             true),
  ( 77, 'LIKE',              '"100\\%"',  '{"f":"100%"}',         true),
  ( 78, 'LIKE',              '"100\\%"',  '{"f":"1000"}',         false),
  ( 79, 'LIKE',              '"a\\_c"',   '{"f":"a_c"}',          true),
  ( 80, 'LIKE',              '"a\\_c"',   '{"f":"abc"}',          false),
  ( 81, 'LIKE',              '"a\\\\b"',  '{"f":"a\\b"}',         true),
  ( 82, 'LIKE',              '"1%"',      '{"f":150}',            true),
  ( 83, 'IS_NULL',           'null',      '{"f":null}',           true),
  ( 84, 'IS_NULL',           'null',      '{}',                   true),
  ( 85, 'IS_NULL',           'null',      '{"f":""}',             false),
  ( 86, 'IS_NULL',           'null',      '{"f":false}',          false),
  ( 87, 'NOT_NULL',          'null',      '{"f":0}',              true),
  ( 88, 'NOT_NULL',          'null',      '{"f":null}',           false),
  ( 89, 'NOT_NULL',          'null',      '{}',                   false),
  ( 90, 'BETWEEN',           '[1,10]',    '{"f":5}',              true),
  ( 91, 'BETWEEN',           '[1,10]',    '{"f":"5"}',            true),
  ( 92, 'BETWEEN',           '[1,10]',    '{"f":1}',              false),
  ( 93, 'BETWEEN',           '[1,10]',    '{"f":10}',             false),
  ( 94, 'BETWEEN',           '["a","c"]', '{"f":"b"}',            true),
  ( 95, 'BETWEEN',           '[1,10]',    '{"f":"abc"}',          false),
  ( 96, 'BETWEEN_INCLUSIVE', '[1,10]',    '{"f":1}',              true),
  ( 97, 'BETWEEN_INCLUSIVE', '[1,10]',    '{"f":10}',             true),
  ( 98, 'BETWEEN_INCLUSIVE', '[1,10]',   '{"f":10.01}',          false),
  ( 99, 'BETWEEN_INCLUSIVE', '["1","10"]', '{"f":0.5}',          false),
  (100, 'MATCHES_PATTERN',  '"a[0-9]+"', '{"f":"a123"}',         true),
  (101, 'MATCHES_PATTERN',  '"a[0-9]+"', '{"f":"xa123"}',        false),
  (102, 'MATCHES_PATTERN',  '"a[0-9]+"', '{"f":"a123x"}',        false),
  (103, 'MATCHES_PATTERN',  '"a|ab"',    '{"f":"ab"}',           true),
  (104, 'MATCHES_PATTERN',  '"a|ab"',    '{"f":"abc"}',          false),
  (105, 'MATCHES_PATTERN',  '"(?i)abc"', '{"f":"ABC"}',          true),
  (106, 'MATCHES_PATTERN',  '"\\d{3}"',  '{"f":123}',            true),
  (107, 'MATCHES_PATTERN',  '"(a)\\1"',  '{"f":"aa"}',           true),
  (108, 'MATCHES_PATTERN',  '"a.c"',     '{"f":{"x":"abc"}}',    false),
  (109, 'IEQUALS',          '"ABC"',     '{"f":"abc"}',          true),
  (110, 'IEQUALS',          '"ABD"',     '{"f":"abc"}',          false),
  (111, 'IEQUALS',          '"30"',      '{"f":30.0}',           true),
  (112, 'INOT_EQUAL',       '"ABC"',     '{"f":"abc"}',          false),
  (113, 'INOT_EQUAL',       '"ABD"',     '{"f":"abc"}',          true),
  (114, 'ICONTAINS',        '"BC"',      '{"f":"aBcd"}',         true),
  (115, 'ICONTAINS',        '"X"',       '{"f":"abcd"}',         false),
  (116, 'ICONTAINS',        '"RED"',     '{"f":["Red","blue"]}', true),
  (117, 'INOT_CONTAINS',    '"BC"',      '{"f":"abcd"}',         false),
  (118, 'INOT_CONTAINS',    '"X"',       '{"f":"abcd"}',         true),
  (119, 'ISTARTS_WITH',     '"AB"',      '{"f":"abcd"}',         true),
  (120, 'ISTARTS_WITH',     '"BC"',      '{"f":"abcd"}',         false),
  (121, 'INOT_STARTS_WITH', '"AB"',      '{"f":"abcd"}',         false),
  (122, 'INOT_STARTS_WITH', '"BC"',      '{"f":"abcd"}',         true),
  (123, 'IENDS_WITH',       '"CD"',      '{"f":"abCD"}',         true),
  (124, 'IENDS_WITH',       '"BC"',      '{"f":"abcd"}',         false),
  (125, 'INOT_ENDS_WITH',   '"CD"',      '{"f":"abcd"}',         false),
  (126, 'INOT_ENDS_WITH',   '"BC"',      '{"f":"abcd"}',         true),
  (127, 'equals',           '"abc"',     '{"f":"abc"}',          true)
) AS t(n, op, val, data, expect)
ORDER BY n;

-- Multi-byte text: _ is one character, as in SQL LIKE and regex "."
SELECT pg_temp.chk('LIKE', '"_"', '{"f":"é"}') = ('é' LIKE '_') AS like_one_char,
       pg_temp.chk('LIKE', '"__"', '{"f":"é"}') = ('é' LIKE '__') AS like_two_chars,
       pg_temp.chk('MATCHES_PATTERN', '"."', '{"f":"é"}') = ('é' ~ '^.$') AS regex_one_char;

--
-- The null rule: a missing or null field matches no binary operator, the
-- negative ones included; IS_NULL and NOT_NULL test presence.
--
SELECT op,
       pg_temp.chk(op, val::jsonb, '{}')          AS missing,
       pg_temp.chk(op, val::jsonb, '{"f":null}')  AS json_null,
       pg_temp.chk(op, val::jsonb, '{"g":{"f":1}}') AS elsewhere
FROM (VALUES
  ('EQUALS', '1'), ('NOT_EQUAL', '1'), ('GREATER_THAN', '1'),
  ('GREATER_OR_EQUAL', '1'), ('LESS_THAN', '1'), ('LESS_OR_EQUAL', '1'),
  ('CONTAINS', '"a"'), ('NOT_CONTAINS', '"a"'), ('STARTS_WITH', '"a"'),
  ('NOT_STARTS_WITH', '"a"'), ('ENDS_WITH', '"a"'), ('NOT_ENDS_WITH', '"a"'),
  ('LIKE', '"%"'), ('IS_NULL', 'null'), ('NOT_NULL', 'null'),
  ('BETWEEN', '[0,2]'), ('BETWEEN_INCLUSIVE', '[0,2]'),
  ('MATCHES_PATTERN', '".*"'), ('IEQUALS', '"a"'), ('INOT_EQUAL', '"a"'),
  ('ICONTAINS', '"a"'), ('INOT_CONTAINS', '"a"'), ('ISTARTS_WITH', '"a"'),
  ('INOT_STARTS_WITH', '"a"'), ('IENDS_WITH', '"a"'), ('INOT_ENDS_WITH', '"a"')
) AS t(op, val);

--
-- Paths
--
SELECT path, data, cyoda_wf.check_condition(
         jsonb_build_object('jsonPath', path, 'operatorType', 'EQUALS', 'value', 1),
         data::jsonb) AS result
FROM (VALUES
  ('$.a.b',            '{"a":{"b":1}}'),
  ('a.b',              '{"a":{"b":1}}'),
  ('$[''a''].b',       '{"a":{"b":1}}'),
  ('$["a b"]',         '{"a b":1}'),
  ('$[''it\''s'']',   '{"it''s":1}'),
  ('$.a[1]',           '{"a":[0,1]}'),
  ('$.a.1',            '{"a":[0,1]}'),
  ('$.a.1',            '{"a":{"1":1}}'),
  ('$.a[2]',           '{"a":[0,1]}'),
  ('$.a[0].b',         '{"a":[{"b":1}]}'),
  ('$.a.b',            '{"a":"b"}'),
  ('$.a[0]',           '{"a":{"0":1}}'),
  ('$',                '1'),
  ('$.a[*].b',         '{"a":[{"b":0},{"b":1}]}'),
  ('$.a[*].b',         '{"a":[{"b":0},{"b":2}]}'),
  ('$.a[*][*]',        '{"a":[[0],[2,1]]}'),
  ('$.a[*]',           '{"a":{"b":1}}'),
  ('$.a[*]',           '{"a":[]}')
) AS t(path, data);

-- [*]: true when any element satisfies the rest of the condition; an element
-- without the field counts as null; [*] on a non-array finds nothing (null).
SELECT cyoda_wf.check_condition('{"jsonPath":"$.items[*].qty","operatorType":"GREATER_THAN","value":5}',
                                '{"items":[{"qty":1},{"qty":9}]}') AS any_gt,
       cyoda_wf.check_condition('{"jsonPath":"$.items[*].qty","operatorType":"IS_NULL"}',
                                '{"items":[{"qty":1},{"sku":"x"}]}') AS any_null,
       cyoda_wf.check_condition('{"jsonPath":"$.items[*].qty","operatorType":"IS_NULL"}',
                                '{"items":"none"}') AS not_array;

--
-- Arrays and the case-sensitive negative text operators, as cyoda-go's
-- internal/match: a path that resolves to an array is matched element by
-- element with the operator itself (some element passes; an empty array
-- matches nothing, IS_NULL included; one level: an element that is an array
-- is a value); NOT_CONTAINS / NOT_STARTS_WITH / NOT_ENDS_WITH match strings
-- only.  Each case is evaluated (check_condition) and searched (search over
-- one entity per case): both columns must equal expect.
--
CREATE TEMP TABLE arr_case (n int, path text, op text, val jsonb, data jsonb, expect boolean);
INSERT INTO arr_case VALUES
  ( 1, '$.f',      'CONTAINS',         '"ru"',      '{"f":["go","rust"]}',      true),
  ( 2, '$.f',      'CONTAINS',         '"ru"',      '{"f":["go"]}',             false),
  ( 3, '$.f',      'ICONTAINS',        '"RU"',      '{"f":["go","rust"]}',      true),
  ( 4, '$.f',      'STARTS_WITH',      '"ru"',      '{"f":["go","rust"]}',      true),
  ( 5, '$.f',      'ENDS_WITH',        '"st"',      '{"f":["go","rust"]}',      true),
  ( 6, '$.f',      'LIKE',             '"r%"',      '{"f":["go","rust"]}',      true),
  ( 7, '$.f',      'MATCHES_PATTERN',  '"r.*"',     '{"f":["go","rust"]}',      true),
  ( 8, '$.f',      'EQUALS',           '"go"',      '{"f":["go","rust"]}',      true),
  ( 9, '$.f',      'NOT_EQUAL',        '"go"',      '{"f":["go","rust"]}',      true),
  (10, '$.f',      'NOT_EQUAL',        '"go"',      '{"f":["go","go"]}',        false),
  (11, '$.f',      'NOT_CONTAINS',     '"o"',       '{"f":["go","rust"]}',      true),
  (12, '$.f',      'NOT_CONTAINS',     '"u"',       '{"f":["rust"]}',           false),
  (13, '$.f',      'GREATER_THAN',     '5',         '{"f":[1,9]}',              true),
  (14, '$.f',      'LESS_THAN',        '0',         '{"f":[1,9]}',              false),
  (15, '$.f',      'BETWEEN',          '[2,8]',     '{"f":[1,9]}',              false),
  (16, '$.f',      'BETWEEN',          '[0,2]',     '{"f":[1,9]}',              true),
  (17, '$.f',      'IS_NULL',          'null',      '{"f":[]}',                 false),
  (18, '$.f',      'NOT_NULL',         'null',      '{"f":[]}',                 false),
  (19, '$.f',      'IS_NULL',          'null',      '{"f":[1,null]}',           true),
  (20, '$.f',      'NOT_NULL',         'null',      '{"f":[null]}',             false),
  (21, '$.f',      'EQUALS',           '[1]',       '{"f":[[1]]}',              true),
  (22, '$.f',      'EQUALS',           '[1]',       '{"f":[1]}',                false),
  (23, '$.f',      'EQUALS',           '1',         '{"f":[[1]]}',              false),
  (24, '$.f',      'CONTAINS',         '"1"',       '{"f":[[1]]}',              false),
  (25, '$.f',      'IEQUALS',          '"GO"',      '{"f":["go"]}',             true),
  (26, '$.f',      'NOT_EQUAL',        '5',         '{"f":[]}',                 false),
  (27, '$.f',      'EQUALS',           '"x"',       '{"f":[{"x":1},"x"]}',      true),
  (28, '$.a[*].b', 'EQUALS',           '"y"',       '{"a":[{"b":["x","y"]}]}',  true),
  (29, '$.a[*].b', 'IS_NULL',          'null',      '{"a":[{"b":[]}]}',         false),
  (30, '$.a[*]',   'EQUALS',           '2',         '{"a":[[1],[3,2]]}',        true),
  (31, '$.f',      'NOT_CONTAINS',     '"x"',       '{"f":5}',                  false),
  (32, '$.f',      'NOT_CONTAINS',     '"x"',       '{"f":true}',               false),
  (33, '$.f',      'NOT_CONTAINS',     '"x"',       '{"f":{"a":1}}',            false),
  (34, '$.f',      'NOT_STARTS_WITH',  '"x"',       '{"f":5}',                  false),
  (35, '$.f',      'NOT_ENDS_WITH',    '"x"',       '{"f":5}',                  false),
  (36, '$.f',      'NOT_STARTS_WITH',  '"x"',       '{"f":[5,"abc"]}',          true),
  (37, '$.f',      'NOT_ENDS_WITH',    '"x"',       '{"f":[5]}',                false),
  (38, '$.f',      'NOT_CONTAINS',     '"x"',       '{"f":"abc"}',              true),
  (39, '$.f',      'NOT_CONTAINS',     '5',         '{"f":"5"}',                false),
  (40, '$.f',      'INOT_CONTAINS',    '"x"',       '{"f":5}',                  true),
  (41, '$.f',      'INOT_STARTS_WITH', '"x"',       '{"f":true}',               true),
  (42, '$.f',      'NOT_EQUAL',        '"x"',       '{"f":5}',                  true);
SELECT count(*) FROM (SELECT cyoda_wf.import_workflows(m, 1, '{"workflows": []}')
                        FROM unnest(ARRAY['cond_arr', 'cond_arr_and']) AS m) d;   -- declared: default workflow
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT ('00000000-0000-0000-000a-' || lpad(n::text, 12, '0'))::uuid, 'cond_arr', data
  FROM arr_case ORDER BY n;
SELECT a.n, a.path, a.op, a.val, a.data,
       cyoda_wf.check_condition(c.cond, a.data) AS evaluated,
       EXISTS (SELECT 1 FROM cyoda_wf.search('cond_arr', 1, c.cond) s
                WHERE s.id = ('00000000-0000-0000-000a-' || lpad(a.n::text, 12, '0'))::uuid) AS searched,
       a.expect
  FROM arr_case a
 CROSS JOIN LATERAL (SELECT jsonb_build_object('jsonPath', a.path, 'operatorType', a.op, 'value', a.val) AS cond) c
 ORDER BY a.n;
-- an AND of negatives on one path is not merged: each member finds its own
-- element (NOT_EQUAL "a" through "b", NOT_EQUAL "b" through "a")
INSERT INTO cyoda_wf.entity (id, model, data)
VALUES ('00000000-0000-0000-000a-000000000099', 'cond_arr_and', '{"f":["a","b"]}');
SELECT cyoda_wf.check_condition(c, '{"f":["a","b"]}') AS evaluated,
       EXISTS (SELECT 1 FROM cyoda_wf.search('cond_arr_and', 1, c)) AS searched
  FROM (SELECT '{"type":"group","operator":"AND","conditions":[
          {"jsonPath":"$.f","operatorType":"NOT_EQUAL","value":"a"},
          {"jsonPath":"$.f","operatorType":"NOT_EQUAL","value":"b"}]}'::jsonb AS c) t;
-- CONTAINS on creationDate is accepted and never matches, as in cyoda-go
-- (so its NOT matches every entity); evaluation and search agree
SELECT cyoda_wf.check_condition(c, '{"f":["a","b"]}') AS evaluated,
       (SELECT count(*) FROM cyoda_wf.search('cond_arr_and', 1, c)) AS searched,
       cyoda_wf.check_condition(n, '{"f":["a","b"]}') AS negated_evaluated,
       (SELECT count(*) FROM cyoda_wf.search('cond_arr_and', 1, n)) AS negated_searched
  FROM (SELECT '{"type":"lifecycle","field":"creationDate","operatorType":"CONTAINS","value":"2024"}'::jsonb AS c,
               '{"type":"group","operator":"NOT","conditions":[
                 {"type":"lifecycle","field":"creationDate","operatorType":"CONTAINS","value":"2024"}]}'::jsonb AS n) t;
-- other text operators on a lifecycle date stay refused (22023)
SELECT pg_temp.err('{"type":"lifecycle","field":"creationDate","operatorType":"STARTS_WITH","value":"2024"}') AS creation_starts;
SELECT pg_temp.err('{"type":"lifecycle","field":"lastUpdateTime","operatorType":"CONTAINS","value":"2024"}') AS updated_contains;

--
-- Groups
--
SELECT name, cyoda_wf.check_condition(cond::jsonb, '{"a":1,"b":"x"}') AS result
FROM (VALUES
  ('AND true',   '{"type":"group","operator":"AND","conditions":[{"jsonPath":"$.a","operatorType":"EQUALS","value":1},{"jsonPath":"$.b","operatorType":"EQUALS","value":"x"}]}'),
  ('AND false',  '{"type":"group","operator":"AND","conditions":[{"jsonPath":"$.a","operatorType":"EQUALS","value":1},{"jsonPath":"$.b","operatorType":"EQUALS","value":"y"}]}'),
  ('OR true',    '{"type":"group","operator":"OR","conditions":[{"jsonPath":"$.a","operatorType":"EQUALS","value":2},{"jsonPath":"$.b","operatorType":"EQUALS","value":"x"}]}'),
  ('OR false',   '{"type":"group","operator":"OR","conditions":[{"jsonPath":"$.a","operatorType":"EQUALS","value":2},{"jsonPath":"$.b","operatorType":"EQUALS","value":"y"}]}'),
  ('NOT',        '{"type":"group","operator":"NOT","conditions":[{"jsonPath":"$.a","operatorType":"EQUALS","value":2}]}'),
  ('NOT null',   '{"type":"group","operator":"NOT","conditions":[{"jsonPath":"$.z","operatorType":"NOT_EQUAL","value":2}]}'),
  ('empty AND',  '{"type":"group","operator":"AND","conditions":[]}'),
  ('empty OR',   '{"type":"group","operator":"OR","conditions":[]}'),
  ('lowercase',  '{"type":"group","operator":"or","conditions":[{"type":"simple","jsonPath":"$.a","operation":"less_than","value":2}]}'),
  ('inferred',   '{"operator":"AND","conditions":[{"jsonPath":"$.a","operator":"EQUALS","value":"1"}]}'),
  ('nested',     '{"type":"group","operator":"AND","conditions":[{"type":"group","operator":"OR","conditions":[{"jsonPath":"$.a","operatorType":"EQUALS","value":5},{"type":"group","operator":"NOT","conditions":[{"jsonPath":"$.b","operatorType":"IS_NULL"}]}]}]}')
) AS t(name, cond);

--
-- Array conditions: by position, null matches anything
--
SELECT data, cyoda_wf.check_condition(
         '{"type":"array","jsonPath":"$.t","values":["a",null,3]}', data::jsonb) AS result
FROM (VALUES
  ('{"t":["a","x",3]}'),
  ('{"t":["a",{"any":"thing"},"3"]}'),
  ('{"t":["a","x",3,"more"]}'),
  ('{"t":["a","x"]}'),
  ('{"t":["b","x",3]}'),
  ('{"t":["a","x",null]}'),
  ('{"t":"a"}'),
  ('{}')
) AS t(data);

SELECT cyoda_wf.check_condition('{"type":"array","jsonPath":"$.t","values":[]}', '{"t":[]}') AS empty_values,
       cyoda_wf.check_condition('{"type":"array","jsonPath":"$.t","values":[]}', '{"t":{}}') AS empty_on_object,
       cyoda_wf.check_condition('{"type":"array","jsonPath":"$.t","values":[{"k":[1]},true]}',
                                '{"t":[{"k":[1]},"true"]}') AS objects_and_booleans;

--
-- Lifecycle fields are unknown to check_condition: the null rule applies
--
SELECT cyoda_wf.check_condition('{"type":"lifecycle","field":"state","operatorType":"IS_NULL"}', '{}') AS state_is_null,
       cyoda_wf.check_condition('{"type":"lifecycle","field":"state","operatorType":"NOT_EQUAL","value":"x"}', '{}') AS state_not_equal,
       cyoda_wf.check_condition('{"type":"lifecycle","field":"creationDate","operatorType":"NOT_NULL"}', '{}') AS created_not_null,
       cyoda_wf.check_condition('{"type":"lifecycle","field":"lastUpdateTime","operatorType":"BETWEEN","value":["2024-01-01","2024-12-31T23:59:59Z"]}', '{}') AS updated_between,
       cyoda_wf.check_condition('{"type":"lifecycle","field":"previousTransition","operatorType":"INOT_EQUAL","value":"x"}', '{}') AS previous_transition,
       cyoda_wf.check_condition('{"type":"lifecycle","field":"id","operatorType":"IS_NULL"}', '{}') AS id_is_null;

--
-- Function criteria cannot run outside a workflow (unless never reached)
--
SELECT cyoda_wf.check_condition('{"type":"function","function":{"name":"is_ready","config":{"x":1}}}', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.check_condition('{"type":"group","operator":"OR","conditions":[{"jsonPath":"$","operatorType":"NOT_NULL"},{"type":"function","function":{"name":"is_ready"}}]}', '{}') AS short_circuit;

--
-- Invalid conditions: 22023 naming the place at fault
--
SELECT cyoda_wf.check_condition('{"type":"simple","jsonPath":"$.a","operatorType":"SIMILAR","value":1}', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.check_condition('{"type":"simple","jsonPath":"$.a","operatorType":"EQUALS","value":null}', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.check_condition('{"type":"bogus"}', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.check_condition('{"type":"group","operator":"NOT","conditions":[{"jsonPath":"$.a","operatorType":"IS_NULL"},{"jsonPath":"$.b","operatorType":"IS_NULL"}]}', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT cyoda_wf.check_condition('{"type":"simple","jsonPath":"$.a","operatorType":"MATCHES_PATTERN","value":"a(b"}', '{}');
\echo :LAST_ERROR_SQLSTATE

SELECT n, pg_temp.err(cond::jsonb) AS error
FROM (VALUES
  ( 1, '[]'),
  ( 2, '"simple"'),
  ( 3, '42'),
  ( 4, '{"operatorType":"EQUALS","value":1}'),
  ( 5, '{"type":5}'),
  ( 6, '{"type":"group","operator":"AND","conditions":[1]}'),
  ( 7, '{"type":"simple","operatorType":"EQUALS","value":1}'),
  ( 8, '{"type":"simple","jsonPath":5,"operatorType":"EQUALS","value":1}'),
  ( 9, '{"type":"simple","jsonPath":"","operatorType":"EQUALS","value":1}'),
  (10, '{"type":"simple","jsonPath":"$.a..b","operatorType":"EQUALS","value":1}'),
  (11, '{"type":"simple","jsonPath":"$.a[","operatorType":"EQUALS","value":1}'),
  (12, '{"type":"simple","jsonPath":"$.a[''b","operatorType":"EQUALS","value":1}'),
  (13, '{"type":"simple","jsonPath":"$.a[-1]","operatorType":"EQUALS","value":1}'),
  (14, '{"type":"simple","jsonPath":"$.a[1","operatorType":"EQUALS","value":1}'),
  (15, '{"type":"simple","jsonPath":"$a","operatorType":"EQUALS","value":1}'),
  (16, '{"type":"simple","jsonPath":"$.*","operatorType":"EQUALS","value":1}'),
  (17, '{"type":"simple","jsonPath":"$.a[99999999999]","operatorType":"EQUALS","value":1}'),
  (18, '{"type":"simple","jsonPath":"$.a"}'),
  (19, '{"type":"simple","jsonPath":"$.a","operatorType":["EQUALS"],"value":1}'),
  (20, '{"type":"simple","jsonPath":"$.a","operation":"EQUAL","value":1}'),
  (21, '{"type":"simple","jsonPath":"$.a","operatorType":"EQUALS"}'),
  (22, '{"type":"simple","jsonPath":"$.a","operatorType":"NOT_EQUAL","value":null}'),
  (23, '{"type":"simple","jsonPath":"$.a","operatorType":"BETWEEN","value":1}'),
  (24, '{"type":"simple","jsonPath":"$.a","operatorType":"BETWEEN_INCLUSIVE","value":[1,2,3]}'),
  (25, '{"type":"simple","jsonPath":"$.a","operatorType":"BETWEEN","value":[1,null]}'),
  (26, '{"type":"simple","jsonPath":"$.a","operatorType":"BETWEEN","value":[1,[2]]}'),
  (27, '{"type":"simple","jsonPath":"$.a","operatorType":"LIKE","value":5}'),
  (28, '{"type":"simple","jsonPath":"$.a","operatorType":"MATCHES_PATTERN","value":true}'),
  (29, '{"type":"simple","jsonPath":"$.a","operatorType":"MATCHES_PATTERN","value":"[z-a]"}'),
  (30, '{"type":"simple","jsonPath":"$.a","operatorType":"STARTS_WITH","value":{"a":1}}'),
  (31, '{"type":"simple","jsonPath":"$.a","operatorType":"GREATER_THAN","value":[1]}'),
  (32, '{"type":"simple","jsonPath":"$.a","operatorType":"IEQUALS","value":{"a":1}}'),
  (33, '{"type":"group","conditions":[]}'),
  (34, '{"type":"group","operator":"XOR","conditions":[]}'),
  (35, '{"type":"group","operator":true,"conditions":[]}'),
  (36, '{"type":"group","operator":"AND"}'),
  (37, '{"type":"group","operator":"AND","conditions":{"a":1}}'),
  (38, '{"type":"group","operator":"NOT","conditions":[]}'),
  (39, '{"type":"group","operator":"AND","conditions":[{"jsonPath":"$.a","operatorType":"IS_NULL"},{"type":"group","operator":"OR","conditions":[{"jsonPath":"$.b","operatorType":"EQUALS"}]}]}'),
  (40, '{"type":"lifecycle","operatorType":"EQUALS","value":"x"}'),
  (41, '{"type":"lifecycle","field":"color","operatorType":"EQUALS","value":"x"}'),
  (42, '{"type":"lifecycle","field":1,"operatorType":"EQUALS","value":"x"}'),
  (43, '{"type":"lifecycle","field":"creationDate","operatorType":"GREATER_THAN","value":"yesterday-ish"}'),
  (44, '{"type":"lifecycle","field":"creationDate","operatorType":"GREATER_THAN","value":"now"}'),
  (45, '{"type":"lifecycle","field":"creationDate","operatorType":"GREATER_THAN","value":20240101}'),
  (46, '{"type":"lifecycle","field":"lastUpdateTime","operatorType":"CONTAINS","value":"2024"}'),
  (47, '{"type":"lifecycle","field":"lastUpdateTime","operatorType":"BETWEEN","value":["2024-01-01","2024-13-45"]}'),
  (48, '{"type":"lifecycle","field":"state","operatorType":"EQUALS"}'),
  (49, '{"type":"array","jsonPath":"$.t"}'),
  (50, '{"type":"array","jsonPath":"$.t","values":"a"}'),
  (51, '{"type":"array","jsonPath":"$.t[*]","values":[]}'),
  (52, '{"type":"function"}'),
  (53, '{"type":"function","function":"is_ready"}'),
  (54, '{"type":"function","function":{"config":{}}}'),
  (55, '{"type":"function","function":{"name":""}}'),
  (56, '{"type":"function","function":{"name":"a234567890123456789012345678901234567890123456789012345678901234"}}'),
  (57, '{"type":"function","function":{"name":"ok","config":[1]}}'),
  (58, '{"type":"simple","jsonPath":"$.a","operatorType":"MATCHES_PATTERN","value":"***=a.b"}')
) AS t(n, cond)
ORDER BY n;

-- Hostile input: long names are clipped in messages; a jsonPath has at most
-- 100 steps (54000 beyond).
SELECT pg_temp.err(jsonb_build_object('jsonPath', '$.a', 'operatorType', repeat('X', 10000), 'value', 1)) AS long_operator;
SELECT cyoda_wf.check_condition(jsonb_build_object('jsonPath', repeat('.a', 100), 'operatorType', 'IS_NULL'), '{"a":{"a":1}}') AS path_100;
SELECT pg_temp.err(jsonb_build_object('jsonPath', repeat('.a', 101), 'operatorType', 'IS_NULL')) AS path_101;
SELECT pg_temp.err(jsonb_build_object('jsonPath', repeat('[0]', 100000), 'operatorType', 'IS_NULL')) AS path_100000;
SELECT pg_temp.chk('MATCHES_PATTERN', to_jsonb(repeat('a', 5000) || '.*'), jsonb_build_object('f', repeat('a', 10000))) AS long_regex;

--
-- Nesting: 64 levels are fine, deeper is refused with 54000 (never a crash)
--
SELECT cyoda_wf.check_condition(pg_temp.nested(63), '{}') AS depth_64;
SELECT replace(pg_temp.err(pg_temp.nested(64)), repeat('.conditions[0]', 64), '(.conditions[0] x64)') AS depth_65;
SELECT replace(pg_temp.err(pg_temp.nested(100)), repeat('.conditions[0]', 64), '(.conditions[0] x64)') AS depth_101;
SELECT replace(pg_temp.err(pg_temp.nested(5000)), repeat('.conditions[0]', 64), '(.conditions[0] x64)') AS depth_5001;
