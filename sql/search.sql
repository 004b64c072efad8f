SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
-- Entity service parity: point-in-time reads, changes, search, stats,
-- history retention.  Times are captured with \gset and never printed.
\set SHOW_CONTEXT never
-- The models saved here have no workflow of their own (Cyoda's default one
-- runs); they are declared first, as cyoda_wf.require_model = known wants.
SELECT count(*) AS declared
  FROM unnest(ARRAY['srch_note', 'srch_cmp', 'srch_plan', 'srch_ret']) AS m,
       cyoda_wf.import_workflows(m, 1, '{"workflows": []}');

------------------------------------------------------------------------------
-- Point-in-time reads: get_item / get_entity
------------------------------------------------------------------------------
SELECT clock_timestamp() AS t_before \gset
INSERT INTO cyoda_wf.entity (id, model, data)
VALUES ('00000000-0000-0000-0005-000000000001', 'srch_note', '{"text": "v1"}');
SELECT clock_timestamp() AS t_v1 \gset
SELECT cyoda_wf.update_item('00000000-0000-0000-0005-000000000001', '{"text": "v2"}');
SELECT clock_timestamp() AS t_v2 \gset
SELECT cyoda_wf.fire('00000000-0000-0000-0005-000000000001', 'UPDATE');
SELECT clock_timestamp() AS t_v3 \gset
SELECT cyoda_wf.delete_item('00000000-0000-0000-0005-000000000001');
SELECT clock_timestamp() AS t_deleted \gset

SELECT cyoda_wf.get_item('00000000-0000-0000-0005-000000000001', :'t_v1') AS at_v1,
       cyoda_wf.get_item('00000000-0000-0000-0005-000000000001', :'t_v2') AS at_v2,
       cyoda_wf.get_item('00000000-0000-0000-0005-000000000001', :'t_v3') AS at_v3;
SELECT e -> 'data' AS data, e -> 'meta' -> 'modelKey' AS model_key,
       e -> 'meta' ->> 'state' AS state,
       e -> 'meta' ->> 'transitionForLatestSave' AS transition,
       (e -> 'meta' ->> 'creationDate')::timestamptz > :'t_before'
         AND (e -> 'meta' ->> 'creationDate')::timestamptz <= :'t_v1' AS created_in_v1,
       (e -> 'meta' ->> 'lastUpdateTime')::timestamptz > :'t_v1'
         AND (e -> 'meta' ->> 'lastUpdateTime')::timestamptz <= :'t_v2' AS updated_in_v2
  FROM cyoda_wf.get_entity('00000000-0000-0000-0005-000000000001', :'t_v2') e;
-- before creation, after deletion and now (deleted): P0002
\set VERBOSITY sqlstate
SELECT cyoda_wf.get_item('00000000-0000-0000-0005-000000000001', :'t_before');
SELECT cyoda_wf.get_item('00000000-0000-0000-0005-000000000001', :'t_deleted');
SELECT cyoda_wf.get_item('00000000-0000-0000-0005-000000000001');
SELECT cyoda_wf.get_entity('00000000-0000-0000-0005-000000000001', :'t_before');
SELECT cyoda_wf.get_entity('00000000-0000-0000-0005-000000000001', :'t_deleted');
SELECT cyoda_wf.get_entity('00000000-0000-0000-0005-000000000001');
SELECT cyoda_wf.get_item('00000000-0000-0000-0005-0000000000ff', :'t_v1');
\set VERBOSITY default

------------------------------------------------------------------------------
-- changes(id): newest first, kept after deletion
------------------------------------------------------------------------------
SELECT version, change_type, changed_by, state, transition
  FROM cyoda_wf.changes('00000000-0000-0000-0005-000000000001');
-- one transaction per save here; clock times descend with the versions
SELECT count(DISTINCT transaction_id) AS transactions,
       bool_and(changed_at > next_at) AS newest_first,
       bool_and(changed_at > :'t_before' AND changed_at <= :'t_deleted') AS in_window
  FROM (SELECT transaction_id, changed_at,
               lead(changed_at) OVER (ORDER BY version DESC) AS next_at
          FROM cyoda_wf.changes('00000000-0000-0000-0005-000000000001')) c
 WHERE next_at IS NOT NULL;
-- who and which transaction
CREATE ROLE regress_srch_writer;
GRANT USAGE ON SCHEMA cyoda_wf TO regress_srch_writer;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb),
                          cyoda_wf.update_item(uuid, jsonb, text, bigint)
   TO regress_srch_writer;
INSERT INTO cyoda_wf.entity (id, model, data)
VALUES ('00000000-0000-0000-0005-000000000002', 'srch_note', '{"text": "mine"}');
BEGIN;
SET LOCAL ROLE regress_srch_writer;
SELECT cyoda_wf.update_item('00000000-0000-0000-0005-000000000002', '{"text": "theirs"}');
SELECT pg_current_xact_id()::text::bigint AS writer_xid \gset
COMMIT;
SELECT version, change_type, changed_by, transition,
       transaction_id = :writer_xid AS writer_transaction
  FROM cyoda_wf.changes('00000000-0000-0000-0005-000000000002');
-- an id that never existed
SELECT count(*) FROM cyoda_wf.changes('00000000-0000-0000-0005-0000000000ff');

------------------------------------------------------------------------------
-- search: every operator gives check_condition's answer
------------------------------------------------------------------------------
INSERT INTO cyoda_wf.entity (id, model, data) VALUES
('00000000-0000-0000-0005-000000000101', 'srch_cmp', '{"name": "Alice", "age": 30, "city": "Paris", "tags": ["red", "blue"], "score": "30", "active": true, "code": "AB-12"}'),
('00000000-0000-0000-0005-000000000102', 'srch_cmp', '{"name": "alice", "age": "30.0", "city": "paris", "tags": ["Red"], "score": 30.5, "active": "true"}'),
('00000000-0000-0000-0005-000000000103', 'srch_cmp', '{"name": "ALICE", "age": "030", "city": null, "tags": [], "active": false}'),
('00000000-0000-0000-0005-000000000104', 'srch_cmp', '{"name": "Bob", "age": 25, "items": [{"sku": "A-1", "qty": 2}, {"sku": "b-2", "qty": "5"}]}'),
('00000000-0000-0000-0005-000000000105', 'srch_cmp', '{"name": "bob", "age": "3e1", "items": [{"sku": "A-1", "qty": null}], "nested": {"level": {"deep": "x"}}}'),
('00000000-0000-0000-0005-000000000106', 'srch_cmp', '{"name": "Ärger", "age": -1.5, "note": "50% off_now", "path": "C:\\temp"}'),
('00000000-0000-0000-0005-000000000107', 'srch_cmp', '{"name": "straße", "age": "abc", "note": "100%"}'),
('00000000-0000-0000-0005-000000000108', 'srch_cmp', '{"name": null, "age": null}'),
('00000000-0000-0000-0005-000000000109', 'srch_cmp', '{}'),
('00000000-0000-0000-0005-000000000110', 'srch_cmp', '{"name": "Carol", "age": [30], "tags": "red"}'),
('00000000-0000-0000-0005-000000000111', 'srch_cmp', '{"name": "Dave", "age": {"v": 30}, "tags": {"0": "red"}}'),
('00000000-0000-0000-0005-000000000112', 'srch_cmp', '{"name": "30", "age": "1e1001", "active": "TRUE"}'),
('00000000-0000-0000-0005-000000000113', 'srch_cmp', '{"name": "", "age": 0, "tags": ["red", null, "green"], "matrix": [[1, 2], [3, 4]]}'),
('00000000-0000-0000-0005-000000000114', 'srch_cmp', '{"name": "Eve", "age": 100, "items": [5, "x"], "code": "AB-12"}'),
('00000000-0000-0000-0005-000000000115', 'srch_cmp', '{"name": "eve ", "age": "99", "code": "ab-12"}');

CREATE TEMP TABLE srch_cond (ord serial, label text, cond jsonb);
INSERT INTO srch_cond (label, cond) VALUES
('EQUALS number', '{"type": "simple", "jsonPath": "$.age", "operatorType": "EQUALS", "value": 30}'),
('EQUALS numeric string', '{"type": "simple", "jsonPath": "$.age", "operatorType": "EQUALS", "value": "30"}'),
('EQUALS string', '{"type": "simple", "jsonPath": "$.name", "operatorType": "EQUALS", "value": "Alice"}'),
('EQUALS true', '{"type": "simple", "jsonPath": "$.active", "operatorType": "EQUALS", "value": true}'),
('EQUALS "false"', '{"type": "simple", "jsonPath": "$.active", "operatorType": "EQUALS", "value": "false"}'),
('EQUALS object', '{"type": "simple", "jsonPath": "$.age", "operatorType": "EQUALS", "value": {"v": 30}}'),
('EQUALS array', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "EQUALS", "value": ["red", "blue"]}'),
('EQUALS [*] path', '{"type": "simple", "jsonPath": "$.items[*].sku", "operatorType": "EQUALS", "value": "A-1"}'),
('EQUALS nested', '{"type": "simple", "jsonPath": "$.nested.level.deep", "operatorType": "EQUALS", "value": "x"}'),
('EQUALS [N] index', '{"type": "simple", "jsonPath": "$.tags[0]", "operatorType": "EQUALS", "value": "red"}'),
('EQUALS .N step', '{"type": "simple", "jsonPath": "$.tags.0", "operatorType": "EQUALS", "value": "red"}'),
('EQUALS [N][N]', '{"type": "simple", "jsonPath": "$.matrix[1][0]", "operatorType": "EQUALS", "value": 3}'),
('EQUALS quoted name', '{"type": "simple", "jsonPath": "$[''name'']", "operatorType": "EQUALS", "value": "Bob"}'),
('NOT_EQUAL', '{"type": "simple", "jsonPath": "$.name", "operatorType": "NOT_EQUAL", "value": "Alice"}'),
('NOT_EQUAL number', '{"type": "simple", "jsonPath": "$.age", "operatorType": "NOT_EQUAL", "value": 30}'),
('GREATER_THAN', '{"type": "simple", "jsonPath": "$.age", "operatorType": "GREATER_THAN", "value": 29}'),
('GREATER_OR_EQUAL', '{"type": "simple", "jsonPath": "$.age", "operatorType": "GREATER_OR_EQUAL", "value": "30"}'),
('LESS_THAN', '{"type": "simple", "jsonPath": "$.age", "operatorType": "LESS_THAN", "value": 0}'),
('LESS_OR_EQUAL text', '{"type": "simple", "jsonPath": "$.name", "operatorType": "LESS_OR_EQUAL", "value": "b"}'),
('CONTAINS text', '{"type": "simple", "jsonPath": "$.name", "operatorType": "CONTAINS", "value": "li"}'),
('CONTAINS array', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "CONTAINS", "value": "red"}'),
('NOT_CONTAINS', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "NOT_CONTAINS", "value": "red"}'),
('CONTAINS in array elements', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "CONTAINS", "value": "lu"}'),
('NOT_EQUAL array elements', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "NOT_EQUAL", "value": "red"}'),
('IS_NULL array elements', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "IS_NULL"}'),
('NOT_NULL array elements', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "NOT_NULL"}'),
('GREATER_THAN array elements', '{"type": "simple", "jsonPath": "$.items", "operatorType": "GREATER_THAN", "value": 4}'),
('NOT_STARTS_WITH strings only', '{"type": "simple", "jsonPath": "$.age", "operatorType": "NOT_STARTS_WITH", "value": "3"}'),
('NOT_ENDS_WITH strings only', '{"type": "simple", "jsonPath": "$.active", "operatorType": "NOT_ENDS_WITH", "value": "x"}'),
('INOT_STARTS_WITH any value', '{"type": "simple", "jsonPath": "$.age", "operatorType": "INOT_STARTS_WITH", "value": "3"}'),
('STARTS_WITH', '{"type": "simple", "jsonPath": "$.code", "operatorType": "STARTS_WITH", "value": "AB"}'),
('NOT_STARTS_WITH', '{"type": "simple", "jsonPath": "$.name", "operatorType": "NOT_STARTS_WITH", "value": "A"}'),
('ENDS_WITH', '{"type": "simple", "jsonPath": "$.name", "operatorType": "ENDS_WITH", "value": "ce"}'),
('NOT_ENDS_WITH', '{"type": "simple", "jsonPath": "$.name", "operatorType": "NOT_ENDS_WITH", "value": "e"}'),
('LIKE escaped %', '{"type": "simple", "jsonPath": "$.note", "operatorType": "LIKE", "value": "%\\%%"}'),
('LIKE _', '{"type": "simple", "jsonPath": "$.items[*].sku", "operatorType": "LIKE", "value": "A_1"}'),
('LIKE on a number', '{"type": "simple", "jsonPath": "$.age", "operatorType": "LIKE", "value": "3%"}'),
('IS_NULL', '{"type": "simple", "jsonPath": "$.city", "operatorType": "IS_NULL"}'),
('IS_NULL [*]', '{"type": "simple", "jsonPath": "$.items[*].qty", "operatorType": "IS_NULL"}'),
('NOT_NULL', '{"type": "simple", "jsonPath": "$.name", "operatorType": "NOT_NULL"}'),
('BETWEEN', '{"type": "simple", "jsonPath": "$.age", "operatorType": "BETWEEN", "value": [0, 30]}'),
('BETWEEN_INCLUSIVE', '{"type": "simple", "jsonPath": "$.age", "operatorType": "BETWEEN_INCLUSIVE", "value": [0, "30"]}'),
('BETWEEN text', '{"type": "simple", "jsonPath": "$.name", "operatorType": "BETWEEN", "value": ["B", "a"]}'),
('MATCHES_PATTERN', '{"type": "simple", "jsonPath": "$.name", "operatorType": "MATCHES_PATTERN", "value": "[a-z]+"}'),
('MATCHES_PATTERN (?i)', '{"type": "simple", "jsonPath": "$.name", "operatorType": "MATCHES_PATTERN", "value": "(?i)alice"}'),
('IEQUALS', '{"type": "simple", "jsonPath": "$.name", "operatorType": "IEQUALS", "value": "alice"}'),
('INOT_EQUAL', '{"type": "simple", "jsonPath": "$.name", "operatorType": "INOT_EQUAL", "value": "ALICE"}'),
('ICONTAINS', '{"type": "simple", "jsonPath": "$.tags", "operatorType": "ICONTAINS", "value": "RED"}'),
('INOT_CONTAINS', '{"type": "simple", "jsonPath": "$.name", "operatorType": "INOT_CONTAINS", "value": "L"}'),
('ISTARTS_WITH', '{"type": "simple", "jsonPath": "$.code", "operatorType": "ISTARTS_WITH", "value": "ab"}'),
('INOT_STARTS_WITH', '{"type": "simple", "jsonPath": "$.name", "operatorType": "INOT_STARTS_WITH", "value": "a"}'),
('IENDS_WITH', '{"type": "simple", "jsonPath": "$.name", "operatorType": "IENDS_WITH", "value": "E"}'),
('INOT_ENDS_WITH', '{"type": "simple", "jsonPath": "$.name", "operatorType": "INOT_ENDS_WITH", "value": "E"}'),
('IEQUALS non-ASCII', '{"type": "simple", "jsonPath": "$.name", "operatorType": "IEQUALS", "value": "ÄRGER"}'),
('operator spelled "operation"', '{"jsonPath": "$.age", "operation": "greater_than", "value": 99}'),
('AND', '{"type": "group", "operator": "AND", "conditions": [
    {"type": "simple", "jsonPath": "$.age", "operatorType": "EQUALS", "value": 30},
    {"type": "simple", "jsonPath": "$.name", "operatorType": "IEQUALS", "value": "alice"}]}'),
('OR', '{"type": "group", "operator": "OR", "conditions": [
    {"type": "simple", "jsonPath": "$.name", "operatorType": "EQUALS", "value": "Bob"},
    {"type": "simple", "jsonPath": "$.code", "operatorType": "EQUALS", "value": "AB-12"}]}'),
('NOT', '{"type": "group", "operator": "NOT", "conditions": [
    {"type": "simple", "jsonPath": "$.name", "operatorType": "EQUALS", "value": "Alice"}]}'),
('NOT of a null-rule miss', '{"type": "group", "operator": "NOT", "conditions": [
    {"type": "simple", "jsonPath": "$.city", "operatorType": "NOT_EQUAL", "value": "Paris"}]}'),
('empty AND', '{"type": "group", "operator": "AND", "conditions": []}'),
('empty OR', '{"type": "group", "operator": "OR", "conditions": []}'),
('nested groups', '{"type": "group", "operator": "or", "conditions": [
    {"type": "group", "operator": "AND", "conditions": [
        {"type": "simple", "jsonPath": "$.age", "operatorType": "GREATER_THAN", "value": 20},
        {"type": "group", "operator": "NOT", "conditions": [
            {"type": "simple", "jsonPath": "$.tags", "operatorType": "NOT_NULL"}]}]},
    {"type": "array", "jsonPath": "$.tags", "values": ["red", null, "green"]}]}'),
('array', '{"type": "array", "jsonPath": "$.tags", "values": ["red"]}'),
('array with a null', '{"type": "array", "jsonPath": "$.items", "values": [null, {"sku": "b-2", "qty": "5"}]}'),
('array, no values', '{"type": "array", "jsonPath": "$.tags", "values": []}');

-- found: the entities search returns (last two digits of the id);
-- agrees: check_condition selects exactly the same ones
SELECT c.label, s.found, s.found IS NOT DISTINCT FROM k.found AS agrees
  FROM srch_cond c
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.search('srch_cmp', 1, c.cond) e) s
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.entity e
                      WHERE e.model = 'srch_cmp'
                        AND cyoda_wf.check_condition(c.cond, e.data)) k
 ORDER BY c.ord;

-- The same conditions under NOT: the complement, exactly.
SELECT count(*) AS conditions,
       count(*) FILTER (WHERE s.found IS DISTINCT FROM k.found) AS disagreements
  FROM srch_cond c
 CROSS JOIN LATERAL (SELECT jsonb_build_object('type', 'group', 'operator', 'NOT',
                                               'conditions', jsonb_build_array(c.cond)) AS cond) n
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.search('srch_cmp', 1, n.cond) e) s
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.entity e
                      WHERE e.model = 'srch_cmp'
                        AND cyoda_wf.check_condition(n.cond, e.data)) k;

-- No condition: every entity of the model version, by creation time.
SELECT right(id::text, 2) AS id, state, version
  FROM cyoda_wf.search('srch_cmp', 1, NULL) LIMIT 3;
SELECT count(*) FROM cyoda_wf.search('srch_cmp', 1, NULL);
SELECT count(*) FROM cyoda_wf.search('srch_cmp', 2, NULL);
SELECT count(*) FROM cyoda_wf.search('srch_nothing', 1, '{"type": "simple", "jsonPath": "$.a", "operatorType": "IS_NULL"}');

-- Lifecycle conditions: state, id, previousTransition, dates.
SELECT cyoda_wf.fire('00000000-0000-0000-0005-000000000104', 'DELETE');
SELECT cyoda_wf.update_item('00000000-0000-0000-0005-000000000105', '{"name": "bob", "age": 31}');
SELECT clock_timestamp() AS t_cmp \gset
SELECT cyoda_wf.update_item('00000000-0000-0000-0005-000000000106', '{"name": "Ärger", "age": -2}');
SELECT right(id::text, 2) AS id, state, last_transition, data ->> 'age' AS age
  FROM cyoda_wf.search('srch_cmp', 1, '{"type": "lifecycle", "field": "state", "operatorType": "EQUALS", "value": "DELETED"}');
SELECT right(id::text, 2) AS id, state, last_transition
  FROM cyoda_wf.search('srch_cmp', 1, '{"type": "lifecycle", "field": "previousTransition", "operatorType": "IEQUALS", "value": "LOOPBACK"}');
SELECT right(id::text, 2) AS id
  FROM cyoda_wf.search('srch_cmp', 1, '{"type": "lifecycle", "field": "state", "operatorType": "NOT_EQUAL", "value": "CREATED"}');
SELECT right(id::text, 2) AS id
  FROM cyoda_wf.search('srch_cmp', 1, '{"type": "lifecycle", "field": "id", "operatorType": "EQUALS", "value": "00000000-0000-0000-0005-000000000107"}');
SELECT right(id::text, 2) AS id
  FROM cyoda_wf.search('srch_cmp', 1, '{"type": "lifecycle", "field": "id", "operatorType": "ENDS_WITH", "value": "11"}');
SELECT right(id::text, 2) AS id
  FROM cyoda_wf.search('srch_cmp', 1, jsonb_build_object('type', 'lifecycle', 'field', 'lastUpdateTime',
                                                           'operatorType', 'GREATER_THAN', 'value', :'t_cmp'));
SELECT count(*)
  FROM cyoda_wf.search('srch_cmp', 1, jsonb_build_object('type', 'lifecycle', 'field', 'creationDate',
                                                           'operatorType', 'BETWEEN_INCLUSIVE',
                                                           'value', jsonb_build_array(:'t_before', :'t_cmp')));
SELECT count(*)
  FROM cyoda_wf.search('srch_cmp', 1, jsonb_build_object('type', 'lifecycle', 'field', 'creationDate',
                                                           'operatorType', 'LESS_THAN', 'value', :'t_before'));
SELECT right(id::text, 2) AS id
  FROM cyoda_wf.search('srch_cmp', 1, jsonb_build_object('type', 'group', 'operator', 'AND', 'conditions', jsonb_build_array(
         jsonb_build_object('type', 'lifecycle', 'field', 'lastUpdateTime', 'operatorType', 'LESS_OR_EQUAL', 'value', :'t_cmp'),
         '{"type": "lifecycle", "field": "transitionForLatestSave", "operatorType": "EQUALS", "value": "loopback"}'::jsonb)));

-- Point in time: the versions as they were at t_cmp (106 had its older
-- data), and before anything existed.
SELECT right(id::text, 2) AS id, state, version, last_transition, data ->> 'age' AS age
  FROM cyoda_wf.search('srch_cmp', 1, '{"type": "simple", "jsonPath": "$.age", "operatorType": "LESS_THAN", "value": 0}', :'t_cmp');
SELECT right(id::text, 2) AS id, data ->> 'age' AS age
  FROM cyoda_wf.search('srch_cmp', 1, '{"type": "simple", "jsonPath": "$.age", "operatorType": "LESS_THAN", "value": 0}');
SELECT count(*) FROM cyoda_wf.search('srch_cmp', 1, NULL, :'t_before');
-- a point-in-time row looks like the live one when nothing changed since
SELECT count(*) AS same_rows
  FROM cyoda_wf.search('srch_cmp', 1, NULL, clock_timestamp()) p
  JOIN cyoda_wf.entity e USING (id)
 WHERE (p.*)::text = (e.*)::text;
-- deleted entities leave point-in-time results after their deletion
SELECT count(*) FROM cyoda_wf.search('srch_note', 1, NULL, :'t_v3');
SELECT count(*) FROM cyoda_wf.search('srch_note', 1, NULL, :'t_deleted');
-- every condition at t_cmp agrees with check_condition on the data of then
SELECT count(*) AS conditions,
       count(*) FILTER (WHERE s.found IS DISTINCT FROM k.found) AS disagreements
  FROM srch_cond c
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.search('srch_cmp', 1, c.cond, :'t_cmp') e) s
 CROSS JOIN LATERAL (SELECT string_agg(right(v.entity_id::text, 2), ' ' ORDER BY v.entity_id) AS found
                       FROM (SELECT DISTINCT ON (h.entity_id) h.*
                               FROM cyoda_wf.entity_version h
                              WHERE h.model = 'srch_cmp' AND h.changed_at <= :'t_cmp'
                              ORDER BY h.entity_id, h.version DESC) v
                      WHERE v.change_type <> 'DELETE'
                        AND cyoda_wf.check_condition(c.cond, v.data)) k;

-- Refused: function criteria anywhere, invalid conditions, no model.
SELECT * FROM cyoda_wf.search('srch_cmp', 1, '{"type": "function", "function": {"name": "is_big"}}');
SELECT * FROM cyoda_wf.search('srch_cmp', 1, '{"type": "group", "operator": "OR", "conditions": [
    {"type": "simple", "jsonPath": "$.age", "operatorType": "EQUALS", "value": 30},
    {"type": "function", "function": {"name": "is_big"}}]}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM cyoda_wf.search('srch_cmp', 1, '{"type": "simple", "jsonPath": "$.age", "operatorType": "ROUGHLY", "value": 30}');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM cyoda_wf.search('srch_cmp', 1, '{"type": "simple", "jsonPath": "$.age", "operatorType": "BETWEEN", "value": 30}');
SELECT * FROM cyoda_wf.search(NULL, 1, NULL);

-- Values are parameters, never SQL text.
SELECT count(*) FROM cyoda_wf.search('srch_cmp', 1,
    '{"type": "simple", "jsonPath": "$[\"x'')) OR true --\"]", "operatorType": "EQUALS", "value": "'' OR ''1''=''1"}');

-- The SQL search runs (search_sql, a debugging aid): EQUALS on a string
-- uses the GIN index entity_data_idx through data @? jsonpath (which also
-- finds an array field holding the value); the evaluator decides on the
-- rows it finds
SELECT cyoda_wf.search_sql('srch_cmp', 1, '{"type": "simple", "jsonPath": "$.name", "operatorType": "EQUALS", "value": "Alice"}');
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT ('00000000-0000-0000-0005-1' || lpad(i::text, 11, '0'))::uuid, 'srch_plan',
       jsonb_build_object('k', 'v' || i, 'n', i)
  FROM generate_series(1, 1000) i;
ANALYZE cyoda_wf.entity;
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        RETURN NEXT line;
    END LOOP;
END
$$;
SET enable_seqscan = off;
SELECT DISTINCT btrim(replace(line, '->', '')) AS plan_line
  FROM pg_temp.plan_of(cyoda_wf.search_sql('srch_plan', 1,
         '{"type": "simple", "jsonPath": "$.k", "operatorType": "EQUALS", "value": "v42"}')) AS line
 WHERE line ~ 'entity_data_idx|Index Cond: \(.*data @[>?]';
RESET enable_seqscan;
SELECT right(id::text, 3) AS id, data
  FROM cyoda_wf.search('srch_plan', 1, '{"type": "group", "operator": "AND", "conditions": [
             {"type": "simple", "jsonPath": "$.k", "operatorType": "EQUALS", "value": "v42"},
             {"type": "simple", "jsonPath": "$.n", "operatorType": "LESS_THAN", "value": "100"}]}');

-- Merged groups: the members of an OR of EQUALS / IEQUALS / CONTAINS /
-- ICONTAINS that test one path become one test over arrays of their
-- operands; an AND is never merged (on an array each member may pass
-- through its own element).  Each finds what check_condition finds, and
-- what its members find as separate searches (union for OR, intersection
-- for AND).
CREATE FUNCTION pg_temp.terms(path text, op text, vals jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_agg(jsonb_build_object('type', 'simple', 'jsonPath', path, 'operatorType', op, 'value', v))
    FROM jsonb_array_elements(vals) v
$$;
CREATE FUNCTION pg_temp.grp(op text, conds jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('type', 'group', 'operator', op, 'conditions', conds)
$$;
CREATE TEMP TABLE srch_merged (ord serial, label text, cond jsonb);
INSERT INTO srch_merged (label, cond) VALUES
('OR EQUALS numbers', pg_temp.grp('OR', pg_temp.terms('$.age', 'EQUALS', '[30, 25, -1.5, 0]'))),
('OR EQUALS numeric strings', pg_temp.grp('OR', pg_temp.terms('$.age', 'EQUALS', '["30", "25.0", "abc", "1e1001"]'))),
('OR EQUALS strings', pg_temp.grp('OR', pg_temp.terms('$.name', 'EQUALS', '["Alice", "bob", "", "30", "Ärger"]'))),
('OR EQUALS booleans', pg_temp.grp('OR', pg_temp.terms('$.active', 'EQUALS', '[true, "false"]'))),
('OR EQUALS of every kind', pg_temp.grp('OR', pg_temp.terms('$.age', 'EQUALS', '[30, "abc", true, {"v": 30}, [30], "1e1001"]'))),
('OR EQUALS arrays, objects', pg_temp.grp('OR', pg_temp.terms('$.tags', 'EQUALS', '[["red", "blue"], [], {"0": "red"}, "red"]'))),
('OR EQUALS [*] path', pg_temp.grp('OR', pg_temp.terms('$.items[*].sku', 'EQUALS', '["A-1", "b-2", "zz"]'))),
('OR EQUALS [*] numbers', pg_temp.grp('OR', pg_temp.terms('$.items[*].qty', 'EQUALS', '[5, 2]'))),
('OR EQUALS [N] index', pg_temp.grp('OR', pg_temp.terms('$.tags[0]', 'EQUALS', '["red", "Red"]'))),
('OR EQUALS .N step', pg_temp.grp('OR', pg_temp.terms('$.tags.0', 'EQUALS', '["red", "Red"]'))),
('OR IEQUALS', pg_temp.grp('OR', pg_temp.terms('$.name', 'IEQUALS', '["ALICE", "BOB", "ärger", "TRUE", "30"]'))),
('OR IEQUALS "TRUE"', pg_temp.grp('OR', pg_temp.terms('$.active', 'IEQUALS', '["TRUE", "false"]'))),
('OR CONTAINS on arrays', pg_temp.grp('OR', pg_temp.terms('$.tags', 'CONTAINS', '["red", "green", "lu"]'))),
('OR CONTAINS on text', pg_temp.grp('OR', pg_temp.terms('$.name', 'CONTAINS', '["li", "ob", 30]'))),
('OR ICONTAINS', pg_temp.grp('OR', pg_temp.terms('$.tags', 'ICONTAINS', '["RED", "GREEN"]'))),
('OR CONTAINS arrays', pg_temp.grp('OR', pg_temp.terms('$.matrix', 'CONTAINS', '[[1, 2], [9]]'))),
('AND NOT_EQUAL', pg_temp.grp('AND', pg_temp.terms('$.name', 'NOT_EQUAL', '["Alice", "bob", "30"]'))),
('AND NOT_EQUAL numbers', pg_temp.grp('AND', pg_temp.terms('$.age', 'NOT_EQUAL', '[30, "25", -1.5]'))),
('AND INOT_EQUAL', pg_temp.grp('AND', pg_temp.terms('$.name', 'INOT_EQUAL', '["ALICE", "bob"]'))),
('AND NOT_CONTAINS', pg_temp.grp('AND', pg_temp.terms('$.tags', 'NOT_CONTAINS', '["red", "green"]'))),
('AND INOT_CONTAINS', pg_temp.grp('AND', pg_temp.terms('$.name', 'INOT_CONTAINS', '["L", "B"]'))),
('AND NOT_EQUAL [*]', pg_temp.grp('AND', pg_temp.terms('$.items[*].sku', 'NOT_EQUAL', '["A-1", "b-2"]'))),
('OR EQUALS, path missing', pg_temp.grp('OR', pg_temp.terms('$.nope', 'EQUALS', '[1, "x"]'))),
('AND NOT_EQUAL, null or missing', pg_temp.grp('AND', pg_temp.terms('$.city', 'NOT_EQUAL', '["x", "y"]'))),
('mixed with other operators', pg_temp.grp('OR', pg_temp.terms('$.age', 'EQUALS', '[30, 25]')
    || pg_temp.terms('$.age', 'GREATER_THAN', '[99]') || pg_temp.terms('$.name', 'EQUALS', '["Eve", "Dave"]')
    || pg_temp.terms('$.age', 'EQUALS', '["99"]'))),
('nested groups', pg_temp.grp('AND', jsonb_build_array(
    pg_temp.grp('OR', pg_temp.terms('$.age', 'EQUALS', '[30, 25, 100]')),
    pg_temp.grp('NOT', jsonb_build_array(pg_temp.grp('OR', pg_temp.terms('$.name', 'IEQUALS', '["alice", "eve"]')))))
    || pg_temp.terms('$.name', 'NOT_EQUAL', '["x", "y"]')));
SELECT c.label, s.found, s.found IS NOT DISTINCT FROM k.found AS agrees,
       s.found IS NOT DISTINCT FROM m.found AS as_separate
  FROM srch_merged c
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.search('srch_cmp', 1, c.cond) e) s
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.entity e
                      WHERE e.model = 'srch_cmp' AND cyoda_wf.check_condition(c.cond, e.data)) k
 CROSS JOIN LATERAL (SELECT string_agg(right(id::text, 2), ' ' ORDER BY id) AS found
                       FROM (SELECT e.id
                               FROM jsonb_array_elements(c.cond -> 'conditions') mc,
                                    cyoda_wf.search('srch_cmp', 1, mc) e
                              GROUP BY e.id
                             HAVING c.cond ->> 'operator' = 'OR'
                                 OR count(*) = jsonb_array_length(c.cond -> 'conditions')) f) m
 ORDER BY c.ord;
-- under NOT, the complement, exactly
SELECT count(*) AS conditions,
       count(*) FILTER (WHERE s.found IS DISTINCT FROM k.found) AS disagreements
  FROM srch_merged c
 CROSS JOIN LATERAL (SELECT pg_temp.grp('NOT', jsonb_build_array(c.cond)) AS cond) n
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.search('srch_cmp', 1, n.cond) e) s
 CROSS JOIN LATERAL (SELECT string_agg(right(e.id::text, 2), ' ' ORDER BY e.id) AS found
                       FROM cyoda_wf.entity e
                      WHERE e.model = 'srch_cmp' AND cyoda_wf.check_condition(n.cond, e.data)) k;
-- the SQL of a merged group: the strings and booleans narrowed through the
-- GIN index with one @? ANY, the group decided by one call of the evaluator
\pset format unaligned
\pset tuples_only on
SELECT cyoda_wf.search_sql('srch_cmp', 1, pg_temp.grp('OR', pg_temp.terms('$.name', 'EQUALS', '["Alice", "Bob", true]')));
-- with a number among them no index narrows the OR (a number has many
-- spellings): the group is one call of the evaluator, parallel safe
SELECT cyoda_wf.search_sql('srch_cmp', 1, pg_temp.grp('OR', pg_temp.terms('$.name', 'EQUALS', '["Alice", "Bob", 30, true]')));
\pset tuples_only off
\pset format aligned
-- 1,000 terms: one index test and one call of the evaluator; the text
-- grows only by the condition as written and a jsonpath per operand
SELECT regexp_count(q, 'matches_condition') AS evaluated, regexp_count(q, '@[>?]') AS index_tests,
       regexp_count(q, ' OR ') AS ors, length(q) < length(c::text) + 40 * 1000 AS short
  FROM (SELECT pg_temp.grp('OR', pg_temp.terms('$.k', 'EQUALS', (SELECT jsonb_agg('v' || i) FROM generate_series(1, 1000) i))) AS c) t
 CROSS JOIN LATERAL (SELECT cyoda_wf.search_sql('srch_plan', 1, t.c) AS q) s;
SELECT count(*) AS found, min(data ->> 'k') AS first, max((data ->> 'n')::int) AS max_n
  FROM cyoda_wf.search('srch_plan', 1,
         pg_temp.grp('OR', pg_temp.terms('$.k', 'EQUALS', (SELECT jsonb_agg('v' || (3 * i)) FROM generate_series(1, 1000) i))));
SELECT count(*) AS found
  FROM cyoda_wf.search('srch_plan', 1,
         pg_temp.grp('OR', pg_temp.terms('$.n', 'EQUALS', (SELECT jsonb_agg(CASE WHEN i % 2 = 0 THEN to_jsonb(i) ELSE to_jsonb(i::text) END)
                                                            FROM generate_series(500, 1499) i))));
SET enable_seqscan = off;
SELECT DISTINCT btrim(replace(line, '->', '')) AS plan_line
  FROM pg_temp.plan_of(cyoda_wf.search_sql('srch_plan', 1,
         pg_temp.grp('OR', pg_temp.terms('$.k', 'EQUALS', '["v42", "v43", "v44"]')))) AS line
 WHERE line ~ 'entity_data_idx';
RESET enable_seqscan;

-- Searching takes EXECUTE on search only, not rights on the tables.
CREATE ROLE regress_srch_reader;
GRANT USAGE ON SCHEMA cyoda_wf TO regress_srch_reader;
GRANT EXECUTE ON FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer) TO regress_srch_reader;
SET ROLE regress_srch_reader;
SELECT count(*) FROM cyoda_wf.search('srch_cmp', 1, '{"type": "simple", "jsonPath": "$.name", "operatorType": "IEQUALS", "value": "alice"}');
SELECT count(*) FROM cyoda_wf.entity;
RESET ROLE;

------------------------------------------------------------------------------
-- stats(model)
------------------------------------------------------------------------------
SELECT * FROM cyoda_wf.stats('srch_cmp');
SELECT * FROM cyoda_wf.stats() WHERE model LIKE 'srch%';
SELECT count(*) FROM cyoda_wf.stats('srch_nothing');

------------------------------------------------------------------------------
-- History retention
------------------------------------------------------------------------------
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT ('00000000-0000-0000-0005-00000000020' || i)::uuid, 'srch_ret', jsonb_build_object('i', i, 'rev', 1)
  FROM generate_series(1, 3) i;
SELECT count(*) FROM (SELECT cyoda_wf.update_item(id, data || '{"rev": 2}') FROM cyoda_wf.entity WHERE model = 'srch_ret') u;
SELECT clock_timestamp() AS t_rev2 \gset
SELECT count(*) FROM (SELECT cyoda_wf.update_item(id, data || '{"rev": 3}') FROM cyoda_wf.entity WHERE model = 'srch_ret') u;
SELECT count(*) FROM (SELECT cyoda_wf.update_item(id, data || '{"rev": 4}') FROM cyoda_wf.entity WHERE model = 'srch_ret') u;
SELECT cyoda_wf.delete_item('00000000-0000-0000-0005-000000000203');
SELECT count(*) AS versions FROM cyoda_wf.entity_version WHERE model = 'srch_ret';
SELECT count(*) AS audit_rows FROM cyoda_wf.audit
 WHERE entity_id IN (SELECT entity_id FROM cyoda_wf.entity_version WHERE model = 'srch_ret');

-- bad policies
SELECT cyoda_wf.set_retention('srch_ret', 0);
SELECT cyoda_wf.set_retention('srch_ret', NULL, '-1 day');
SELECT cyoda_wf.set_retention(NULL, 1);
-- no policy: nothing to do
SELECT cyoda_wf.prune_history('srch_ret');

-- keep the newest 2 versions of each entity
SELECT cyoda_wf.set_retention('srch_ret', 2);
SELECT model, keep_versions, keep_for FROM cyoda_wf.retention;
SELECT cyoda_wf.prune_history('srch_ret');
SELECT right(entity_id::text, 3) AS id, version, change_type
  FROM cyoda_wf.entity_version WHERE model = 'srch_ret' ORDER BY entity_id, version;
SELECT count(*) AS audit_rows FROM cyoda_wf.audit
 WHERE entity_id IN (SELECT entity_id FROM cyoda_wf.entity_version WHERE model = 'srch_ret');
SELECT version, change_type FROM cyoda_wf.changes('00000000-0000-0000-0005-000000000201');
-- a second run finds nothing more
SELECT cyoda_wf.prune_history();
-- reads from the oldest kept version on are exact; before it: P0002
SELECT cyoda_wf.get_item('00000000-0000-0000-0005-000000000201', clock_timestamp()) ->> 'rev' AS rev_now;
\set VERBOSITY sqlstate
SELECT cyoda_wf.get_item('00000000-0000-0000-0005-000000000201', :'t_rev2');
SELECT cyoda_wf.get_entity('00000000-0000-0000-0005-000000000201', :'t_rev2');
\set VERBOSITY default
SELECT count(*) FROM cyoda_wf.search('srch_ret', 1, NULL, :'t_rev2');
-- the latest version of a live entity is never pruned
SELECT cyoda_wf.set_retention('srch_ret', 1);
SELECT cyoda_wf.prune_history('srch_ret');
SELECT right(entity_id::text, 3) AS id, version, change_type
  FROM cyoda_wf.entity_version WHERE model = 'srch_ret' ORDER BY entity_id, version;
SELECT right(id::text, 3) AS id, version, data ->> 'rev' AS rev
  FROM cyoda_wf.search('srch_ret', 1, NULL, clock_timestamp());

-- keep_for: pretend the history is ten days old, except one recent save
SELECT cyoda_wf.update_item('00000000-0000-0000-0005-000000000202', '{"i": 2, "rev": 5}');
UPDATE cyoda_wf.entity_version SET changed_at = changed_at - interval '10 days',
       started_at = started_at - interval '10 days'
 WHERE model = 'srch_ret' AND NOT (entity_id = '00000000-0000-0000-0005-000000000202' AND version = 5);
UPDATE cyoda_wf.audit_log SET at = at - interval '10 days'
 WHERE entity_id IN (SELECT entity_id FROM cyoda_wf.entity_version WHERE model = 'srch_ret');
SELECT cyoda_wf.set_retention('srch_ret', NULL, '5 days');
SELECT model, keep_versions, keep_for FROM cyoda_wf.retention;
SELECT cyoda_wf.prune_history('srch_ret');
-- 201: its one version is still in effect at the horizon, kept;
-- 202: version 4 was in effect at the horizon, kept with 5;
-- 203: deleted before the horizon, forgotten
SELECT right(entity_id::text, 3) AS id, version, change_type
  FROM cyoda_wf.entity_version WHERE model = 'srch_ret' ORDER BY entity_id, version;
SELECT count(*) FROM cyoda_wf.changes('00000000-0000-0000-0005-000000000203');
SELECT cyoda_wf.get_item('00000000-0000-0000-0005-000000000202', now() - interval '6 days') ->> 'rev' AS rev_6_days_ago;
-- removing the policy
SELECT cyoda_wf.set_retention('srch_ret');
SELECT count(*) FROM cyoda_wf.retention;
SELECT cyoda_wf.prune_history();

DROP OWNED BY regress_srch_writer, regress_srch_reader;
DROP ROLE regress_srch_writer, regress_srch_reader;
