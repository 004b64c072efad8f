-- bench/sql/cache_measure.sql: import :nwf workflows, then in a fresh
-- session load every one into the definition cache (one entity per model,
-- rolled back) and report the memory of the cache's context subtree
-- ("cyoda_wf cache" and everything below it: "cyoda_wf model" contexts and
-- their hash tables).  Output: tab-separated lines.
\set ON_ERROR_STOP 1
\set QUIET 1
SET client_min_messages = warning;
SELECT count(cyoda_wf.import_workflows('mem' || i, 1, bench.small_body(i)))
  FROM generate_series(1, :nwf) AS i \gset
\c
SET client_min_messages = warning;
CREATE TEMP VIEW cw_mem AS
WITH c AS (
    SELECT n, name, level, total_bytes, used_bytes
      FROM pg_get_backend_memory_contexts() WITH ORDINALITY
           AS t(name, ident, parent, level, total_bytes, total_nblocks, free_bytes,
                free_chunks, used_bytes, n)),
root AS (SELECT n, level FROM c WHERE name = 'cyoda_wf cache'),
nxt AS (SELECT min(c.n) AS n FROM c, root WHERE c.n > root.n AND c.level <= root.level)
SELECT c.* FROM c, root
 WHERE c.n >= root.n AND c.n < COALESCE((SELECT n FROM nxt), 9223372036854775807);
CREATE TEMP TABLE before_total AS
  SELECT sum(total_bytes) AS b FROM pg_backend_memory_contexts;
BEGIN;
INSERT INTO cyoda_wf.entity (model, data)
SELECT 'mem' || g, '{"amount": 1}' FROM generate_series(1, :nwf) AS g;
ROLLBACK;
SELECT 'workflows', :nwf;
SELECT 'context', name, count(*), sum(total_bytes), sum(used_bytes)
  FROM cw_mem GROUP BY name ORDER BY name;
SELECT 'total', count(*), sum(total_bytes), sum(used_bytes) FROM cw_mem;
SELECT 'backend_growth', sum(total_bytes) - (SELECT b FROM before_total)
  FROM pg_backend_memory_contexts;
