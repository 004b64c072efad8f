SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
-- Entity models (README: Entity models): registration from samples, export,
-- numeric classification, merging, lock / unlock, change levels, saves
-- checked against the schema, cyoda_wf.require_model.
\set SHOW_CONTEXT never

------------------------------------------------------------------------------
-- 11.2: the SIMPLE_VIEW example and JSON_SCHEMA
------------------------------------------------------------------------------
SELECT cyoda_wf.import_model('mdl_ex', 1,
  '{"k": 1, "tags": ["a", "b"], "o": {"x": "y"}, "l": [{"s": "A"}]}')
  = '{"currentState": "UNLOCKED", "model": {
       "$": {"#.l": "OBJECT", "#.o": "OBJECT", ".k": "INTEGER", ".tags[*]": "(STRING x 2)"},
       "$.l[*]": {"#": "ARRAY_ELEMENT", ".s": "STRING"}, "$.o": {".x": "STRING"}}}'::jsonb
  AS simple_view_example;
SELECT jsonb_pretty(cyoda_wf.export_model('mdl_ex', 1, 'JSON_SCHEMA'));
SELECT cyoda_wf.export_model('mdl_ex', 1, 'simple_view');   -- 22023: case-sensitive
SELECT cyoda_wf.export_model('mdl_none', 1);                 -- P0002

------------------------------------------------------------------------------
-- 11.3: numbers by value, strings by shape
------------------------------------------------------------------------------
SELECT jsonb_pretty(cyoda_wf.import_model('mdl_num', 1, '{
  "one": 1, "one_point_zero": 1.0, "hundred": 1e2, "int32_max": 2147483647,
  "int32_over": 2147483648, "int64_max": 9223372036854775807,
  "digits38": 12345678901234567890123456789012345678,
  "digits40": 1234567890123456789012345678901234567890,
  "d": 13.111, "bd": 12345678901234567800.12345678901234567,
  "ud": 12345678901234567800.1234567890123456789,
  "date": "2024-01-31", "ym": "2024-01", "ldt": "2024-01-31T10:15:30",
  "ldt_short": "2024-01-31T10:15", "zdt": "2024-01-31T10:15:30Z",
  "zdt_off": "2024-01-31T10:15:30.123+02:00", "time": "10:15:30.5",
  "year": "2024", "text": "hello", "flag": false, "nothing": null, "empty": []}') -> 'model');

------------------------------------------------------------------------------
-- 11.3: merging is a union; the same sample twice changes nothing
------------------------------------------------------------------------------
SELECT cyoda_wf.import_model('mdl_merge', 1, '{"p": 13, "i": 1, "l": 1, "b": 1, "arr": [1]}') -> 'model';
SELECT cyoda_wf.import_model('mdl_merge', 1,
  '{"p": "expensive", "i": 1.5, "l": 3000000000, "b": 12345678901234567800.12345678901234567, "arr": [1, 2, 3]}') -> 'model';
SELECT cyoda_wf.import_model('mdl_merge', 1, '{"l": 1.5}') -> 'model' -> '$' ->> '.l' AS long_and_double;
SELECT updated_at AS merged_at FROM cyoda_wf.models() WHERE model = 'mdl_merge' \gset
SELECT cyoda_wf.import_model('mdl_merge', 1, '{"l": 1.5}') -> 'model' -> '$' ->> '.l' AS same_again;
SELECT updated_at = :'merged_at' AS unchanged FROM cyoda_wf.models() WHERE model = 'mdl_merge';
-- an object and a scalar at one path keep both
SELECT cyoda_wf.import_model('mdl_obj', 1, '{"a": 1}') IS NOT NULL AS registered;
SELECT cyoda_wf.import_model('mdl_obj', 1, '{"a": {"b": true}}') -> 'model';
SELECT cyoda_wf.import_model('mdl_obj', 1, '[1]');           -- 22023: not an object
SELECT cyoda_wf.import_model('', 1, '{}');                   -- 22023
SELECT cyoda_wf.import_model('mdl_obj', 0, '{}');            -- 22023

------------------------------------------------------------------------------
-- 11.1: lifecycle
------------------------------------------------------------------------------
SELECT model, model_version, state, change_level, entity_count FROM cyoda_wf.models();
SELECT cyoda_wf.add_item('mdl_ex', 1, '{"k": 2}');           -- 55000: not locked
SELECT cyoda_wf.lock_model('mdl_ex', 1);
SELECT cyoda_wf.lock_model('mdl_ex', 1);                     -- 55000: already
SELECT cyoda_wf.import_model('mdl_ex', 1, '{"k": 2}');       -- 55000: locked
SELECT cyoda_wf.delete_model('mdl_ex', 1);                   -- 55000: locked
SELECT cyoda_wf.add_item('mdl_ex', 1, '{"k": 2, "tags": ["c"], "l": [{}]}') IS NOT NULL AS saved;
SELECT cyoda_wf.unlock_model('mdl_ex', 1);                   -- 55000: 1 entity
SELECT count(*) AS deleted FROM (SELECT cyoda_wf.delete_item(id) FROM cyoda_wf.entity WHERE model = 'mdl_ex') d;
SELECT cyoda_wf.unlock_model('mdl_ex', 1);
SELECT cyoda_wf.unlock_model('mdl_ex', 1);                   -- 55000: already
SELECT cyoda_wf.delete_model('mdl_ex', 1);
SELECT cyoda_wf.lock_model('mdl_ex', 1);                     -- P0002: gone
SELECT cyoda_wf.import_model('mdl_ex', 1, '{"k": 1}') -> 'model' AS registered_again;
SELECT cyoda_wf.set_change_level('mdl_ex', 1, 'TYPE');
SELECT cyoda_wf.set_change_level('mdl_ex', 1, NULL) IS NULL AS cleared;
SELECT cyoda_wf.set_change_level('mdl_ex', 1, 'type');       -- 22023
SELECT cyoda_wf.set_change_level('mdl_ex', 1, '');           -- 22023
SELECT cyoda_wf.set_change_level('mdl_none', 1, 'TYPE');     -- P0002

------------------------------------------------------------------------------
-- 11.4: change levels (locked {"price": 13} = INTEGER)
------------------------------------------------------------------------------
SELECT cyoda_wf.import_model('mdl_price', 1, '{"price": 13, "tags": ["a"]}') IS NOT NULL AS registered;
SELECT cyoda_wf.lock_model('mdl_price', 1);
SELECT cyoda_wf.add_item('mdl_price', 1, '{"price": 13.111}');          -- level NULL
SELECT cyoda_wf.set_change_level('mdl_price', 1, 'ARRAY_LENGTH');
SELECT cyoda_wf.add_item('mdl_price', 1, '{"price": 13.111}');
SELECT cyoda_wf.add_item('mdl_price', 1, '{"tags": ["a", "b"]}') IS NOT NULL AS longer_array;
SELECT cyoda_wf.add_item('mdl_price', 1, '{"tags": [1]}');              -- ARRAY_ELEMENTS
SELECT cyoda_wf.set_change_level('mdl_price', 1, 'ARRAY_ELEMENTS');
SELECT cyoda_wf.add_item('mdl_price', 1, '{"price": 13.111}');
SELECT cyoda_wf.add_item('mdl_price', 1, '{"tags": [true]}') IS NOT NULL AS other_elements;
SELECT cyoda_wf.set_change_level('mdl_price', 1, 'TYPE');
SELECT cyoda_wf.add_item('mdl_price', 1, '{"price": 13, "new": "x"}');  -- STRUCTURAL
SELECT cyoda_wf.add_item('mdl_price', 1, '{"price": 13.111}') IS NOT NULL AS accepted_at_type;
SELECT cyoda_wf.export_model('mdl_price', 1) -> 'model';
SELECT cyoda_wf.add_item('mdl_price', 1, '{"price": {"a": 1}}');        -- never
SELECT cyoda_wf.set_change_level('mdl_price', 1, 'STRUCTURAL');
SELECT cyoda_wf.add_item('mdl_price', 1, '{"price": 13, "new": "x", "deep": {"a": [1]}}') IS NOT NULL AS structural;
SELECT cyoda_wf.export_model('mdl_price', 1) -> 'model';
SELECT model, state, change_level, entity_count FROM cyoda_wf.models() WHERE model = 'mdl_price';
-- locked {"price": 13.111}: {"price": 13} conforms at every level
SELECT cyoda_wf.import_model('mdl_dbl', 1, '{"price": 13.111, "n": null}') IS NOT NULL AS registered;
SELECT cyoda_wf.lock_model('mdl_dbl', 1);
SELECT cyoda_wf.add_item('mdl_dbl', 1, '{"price": 13}') IS NOT NULL AS integer_into_double;
SELECT cyoda_wf.add_item('mdl_dbl', 1, '{"price": null, "n": null}') IS NOT NULL AS nulls_conform;
SELECT cyoda_wf.add_item('mdl_dbl', 1, '{"n": 1}');                     -- TYPE: seen only as null
SELECT cyoda_wf.add_item('mdl_dbl', 1, '{"price": 3000000000}');        -- LONG -> DOUBLE: TYPE
-- updates with new data are checked; fire without data and deletes are not
SELECT id AS dbl_id FROM cyoda_wf.entity WHERE model = 'mdl_dbl' LIMIT 1 \gset
SELECT cyoda_wf.update_item(:'dbl_id', '{"price": "x"}');               -- 22023
UPDATE cyoda_wf.entity SET data = '{"other": 1}' WHERE id = :'dbl_id';  -- 22023
SELECT cyoda_wf.update_item(:'dbl_id', '{"price": 1.5}');
SELECT cyoda_wf.fire(:'dbl_id', 'UPDATE');
SELECT cyoda_wf.export_model('mdl_dbl', 1) -> 'model';
-- the save is rolled back with its extension
SELECT cyoda_wf.set_change_level('mdl_dbl', 1, 'STRUCTURAL');
BEGIN;
SELECT cyoda_wf.add_item('mdl_dbl', 1, '{"added": true}') IS NOT NULL AS extended;
SELECT cyoda_wf.export_model('mdl_dbl', 1) -> 'model' -> '$' ? '.added' AS has_added;
ROLLBACK;
SELECT cyoda_wf.export_model('mdl_dbl', 1) -> 'model' -> '$' ? '.added' AS has_added_after_rollback;

------------------------------------------------------------------------------
-- 11.5: cyoda_wf.require_model
------------------------------------------------------------------------------
SHOW cyoda_wf.require_model;
SELECT cyoda_wf.add_item('mdl_parnet', 1, '{}');                         -- P0002: never declared
SELECT cyoda_wf.import_workflows('mdl_declared', 1, '{"workflows": []}') ->> 'model' AS declared;
SELECT cyoda_wf.add_item('mdl_declared', 1, '{"a": 1}') IS NOT NULL AS declared_saves;
SET cyoda_wf.require_model = off;
SELECT cyoda_wf.add_item('mdl_parnet', 1, '{}') IS NOT NULL AS off_saves;
SELECT cyoda_wf.add_item('mdl_price', 1, '{"price": {}}');              -- registered: still checked
SET cyoda_wf.require_model = on;
SELECT cyoda_wf.add_item('mdl_declared', 1, '{"a": 1}');                -- P0002: not registered
SELECT cyoda_wf.add_item('mdl_dbl', 1, '{"price": 2}') IS NOT NULL AS registered_saves;
SELECT count(*) FROM cyoda_wf.search('mdl_declared', 1, NULL);         -- P0002 under on
SELECT cyoda_wf.export_workflows('mdl_declared', 1);                    -- P0002 under on
SELECT cyoda_wf.import_workflows('mdl_declared', 1, '{"workflows": []}'); -- P0002 under on
SELECT cyoda_wf.export_workflows('mdl_dbl', 1) ->> 'entityName' AS registered_export;
SET cyoda_wf.require_model = bogus;
RESET cyoda_wf.require_model;

------------------------------------------------------------------------------
-- 11.4, last paragraph: search conditions on a registered model
------------------------------------------------------------------------------
SELECT count(*) AS over_one FROM cyoda_wf.search('mdl_dbl', 1,
  '{"type": "simple", "jsonPath": "$.price", "operatorType": "GREATER_THAN", "value": 1}');
SELECT count(*) FROM cyoda_wf.search('mdl_dbl', 1,
  '{"type": "simple", "jsonPath": "$.price", "operatorType": "EQUALS", "value": "abc"}');   -- 22023
SELECT count(*) FROM cyoda_wf.search('mdl_dbl', 1,
  '{"type": "simple", "jsonPath": "$.nope", "operatorType": "IS_NULL"}');                -- 22023
SELECT count(*) FROM cyoda_wf.search('mdl_price', 1,
  '{"type": "group", "operator": "AND", "conditions": [
     {"type": "simple", "jsonPath": "$.deep.a", "operatorType": "BETWEEN", "value": [1, 2]},
     {"type": "simple", "jsonPath": "$.tags", "operatorType": "CONTAINS", "value": 5},
     {"type": "simple", "jsonPath": "$.new", "operatorType": "NOT_NULL"},
     {"type": "lifecycle", "field": "state", "operatorType": "EQUALS", "value": "CREATED"}]}');
SELECT count(*) FROM cyoda_wf.search('mdl_price', 1,
  '{"type": "simple", "jsonPath": "$.deep.b", "operatorType": "EQUALS", "value": 1}');    -- 22023

-- patch_item on a LOCKED model: the merged data is checked strictly and never
-- extends the schema, whatever the change level (22023)
SELECT cyoda_wf.import_model('mpatch', 1, '{"price": 13, "name": "x"}') IS NOT NULL AS imported;
SELECT cyoda_wf.lock_model('mpatch', 1);
SELECT cyoda_wf.set_change_level('mpatch', 1, 'STRUCTURAL');
SELECT cyoda_wf.add_item('mpatch', 1, '{"price": 1}') AS mpatch_id \gset
SELECT cyoda_wf.patch_item(:'mpatch_id', '{"name": "y"}');
SELECT cyoda_wf.patch_item(:'mpatch_id', '{"extra": 1}');
SELECT cyoda_wf.patch_item(:'mpatch_id', '{"price": 13.5}');
SELECT cyoda_wf.get_item(:'mpatch_id');
SELECT cyoda_wf.export_model('mpatch', 1) -> 'model' -> '$' AS schema_unchanged;
