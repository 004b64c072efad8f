-- bench/sql/cache.sql: :nwf small models for the definition cache's memory
-- (database "cache"): model mem<i>, one workflow of 3 states and 3
-- transitions, one of them with a criterion.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE OR REPLACE FUNCTION bench.small_body(i int) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT jsonb_build_object('importMode', 'REPLACE', 'workflows', jsonb_build_array(
    jsonb_build_object('name', 'wf' || i, 'initialState', 'new', 'states', jsonb_build_object(
      'new', jsonb_build_object('transitions', jsonb_build_array(
               jsonb_build_object('name', 'submit', 'next', 'review'))),
      'review', jsonb_build_object('transitions', jsonb_build_array(
               jsonb_build_object('name', 'approve', 'next', 'done', 'manual', true, 'criterion',
                 jsonb_build_object('type', 'simple', 'jsonPath', '$.amount',
                                    'operatorType', 'GREATER_THAN', 'value', 10)),
               jsonb_build_object('name', 'reject', 'next', 'new', 'manual', true))),
      'done', jsonb_build_object('transitions', '[]'::jsonb)))))
$$;
