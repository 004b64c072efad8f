SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
RESET client_min_messages;
-- search: sort keys, paging; stats_by.  Ids end in the creation order.
\set SHOW_CONTEXT never

-- declared, so saves run the default workflow
SELECT count(*) AS declared FROM (SELECT cyoda_wf.import_workflows(m, 1, '{"workflows": []}')
  FROM unnest(ARRAY['srt', 'srt_plan']) AS m) d \gset
INSERT INTO cyoda_wf.entity (id, model, data)
SELECT ('00000000-0000-0000-0007-0000000000' || lpad(i::text, 2, '0'))::uuid, 'srt', d
  FROM (VALUES (1, '{"name": "pear",   "price": 30,    "color": "green", "c": {"n": 2}}'::jsonb),
               (2, '{"name": "apple",  "price": 4.5,   "color": "red",   "c": {"n": 1}}'),
               (3, '{"name": "Zucchini", "price": null, "color": "green"}'),
               (4, '{"name": "fig",    "price": 100,   "color": "green", "c": {"n": 2}}'),
               (5, '{"name": "kiwi",   "color": "brown"}'),
               (6, '{"name": "lime",   "price": "7",   "color": "green", "c": {"n": 1}}'),
               (7, '{"name": "date",   "price": 4.5,   "color": {"r": 1}}'),
               (8, '{"name": "apple",  "price": true}')) AS t(i, d)
 ORDER BY i;
-- created_at is a clock time per row: the ids are in creation order
SELECT count(DISTINCT created_at) = 8 AS distinct_times FROM cyoda_wf.entity WHERE model = 'srt';

CREATE FUNCTION pg_temp.ids(sort text[], page_size int DEFAULT NULL, page_number int DEFAULT 0,
                            cond jsonb DEFAULT NULL)
RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(right(id::text, 2), ' ' ORDER BY ord), '')
    FROM cyoda_wf.search('srt', 1, cond, NULL, sort, page_size, page_number)
         WITH ORDINALITY AS s(id, model, model_version, state, data, created_at, updated_at,
                              version, last_transition, workflow, parent_id, source,
                              transaction_id, ord)
$$;

-- No sort: created_at, id.  Numbers numerically, then strings, then
-- booleans; missing and JSON null last in either direction; ties (4.5) by
-- creation.
SELECT pg_temp.ids(NULL) AS no_sort;
SELECT pg_temp.ids('{}') AS empty_sort;
SELECT pg_temp.ids('{price}') AS price_asc, pg_temp.ids('{price:asc}') AS price_asc2,
       pg_temp.ids('{price:desc}') AS price_desc, pg_temp.ids('{$.price:DESC}') AS price_desc2;
-- strings byte-wise: "Zucchini" before "apple"
SELECT pg_temp.ids('{name}') AS name_asc, pg_temp.ids('{name:desc}') AS name_desc;
-- several keys in precedence order; a nested path
SELECT pg_temp.ids('{name,price:desc}') AS name_then_price,
       pg_temp.ids('{c.n:desc,name}') AS nested;
SELECT pg_temp.ids('{color,name:desc}') AS color_then_name;
-- lifecycle keys
SELECT pg_temp.ids('{@creationDate:desc}') AS created_desc,
       pg_temp.ids('{@lastUpdateTime}') AS updated_asc,
       pg_temp.ids('{@id:desc}') AS id_desc,
       pg_temp.ids('{@state,@id:desc}') AS state_then_id;
SELECT cyoda_wf.update_item('00000000-0000-0000-0007-000000000002', '{"name": "apple", "price": 5}') AS saved;
SELECT pg_temp.ids('{@lastUpdateTime:desc}') AS updated_desc;
-- with a condition
SELECT pg_temp.ids('{price:desc}', cond => '{"type": "simple", "jsonPath": "$.color", "operatorType": "EQUALS", "value": "green"}') AS green_by_price;

-- Paging: page_size rows from page_number * page_size on
SELECT pg_temp.ids('{name}', 3, 0) AS p0, pg_temp.ids('{name}', 3, 1) AS p1,
       pg_temp.ids('{name}', 3, 2) AS p2, pg_temp.ids('{name}', 3, 3) AS p3;
SELECT pg_temp.ids(NULL, 0) AS size_0, pg_temp.ids(NULL, 100, 0) AS size_100,
       pg_temp.ids(NULL, NULL, 5) AS number_without_size;

-- Bad keys and paging: 22023
\set VERBOSITY sqlstate
SELECT pg_temp.ids('{price:up}');
SELECT pg_temp.ids('{@color}');
SELECT pg_temp.ids('{""}');
SELECT pg_temp.ids('{:desc}');
SELECT pg_temp.ids('{a..b}');
SELECT pg_temp.ids('{"tags[*]"}');
SELECT pg_temp.ids(ARRAY['name', NULL]);
SELECT pg_temp.ids(array_fill('name'::text, ARRAY[11]));
SELECT pg_temp.ids(NULL, -1);
SELECT pg_temp.ids(NULL, 10, -1);
\set VERBOSITY default
SELECT pg_temp.ids(array_fill('name'::text, ARRAY[10])) AS ten_keys;
SELECT pg_temp.ids('{price:sideways}');
SELECT pg_temp.ids(ARRAY['name', 'name', 'a..b']);

-- point_in_time: the versions in effect, sorted and paged the same way
SELECT clock_timestamp() AS t_then \gset
SELECT cyoda_wf.update_item('00000000-0000-0000-0007-000000000001', '{"name": "aaa pear", "price": 1}') AS saved;
SELECT string_agg(right(id::text, 2) || '=' || (data ->> 'name'), ' ') AS then_by_name
  FROM cyoda_wf.search('srt', 1, NULL, :'t_then', '{name}', 4);
SELECT string_agg(right(id::text, 2) || '=' || (data ->> 'name'), ' ') AS now_by_name
  FROM cyoda_wf.search('srt', 1, NULL, NULL, '{name}', 4);

-- Sorting keeps the condition's index: EQUALS still goes through the GIN
-- index (and the btree on model, model_version).
INSERT INTO cyoda_wf.entity (model, data)
SELECT 'srt_plan', jsonb_build_object('k', 'v' || i, 'n', i) FROM generate_series(1, 1000) i;
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
SELECT DISTINCT btrim(replace(line, '->', '')) ~ '^(Bitmap Index Scan on entity_data_idx|Sort|Limit)$' AS expected_node,
       btrim(replace(line, '->', '')) AS plan_line
  FROM pg_temp.plan_of(cyoda_wf.search_sql('srt_plan', 1,
         '{"type": "simple", "jsonPath": "$.k", "operatorType": "EQUALS", "value": "v42"}',
         NULL, '{n:desc,@state}', 10, 0)) AS line
 WHERE line ~ 'entity_data_idx|Sort|Limit' AND line !~ 'Sort Key';
RESET enable_seqscan;
SELECT data FROM cyoda_wf.search('srt_plan', 1,
    '{"type": "simple", "jsonPath": "$.n", "operatorType": "LESS_THAN", "value": 4}', NULL, '{n:desc}');

-- stats_by: counts by the value at a data path, SQL NULL where absent,
-- most frequent first, then by value
SELECT * FROM cyoda_wf.stats_by('srt', 1, '$.color');
SELECT * FROM cyoda_wf.stats_by('srt', 1, 'c.n');
SELECT * FROM cyoda_wf.stats_by('srt', 1, '$.color',
    '{"type": "simple", "jsonPath": "$.price", "operatorType": "GREATER_THAN", "value": 5}');
SELECT * FROM cyoda_wf.stats_by('srt', 1, '$.price');
SELECT count(*) AS rows FROM cyoda_wf.stats_by('no_such_model', 1, '$.color');
\set VERBOSITY sqlstate
SELECT * FROM cyoda_wf.stats_by('srt', 1, '$.tags[*]');
SELECT * FROM cyoda_wf.stats_by('srt', 1, NULL);
SELECT * FROM cyoda_wf.stats_by('srt', 1, '$.color', '{"type": "function", "function": {"name": "f"}}');
\set VERBOSITY default
SELECT * FROM cyoda_wf.stats_by('srt', 1, '$..color');
