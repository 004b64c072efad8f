#!/usr/bin/env bash
# test/scripts/memory.sh: memory and resource bounds of the engine.
#
# 1. In ONE session, 20000 saves (CW_MEM_SAVES): creates whose cascade runs
#    SQL processes and criteria (a group with a regex and a function
#    criterion), named fires, if_match, loopback updates, deletes, and saves
#    that fail (loop limit 54000, unavailable transition 55000, missing
#    function 42883, process error), with a workflow re-import every 2000
#    saves.  Then, in the same session, 500 re-imports each followed by a
#    save (every re-import drops and recompiles the model).  The backend's
#    memory is sampled after 1000 saves, after the 20000 and after the
#    re-imports: the TopMemoryContext tree (pg_backend_memory_contexts), the
#    engine's 'cyoda_wf cache' subtree, and the backend's anonymous memory
#    (/proc/PID/smaps_rollup "Anonymous:", which also sees memory contexts
#    that hang from no parent).  Fails when, from the first sample on, the
#    context tree grows by more than 2 MB, the cache by more than 256 kB or
#    anonymous memory by more than 8 MB (CW_MEM_MAX_GROWTH_KB,
#    CW_MEM_MAX_CACHE_GROWTH_KB, CW_MEM_MAX_ANON_GROWTH_KB).
# 2. Big payloads: a 50 MB data document saves, cascades through a process
#    and reads back (or fails with a clean error, never a crash); a data
#    document nested 100 deep works, with a criterion that reaches the
#    bottom; 10000-deep data is stored.
# Runs in a cluster of its own; the server must not restart.
set -uo pipefail
REPO=${CW_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=/dev/null
source "${CW_LIB:-$REPO/scripts/lib.sh}"
cw_pg_paths || exit 1

SAVES=${CW_MEM_SAVES:-20000}
MAX_GROWTH_KB=${CW_MEM_MAX_GROWTH_KB:-2048}
MAX_CACHE_GROWTH_KB=${CW_MEM_MAX_CACHE_GROWTH_KB:-256}
MAX_ANON_GROWTH_KB=${CW_MEM_MAX_ANON_GROWTH_KB:-8192}

fail() { echo "MEMORY FAILED: $*"; exit 1; }

if [[ -n ${CW_TMP:-} ]]; then WORK=$CW_TMP; else cw_mktemp || exit 1; WORK=$CW_MKTEMP; fi
CL=$WORK/c
PORT=$(cw_free_port) || fail "no free port"
cw_start_cluster "$CL" "$PORT" || fail "could not start a cluster"
DB=cw_memory
psql -X -q -d postgres -c "CREATE DATABASE $DB TEMPLATE template0" || fail "createdb"
START=$(psql -X -At -d postgres -c "SELECT pg_postmaster_start_time()")

psql -X -q -v ON_ERROR_STOP=1 -d "$DB" >/dev/null <<'SQL' || fail "setup"
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
CREATE FUNCTION public.mem_step(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT data || jsonb_build_object('n', coalesce((data->>'n')::int, 0) + 1, 'by', meta->>'transition') $$;
CREATE FUNCTION public.mem_check(meta jsonb, data jsonb) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN RETURN (data->>'n')::int >= 0; END $$;
CREATE FUNCTION public.mem_fail(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS
  $$ BEGIN RAISE EXCEPTION 'process failed on purpose' USING ERRCODE = 'P0001'; END $$;
CREATE FUNCTION public.mem_workflow(v int) RETURNS jsonb LANGUAGE sql AS $$
SELECT jsonb_build_object('importMode', 'REPLACE', 'allowCycles', true, 'workflows', jsonb_build_array(jsonb_build_object(
  'name', 'mem', 'initialState', 'new', 'states', jsonb_build_object(
    'new', jsonb_build_object('transitions', jsonb_build_array(
       jsonb_build_object('name', 'start', 'next', 'checked', 'processors',
          jsonb_build_array(jsonb_build_object('name', 'mem_step', 'config', jsonb_build_object('context', 'v' || v)))))),
    'checked', jsonb_build_object('transitions', jsonb_build_array(
       jsonb_build_object('name', 'auto', 'next', 'open',
          'criterion', '{"type": "group", "operator": "AND", "conditions": [
                          {"type": "simple", "jsonPath": "$.n", "operatorType": "GREATER_THAN", "value": 0},
                          {"type": "simple", "jsonPath": "$.tags[*]", "operatorType": "ICONTAINS", "value": "A"},
                          {"type": "simple", "jsonPath": "$.name", "operatorType": "MATCHES_PATTERN", "value": "item-[0-9]+"},
                          {"type": "function", "function": {"name": "mem_check"}}]}'::jsonb,
          'processors', '[{"name": "mem_step"}]'::jsonb))),
    'open', jsonb_build_object('transitions', jsonb_build_array(
       jsonb_build_object('name', 'touch', 'next', 'open', 'manual', true, 'processors', '[{"name": "mem_step"}]'::jsonb),
       jsonb_build_object('name', 'spin', 'next', 'spin_a', 'manual', true),
       jsonb_build_object('name', 'missing', 'next', 'open', 'manual', true, 'processors', '[{"name": "mem_nowhere"}]'::jsonb),
       jsonb_build_object('name', 'boom', 'next', 'open', 'manual', true, 'processors', '[{"name": "mem_fail"}]'::jsonb),
       jsonb_build_object('name', 'flag', 'next', 'flagged',
          'criterion', '{"type": "simple", "jsonPath": "$.flag", "operatorType": "EQUALS", "value": true}'::jsonb))),
    'spin_a', jsonb_build_object('transitions', '[{"name": "to_b", "next": "spin_b"}]'::jsonb),
    'spin_b', jsonb_build_object('transitions', '[{"name": "to_a", "next": "spin_a"}]'::jsonb),
    'flagged', jsonb_build_object('transitions', '[{"name": "unflag", "next": "open", "manual": true, "processors": [{"name": "mem_step"}]}]'::jsonb)))))
$$;
SELECT cyoda_wf.import_workflows('mem', 1, public.mem_workflow(0));

-- 10 saves per call: create (+cascade), 3 fires (one with if_match), 2 loopbacks, 4 failing saves
CREATE FUNCTION public.mem_round(i int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  eid uuid;
BEGIN
  eid := cyoda_wf.add_item('mem', 1, jsonb_build_object('name', 'item-' || i, 'tags', jsonb_build_array('x', 'a', i),
                                                      'payload', repeat('p', 200 + i % 500)));
  PERFORM cyoda_wf.fire(eid, 'touch');
  UPDATE cyoda_wf.entity e SET data = e.data || '{"flag": true}' WHERE e.id = eid;
  UPDATE cyoda_wf.entity e SET data = e.data - 'flag' WHERE e.id = eid;
  PERFORM cyoda_wf.fire(eid, 'unflag');
  PERFORM cyoda_wf.update_item(eid, NULL, 'touch', 5);
  BEGIN PERFORM cyoda_wf.fire(eid, 'spin');    EXCEPTION WHEN program_limit_exceeded THEN NULL; END;
  BEGIN PERFORM cyoda_wf.fire(eid, 'nope');    EXCEPTION WHEN object_not_in_prerequisite_state THEN NULL; END;
  BEGIN PERFORM cyoda_wf.fire(eid, 'missing'); EXCEPTION WHEN undefined_function THEN NULL; END;
  BEGIN PERFORM cyoda_wf.fire(eid, 'boom');    EXCEPTION WHEN raise_exception THEN NULL; END;
  IF i % 4 = 0 THEN
    PERFORM cyoda_wf.delete_item(eid);
  END IF;
END $$;

CREATE TABLE public.mem_sample (saves int, top_bytes bigint, cache_bytes bigint, anon_kb bigint);
CREATE FUNCTION public.mem_sample(saves int, anon_kb bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.mem_sample
  SELECT saves, sum(total_bytes),
         sum(total_bytes) FILTER (WHERE name IN ('cyoda_wf cache', 'cyoda_wf model', 'cyoda_wf models',
                                                 'cyoda_wf state index')
                                  OR parent IN ('cyoda_wf cache', 'cyoda_wf model')),
         anon_kb
    FROM pg_backend_memory_contexts
$$;
SQL

# The session: rounds of 10 saves, one statement (transaction) each.
ROUNDS=$((SAVES / 10))
{
    echo "\\set ON_ERROR_STOP 1"
    echo "SET client_min_messages = warning;"
    echo "SELECT pg_backend_pid() AS pid \\gset"
    echo "\\o /dev/null"
    for ((i = 1; i <= ROUNDS; i++)); do
        echo "SELECT public.mem_round($i);"
        if ((i % 200 == 0)); then   # a re-import every 2000 saves
            echo "SELECT cyoda_wf.import_workflows('mem', 1, public.mem_workflow($i));"
        fi
        if ((i == 100 || i == ROUNDS)); then
            echo "\\set anon \`awk '/^Anonymous:/ {s += \$2} END {print s + 0}' /proc/:pid/smaps_rollup 2>/dev/null || echo 0\`"
            echo "SELECT public.mem_sample($((i * 10)), :anon);"
        fi
    done
    for ((i = 1; i <= 500; i++)); do
        echo "SELECT cyoda_wf.import_workflows('mem', 1, public.mem_workflow(100000 + $i));"
        echo "SELECT cyoda_wf.add_item('mem', 1, '{\"name\": \"item-$i\", \"tags\": [\"a\"]}');"
    done
    echo "\\set anon \`awk '/^Anonymous:/ {s += \$2} END {print s + 0}' /proc/:pid/smaps_rollup 2>/dev/null || echo 0\`"
    echo "SELECT public.mem_sample($((SAVES + 500)), :anon);"
    echo "\\o"
} >"$WORK/session.sql"

t0=$(date +%s)
cw_run psql -X -q -d "$DB" -f "$WORK/session.sql" >"$WORK/session.out" 2>&1 || {
    tail -n 20 "$WORK/session.out"
    fail "the session failed"
}
echo "memory: $SAVES saves and 500 re-imports in one session in $(($(date +%s) - t0)) s"
psql -X -d "$DB" -c "SELECT saves, pg_size_pretty(top_bytes) AS contexts, pg_size_pretty(cache_bytes) AS cyoda_wf_cache,
                            pg_size_pretty(anon_kb * 1024) AS anonymous_memory FROM public.mem_sample ORDER BY saves"
read -r GROWTH CACHE_GROWTH ANON_GROWTH < <(psql -X -At -F ' ' -d "$DB" -c "
    SELECT (max(top_bytes) FILTER (WHERE saves > 1000) - max(top_bytes) FILTER (WHERE saves = 1000)) / 1024,
           (max(cache_bytes) FILTER (WHERE saves > 1000) - max(cache_bytes) FILTER (WHERE saves = 1000)) / 1024,
           max(anon_kb) FILTER (WHERE saves > 1000) - max(anon_kb) FILTER (WHERE saves = 1000)
      FROM public.mem_sample")
echo "memory: growth after the first 1000 saves: contexts ${GROWTH} kB, cyoda_wf cache ${CACHE_GROWTH} kB, anonymous ${ANON_GROWTH} kB"
BAD=0
((GROWTH <= MAX_GROWTH_KB)) || { echo "!! memory contexts grew by ${GROWTH} kB (limit ${MAX_GROWTH_KB} kB)"; BAD=1; }
((CACHE_GROWTH <= MAX_CACHE_GROWTH_KB)) || { echo "!! the cyoda_wf cache grew by ${CACHE_GROWTH} kB (limit ${MAX_CACHE_GROWTH_KB} kB)"; BAD=1; }
if [[ $(psql -X -At -d "$DB" -c "SELECT min(anon_kb) FROM public.mem_sample") == 0 ]]; then
    echo "memory: /proc/PID/smaps_rollup is not readable here: anonymous memory not checked"
else
    ((ANON_GROWTH <= MAX_ANON_GROWTH_KB)) || { echo "!! anonymous memory grew by ${ANON_GROWTH} kB (limit ${MAX_ANON_GROWTH_KB} kB)"; BAD=1; }
fi

# --- big payloads ------------------------------------------------------------
cat >"$WORK/big.sql" <<'SQL'
\set VERBOSITY terse
-- 50 MB of data: saved, cascaded through a process, versioned, read back
SELECT cyoda_wf.add_item('mem', 1, jsonb_build_object('name', 'item-1', 'tags', '["a"]'::jsonb,
                                                      'blob', repeat('x', 50 * 1024 * 1024))) AS big_id \gset
SELECT 'big_state', state, version, length(data->>'blob'), data->>'n' FROM cyoda_wf.entity WHERE id = :'big_id';
SELECT 'big_fire', cyoda_wf.fire(:'big_id', 'touch');
SELECT 'big_get', length(cyoda_wf.get_item(:'big_id')->>'blob');
SELECT 'big_versions', count(*), sum(length(data->>'blob')) FROM cyoda_wf.entity_version WHERE entity_id = :'big_id';
-- a 25 MB condition operand against 50 MB of data
SELECT 'big_condition', cyoda_wf.check_condition(jsonb_build_object('jsonPath', '$.a', 'operatorType', 'CONTAINS',
                                                 'value', repeat('y', 25 * 1024 * 1024)),
                                                 jsonb_build_object('a', repeat('x', 25 * 1024 * 1024) || repeat('y', 25 * 1024 * 1024)));
-- data nested 100 deep, with a criterion that reaches the bottom
SELECT 'deep_condition', cyoda_wf.check_condition(
         jsonb_build_object('jsonPath', '$' || repeat('.d', 100), 'operatorType', 'EQUALS', 'value', 1),
         (SELECT string_agg('{"d": ', '') || '1' || repeat('}', 100) FROM generate_series(1, 100))::jsonb);
SELECT cyoda_wf.add_item('mem', 1, (SELECT '{"name": "item-2", "tags": ["A"], "deep": ' ||
         string_agg('{"d": ', '') || '1' || repeat('}', 100) || '}' FROM generate_series(1, 100))::jsonb) AS deep_id \gset
SELECT 'deep_state', state, jsonb_path_query_first(data, ('$.deep' || repeat('.d', 100))::jsonpath)
  FROM cyoda_wf.entity WHERE id = :'deep_id';
-- 10000 deep: stored as data (the engine does not walk it)
SELECT 'deeper_create', cyoda_wf.add_item('mem', 1, (SELECT '{"name": "item-3", "tags": ["A"], "deep": ' ||
         repeat('[', 10000) || '1' || repeat(']', 10000) || '}')::jsonb) IS NOT NULL;
SQL
t0=$(date +%s)
cw_run psql -X -q -At -v ON_ERROR_STOP=0 -d "$DB" -f "$WORK/big.sql" >"$WORK/big.out" 2>&1
echo "memory: big payload checks in $(($(date +%s) - t0)) s"
cat "$WORK/big.out"
expect() {
    grep -qE "$1" "$WORK/big.out" || { echo "!! big payloads: expected a line matching: $1"; BAD=1; }
}
expect '^big_state\|open\|1\|52428800\|2$'
expect '^big_fire\|open$'
expect '^big_get\|52428800$'
expect '^big_versions\|2\|104857600$'
expect '^big_condition\|t$'
expect '^deep_condition\|t$'
expect '^deep_state\|open\|1$'
expect '^deeper_create\|t$'
if grep -qE 'ERROR' "$WORK/big.out"; then
    echo "!! big payloads: an error (must be none):"
    grep -E 'ERROR' "$WORK/big.out"
    BAD=1
fi

NOW=$(psql -X -At -d postgres -c "SELECT pg_postmaster_start_time()") || NOW=down
[[ $NOW == "$START" ]] || { echo "!! the server restarted ($START -> $NOW)"; BAD=1; }
if grep -qE 'terminated by signal|PANIC:|TRAP:|out of memory' "$CL/log"; then
    echo "!! the server log shows a crash or out of memory:"
    grep -E 'terminated by signal|PANIC:|TRAP:|out of memory|Failed process' "$CL/log" | head -n 10
    BAD=1
fi
((BAD == 0)) || fail "see above"
echo "memory: ok"
