-- bench/sql/00_common.sql: extensions, helpers and the process functions that
-- cyoda_wf, the hand-written SQL and the PL/pgSQL engine all call.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
CREATE EXTENSION IF NOT EXISTS plpython3u;
CREATE EXTENSION IF NOT EXISTS jsonb_plpython3u;
CREATE SCHEMA IF NOT EXISTS bench;

-- The data of benchmark entity n (same for every variant).  The helpers are
-- declared with their true volatility (jsonb_build_object is STABLE) so that
-- the planner inlines them: a SQL function that is not inlined is parsed and
-- planned again on every statement.
CREATE OR REPLACE FUNCTION bench.data(n bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('n', n, 'customer', 'c-' || n::text, 'amount', 100 + n % 1000,
                            'country', 'NL', 'priority', 2, 'tags', jsonb_build_array('a', 'b'))
$$;

-- Deterministic, randomly spread ids of the entities that fire and loopback
-- pick from (n = 1..N), so that pgbench can address them without a lookup.
CREATE OR REPLACE FUNCTION bench.tid(n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$ SELECT md5('t' || n::text)::uuid $$;
CREATE OR REPLACE FUNCTION bench.lid(n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$ SELECT md5('l' || n::text)::uuid $$;
CREATE OR REPLACE FUNCTION bench.kid(k int, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE AS $$ SELECT md5('k' || k::text || '-' || n::text)::uuid $$;

-- The processes: one in SQL, one in PL/Python, doing the same small change.
CREATE OR REPLACE FUNCTION public.bench_sql_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$
  SELECT data || jsonb_build_object('steps', COALESCE((data->>'steps')::int, 0) + 1,
                                    'last_step', meta->>'transition')
$$;

CREATE OR REPLACE FUNCTION public.bench_py_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpython3u TRANSFORM FOR TYPE jsonb AS $$
data['steps'] = data.get('steps', 0) + 1
data['last_step'] = meta['transition']
return data
$$;
