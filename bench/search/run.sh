#!/usr/bin/env bash
# bench/search/run.sh: cyoda_wf.search against the equivalent hand-written SQL.
#
# Starts a throwaway cluster (scripts/lib.sh; --build builds and installs
# the extension first), loads N entities of a model that runs
# the default workflow (1,000,000; 100,000 with --quick) with
# INSERT ... SELECT into cyoda_wf.entity, then runs pgbench on three query
# pairs, search first and hand-written first in alternate rounds:
#   equals  EQUALS on a string field   vs  data @> '{"customer": ...}'
#   range   BETWEEN_INCLUSIVE numbers  vs  (data ->> 'amount')::numeric BETWEEN
#   and     group AND of two EQUALS and a GREATER_OR_EQUAL
#           vs  data @> '{"status": ..., "customer": ...}' AND (...)::numeric >=
# Both sides run on the same indexes (entity_data_idx, the model btree).
# Writes bench/results/search.md (tps, latency, ratio, plans, machine).
#
# Usage: bench/search/run.sh [--quick] [--build] [--duration S] [--rounds R]
#                            [--clients C] [--rows N] [--out FILE]
#   --quick       100,000 entities, 10 s per pgbench run (default 1,000,000, 30 s)
#   --rounds R    rounds of all six runs (default 3)
#   --clients C   pgbench clients and threads (default nproc)
# Environment: CW_PG_CONFIG / PYTHON_SITE as for scripts/test.sh.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export CW_ROOT=$ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env

ROWS=1000000
MODE=full
BUILD=0
DURATION=30
ROUNDS=3
CLIENTS=$(nproc)
OUT=$ROOT/bench/results/search.md
while (($#)); do
    case $1 in
        --quick) ROWS=100000; MODE=quick; DURATION=10 ;;
        --build) BUILD=1 ;;
        --duration) DURATION=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --clients) CLIENTS=$2; shift ;;
        --rows) ROWS=$2; shift ;;
        --out) OUT=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

cw_bench_cluster "$BUILD" \
    "shared_buffers = '2GB'" "work_mem = '16MB'" "max_wal_size = '8GB'" \
    "autovacuum = off" "jit = off" || exit 1

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

psql_q -c "CREATE EXTENSION cyoda_wf CASCADE" 2>&1 | grep -v NOTICE
# the model is declared (cyoda_wf.require_model = known); no workflow of its own
psql_q -c "SELECT cyoda_wf.import_workflows('bench', 1, '{\"workflows\": []}')" >/dev/null || exit 1

# Data: customer c0..c9999 (ROWS / 10000 entities each), amount
# 0.00..999.99, status one of five (independent of the customer), n the
# sequence number.  Loaded in batches of 100k
# through the entity trigger, like any client insert.
cw_say "loading $ROWS entities"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
T0=$(date +%s)
for ((start = 1; start <= ROWS; start += 100000)); do
    stop=$((start + 99999 < ROWS ? start + 99999 : ROWS))
    psql_q -c "
        INSERT INTO cyoda_wf.entity (model, data)
        SELECT 'bench', jsonb_build_object(
                   'customer', 'c' || (i % 10000),
                   'amount', ((i::bigint * 7919) % 100000) / 100.0,
                   'status', (ARRAY['NEW', 'PAID', 'SHIPPED', 'DONE', 'VOID'])[1 + (i / 10000) % 5],
                   'n', i)
          FROM generate_series($start, $stop) i" || exit 1
    cw_say "  $stop rows"
done
psql_q -c "VACUUM ANALYZE cyoda_wf.entity" || exit 1
LOAD_S=$(($(date +%s) - T0))
cw_say "loaded in ${LOAD_S}s"

# The query pairs (pgbench scripts).
mkdir -p "$WORK/q"
cat >"$WORK/q/equals_search.sql" <<'EOF'
\set c random(0, 9999)
SELECT * FROM cyoda_wf.search('bench', 1, '{"type": "simple", "jsonPath": "$.customer", "operatorType": "EQUALS", "value": "c:c"}');
EOF
cat >"$WORK/q/equals_sql.sql" <<'EOF'
\set c random(0, 9999)
SELECT * FROM cyoda_wf.entity e WHERE e.model = 'bench' AND e.model_version = 1 AND e.data @> '{"customer": "c:c"}' ORDER BY e.created_at, e.id;
EOF
cat >"$WORK/q/range_search.sql" <<'EOF'
\set lo random(0, 998)
\set hi :lo + 1
SELECT * FROM cyoda_wf.search('bench', 1, '{"type": "simple", "jsonPath": "$.amount", "operatorType": "BETWEEN_INCLUSIVE", "value": [:lo, :hi]}');
EOF
cat >"$WORK/q/range_sql.sql" <<'EOF'
\set lo random(0, 998)
\set hi :lo + 1
SELECT * FROM cyoda_wf.entity e WHERE e.model = 'bench' AND e.model_version = 1 AND (e.data ->> 'amount')::numeric BETWEEN :lo AND :hi ORDER BY e.created_at, e.id;
EOF
cat >"$WORK/q/and_search.sql" <<'EOF'
\set c random(0, 9999)
SELECT * FROM cyoda_wf.search('bench', 1, '{"type": "group", "operator": "AND", "conditions": [{"type": "simple", "jsonPath": "$.status", "operatorType": "EQUALS", "value": "PAID"}, {"type": "simple", "jsonPath": "$.customer", "operatorType": "EQUALS", "value": "c:c"}, {"type": "simple", "jsonPath": "$.amount", "operatorType": "GREATER_OR_EQUAL", "value": 100}]}');
EOF
cat >"$WORK/q/and_sql.sql" <<'EOF'
\set c random(0, 9999)
SELECT * FROM cyoda_wf.entity e WHERE e.model = 'bench' AND e.model_version = 1 AND e.data @> '{"status": "PAID", "customer": "c:c"}' AND (e.data ->> 'amount')::numeric >= 100 ORDER BY e.created_at, e.id;
EOF
chmod -R a+rX "$WORK/q"

# Rows each query returns (one sample value), and the plans.
EXAMPLE_C=1234
EXAMPLE_LO=500
sample() { sed -e '/^\\set/d' -e "s/:c\b/$EXAMPLE_C/g" -e "s/:lo\b/$EXAMPLE_LO/g" \
               -e "s/:hi\b/$((EXAMPLE_LO + 1))/g" "$WORK/q/$1.sql"; }
declare -A NROWS
for q in equals range and; do
    for side in search sql; do
        NROWS[${q}_$side]=$(psql_q -At -c "SELECT count(*) FROM ($(sample ${q}_$side | sed 's/;$//')) x")
    done
done
plan_of() {
    local sql
    if [[ $2 == search ]]; then
        sql=$(sample "$1_search" | sed -E "s/^SELECT \* FROM cyoda_wf\.search\((.*)\);$/SELECT cyoda_wf.search_sql(\1)/")
        sql=$(psql_q -At -c "$sql")
    else
        sql=$(sample "$1_sql" | sed 's/;$//')
    fi
    psql_q -At -c "EXPLAIN (COSTS OFF) $sql" | sed -E 's/^(.{160}).*/\1.../'
}

# pgbench, alternating the two sides.
declare -A TPS LAT
run_one() {
    local name=$1 log=$WORK/$1.$2.log
    pgbench -n -M simple -c "$CLIENTS" -j "$CLIENTS" -T "$DURATION" -f "$WORK/q/$name.sql" \
        -d postgres >"$log" 2>&1 || { cat "$log"; exit 1; }
    TPS[$name]="${TPS[$name]:-} $(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$log")"
    LAT[$name]="${LAT[$name]:-} $(sed -nE 's/^latency average = ([0-9.]+) ms/\1/p' "$log")"
    cw_say "  $name: tps $(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$log")"
}
for ((r = 1; r <= ROUNDS; r++)); do
    cw_say "round $r of $ROUNDS"
    for q in equals range and; do
        if ((r % 2)); then
            run_one "${q}_search" "$r"; run_one "${q}_sql" "$r"
        else
            run_one "${q}_sql" "$r"; run_one "${q}_search" "$r"
        fi
    done
done

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# one decimal, two below 10 tps (a full scan of 1M entities runs < 1 tps)
mean() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf (s / NF < 10 ? "%.2f" : "%.1f"), s / NF }' <<<"$1"; }
mean2() { awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%.2f", s / NF }' <<<"$1"; }

CPU=$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n 1)
MEM=$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
PGV=$(psql_q -At -c "SHOW server_version")
SETTINGS=$(psql_q -At -F ' = ' -c "SELECT name, current_setting(name) FROM pg_settings
    WHERE name IN ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost',
                   'jit', 'max_parallel_workers_per_gather', 'fsync', 'synchronous_commit')
    ORDER BY name")
SIZE=$(psql_q -At -c "SELECT pg_size_pretty(pg_total_relation_size('cyoda_wf.entity'))")
GIN=$(psql_q -At -c "SELECT pg_size_pretty(pg_relation_size('cyoda_wf.entity_data_idx'))")

mkdir -p "$(dirname "$OUT")"
{
    echo "# Benchmark: cyoda_wf.search vs hand-written SQL"
    echo
    echo "Generated by \`bench/search/run.sh$([[ $MODE == quick ]] && echo ' --quick')\` on $(date -u +%Y-%m-%d)."
    echo "Mode **$MODE**: $ROWS entities of one model (default workflow, no processes),"
    echo "loaded through the entity trigger in ${LOAD_S}s; cyoda_wf.entity is $SIZE"
    echo "in total, entity_data_idx (GIN jsonb_path_ops) $GIN."
    echo
    echo "pgbench: \`-M simple -c $CLIENTS -j $CLIENTS -T $DURATION\`, $ROUNDS rounds, the search"
    echo "and the SQL side alternating which runs first; figures are the means of the rounds."
    echo "Each transaction runs one query with a random customer (\`:c\` in 0..9999) or"
    echo "amount window (\`:lo\` in 0..998, width 1)."
    echo
    echo "| query | rows (sample) | search tps | SQL tps | search / SQL | search latency ms | SQL latency ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for q in equals range and; do
        st=$(mean "${TPS[${q}_search]}")
        ht=$(mean "${TPS[${q}_sql]}")
        ratio=$(awk -v a="$st" -v b="$ht" 'BEGIN { printf "%.2f", a / b }')
        echo "| $q | ${NROWS[${q}_search]} / ${NROWS[${q}_sql]} | $st | $ht | $ratio | $(mean2 "${LAT[${q}_search]}") | $(mean2 "${LAT[${q}_sql]}") |"
    done
    echo
    echo "Per-round tps (search; SQL):"
    echo
    for q in equals range and; do
        echo "- $q:${TPS[${q}_search]};${TPS[${q}_sql]}"
    done
    echo
    echo "Notes:"
    echo
    echo "- search keeps one saved plan per condition shape (its generated query's text)"
    echo "  per session.  A shape whose generic plan reads the GIN index (equals, and) runs"
    echo "  that plan for every value: planned once per session, where the hand-written"
    echo "  SQL (\`-M simple\`) is planned at every call.  The other shapes (range) are"
    echo "  left to PostgreSQL's plan cache (custom plans, then the generic one when it"
    echo "  costs no more)."
    echo "- range reads every row on both sides, and both may use parallel workers:"
    echo "  search tests the condition with cyoda_wf_internal.matches_condition, the"
    echo "  criteria evaluator in C (parallel safe), where the hand-written query casts"
    echo "  the field to numeric.  search also reads numbers written as strings"
    echo "  (\"30.0\"), where the hand-written cast would fail."
    echo "- equals and and: the GIN index finds the candidates on both sides (search:"
    echo "  data @? jsonpath, which also finds an array field holding the value), and"
    echo "  search decides on each with one call of the same evaluator, where the"
    echo "  hand-written query rechecks its @> alone (it has no array case)."
    echo
    echo "## Queries"
    echo
    for q in equals range and; do
        echo "**$q**"
        echo
        echo '```sql'
        grep -v '^\\set' "$WORK/q/${q}_search.sql"
        grep -v '^\\set' "$WORK/q/${q}_sql.sql"
        echo '```'
        echo
    done
    echo "## Plans (sample values; search's from \`cyoda_wf.search_sql\`)"
    echo
    for q in equals range and; do
        for side in search sql; do
            echo "$q, $side:"
            echo
            echo '```'
            plan_of "$q" "$side"
            echo '```'
            echo
        done
    done
    echo "## Machine and settings"
    echo
    echo "- CPU: $CPU, $(nproc) logical CPUs"
    echo "- memory: $MEM"
    echo "- PostgreSQL $PGV; $(uname -sr)"
    echo "- load average (1, 5, 15 min) before loading: $LOAD_BEFORE; after the runs: $LOAD_AFTER"
    echo "  (a shared machine: other work ran meanwhile, hence the spread between rounds)"
    echo "- settings:"
    while IFS= read -r line; do echo "  - $line"; done <<<"$SETTINGS"
} >"$OUT"
cw_say "wrote $OUT"
