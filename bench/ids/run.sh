#!/usr/bin/env bash
# bench/ids/run.sh: what time-ordered entity ids (cyoda_wf.new_id, UUID
# version 7 layout) save against random ones (gen_random_uuid) as the
# number of stored entities grows.
#
# Starts a throwaway cluster (scripts/lib.sh; --build builds and installs the
# extension first) and makes one database per id default and stored count:
# v7_<n> keeps the new_id default of cyoda_wf.entity.id, rnd_<n> has
#   ALTER TABLE cyoda_wf.entity ALTER COLUMN id SET DEFAULT gen_random_uuid()
# and both are loaded with n entities (1,000 and 100,000; --large adds
# 1,000,000) by INSERT ... SELECT through the entity trigger, each with a
# version row and its audit rows.  Then, round by round, the databases
# alternating (v7 first in odd rounds, rnd first in even ones), one psql
# session per measurement runs T transactions of
#   fire     SELECT cyoda_wf.fire(id, 'toggle') on a random stored entity
#   add_item BEGIN; SELECT cyoda_wf.add_item(...); ROLLBACK   (the stored
#            count stays n; the index entries are made all the same)
# and reads the backend's own CPU time (user + system, /proc/self/stat)
# before and after.  The report gives the median CPU per transaction over
# the rounds, the ratio rnd / v7 and the primary key's size as loaded.  Writes bench/results/ids.md.
#
# Usage: bench/ids/run.sh [--build] [--large] [--transactions T] [--rounds R] [--out FILE]
#   --transactions T   transactions per measurement (default 3000)
#   --rounds R         rounds (default 5)
# Environment: CW_PG_CONFIG / PYTHON_SITE as for scripts/test.sh.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export CW_ROOT=$ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env

BUILD=0
TX=3000
ROUNDS=5
SIZES=(1000 100000)
OUT=$ROOT/bench/results/ids.md
while (($#)); do
    case $1 in
        --build) BUILD=1 ;;
        --large) SIZES+=(1000000) ;;
        --transactions) TX=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --out) OUT=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

cw_bench_cluster "$BUILD" "cyoda_wf.workers = 0" "jit = off" "autovacuum = off" \
    "shared_buffers = '2GB'" "max_wal_size = '8GB'" || exit 1
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$@"; }
T0=$SECONDS
for n in "${SIZES[@]}"; do
    for v in v7 rnd; do
        db=${v}_$n
        q postgres -c "CREATE DATABASE $db" || exit 1
        q "$db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION cyoda_wf CASCADE" >/dev/null || exit 1
        [[ $v == rnd ]] && { q "$db" -c "ALTER TABLE cyoda_wf.entity ALTER COLUMN id SET DEFAULT gen_random_uuid()" || exit 1; }
        q "$db" >/dev/null <<'SQL' || exit 1
SELECT cyoda_wf.import_workflows('bench', 1, '{"workflows": [{"name": "toggle", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "toggle", "next": "b", "manual": true}]},
             "b": {"transitions": [{"name": "toggle", "next": "a", "manual": true}]}}}]}');
SQL
        for ((start = 1; start <= n; start += 100000)); do
            stop=$((start + 99999 < n ? start + 99999 : n))
            q "$db" -c "INSERT INTO cyoda_wf.entity (model, model_version, data)
                        SELECT 'bench', 1, jsonb_build_object('n', g, 'pad', repeat('x', 100))
                          FROM generate_series($start, $stop) g" || exit 1
        done
        q "$db" -c "CREATE TABLE ids AS SELECT row_number() OVER ()::int AS n, id FROM cyoda_wf.entity" \
            -c "ALTER TABLE ids ADD PRIMARY KEY (n)" -c "VACUUM ANALYZE" || exit 1
        cw_say "$db loaded ($((SECONDS - T0)) s)"
    done
done
q postgres -c "CHECKPOINT"
# the primary key's size as loaded (the rolled-back creates below add to it)
for n in "${SIZES[@]}"; do
    for v in v7 rnd; do
        q ${v}_$n -c "SELECT pg_size_pretty(pg_relation_size('cyoda_wf.entity_pkey'))" >"$WORK/pk.$v.$n" || exit 1
    done
done

# The session's own CPU time in clock ticks, and the transactions.
CPU="SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint FROM pg_read_file('/proc/self/stat') s"
for n in "${SIZES[@]}"; do
    awk -v t="$TX" -v n="$n" 'BEGIN {srand(7); for (i = 0; i < t; i++)
        printf "SELECT cyoda_wf.fire(id, %ctoggle%c) FROM ids WHERE n = %d;\n", 39, 39, 1 + int(rand() * n)}' >"$WORK/fire_$n.sql"
done
awk -v t="$TX" 'BEGIN {for (i = 0; i < t; i++)
    printf "BEGIN;\nSELECT cyoda_wf.add_item(%cbench%c, 1, %c{\"n\": %d, \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}%c);\nROLLBACK;\n", 39, 39, 39, i, 39}' >"$WORK/add_item.sql"

# measure CALL DB N: microseconds of backend CPU per transaction
TICK_US=$((1000000 / $(getconf CLK_TCK)))
measure() {
    local call=$1 db=$2 n=$3 file
    file=$WORK/$call.sql
    [[ $call == fire ]] && file=$WORK/fire_$n.sql
    # a warm-up of 300 statements (whole transactions) in the same session, then the measured ones
    {
        head -n 300 "$file"
        echo "\\o $WORK/cpu0"
        echo "$CPU;"
        echo "\\o /dev/null"
        cat "$file"
        echo "\\o $WORK/cpu1"
        echo "$CPU;"
    } | q "$db" >/dev/null || exit 1
    echo $((($(cat "$WORK/cpu1") - $(cat "$WORK/cpu0")) * TICK_US / TX))
}
for ((r = 1; r <= ROUNDS; r++)); do
    for n in "${SIZES[@]}"; do
        for call in fire add_item; do
            if ((r % 2)); then order=(v7 rnd); else order=(rnd v7); fi
            for v in "${order[@]}"; do
                echo "$(measure $call ${v}_$n "$n")" >>"$WORK/res.$call.$v.$n"
            done
        done
    done
    cw_say "round $r done"
done

median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
{
    echo "# Time-ordered against random entity ids (bench/ids/run.sh)"
    echo
    echo "Backend CPU per transaction (user + system, µs; median of $ROUNDS rounds of $TX transactions"
    echo "each after a warm-up of 300 statements, one session per measurement, databases alternating). \`v7\`:"
    echo "the \`new_id()\` default of \`cyoda_wf.entity.id\`; \`random\`: \`gen_random_uuid()\`. \`fire\`: the manual"
    echo "transition \`toggle\` on a random stored entity; \`add_item\`: one create rolled back."
    echo "PostgreSQL $(q postgres -c 'SHOW server_version'), shared_buffers 2GB, autovacuum off."
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load average before: $LOAD_BEFORE."
    echo
    echo "| call | stored entities | v7 (µs) | random (µs) | random / v7 | primary key size v7 / random |"
    echo "|---|---:|---:|---:|---:|---|"
    for call in fire add_item; do
        for n in "${SIZES[@]}"; do
            a=$(median "$WORK/res.$call.v7.$n")
            b=$(median "$WORK/res.$call.rnd.$n")
            pk="$(cat "$WORK/pk.v7.$n") / $(cat "$WORK/pk.rnd.$n")"
            echo "| $call | $n | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.2f", b / a}') | $pk |"
        done
    done
} >"$OUT"
cat "$OUT"
