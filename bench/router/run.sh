#!/usr/bin/env bash
# bench/router/run.sh: the per-call cost of the router (cyoda_wf_router)
# against a direct call on the shard.
#
# Starts a throwaway cluster (scripts/lib.sh; --build builds and installs the
# extension first) holding two shard databases (s0, s1) and a router
# database whose cluster reaches them over TCP on loopback.  Loads N
# entities (2,000) through the router, with a workflow whose manual
# transition "toggle" goes between two states.  Then pgbench, one client,
# on the same ids of shard 0, directly on s0 and through the router, the two
# alternating round by round:
#   get_item  SELECT cyoda_wf.get_item(id)
#   fire      SELECT cyoda_wf.fire(id, 'toggle')
# and, to tell PL/Proxy's own hop from the router's layers, get_item as a
# bare PL/Proxy call (cyoda_wf.shard_call of remote_call, no call_shard or
# shard_for) from the router database.
# The router backend's own CPU per call (from /proc) for both, alternating.
# Latencies come from pgbench's per-transaction log (-l); the report gives
# p50 and p90 per call and the router's overhead (router p50 - direct p50).
# Then throughput: pgbench with 1, 2, 4 and 8 clients (as many threads),
# D seconds per run, get_item and fire on the same ids, directly on s0 and
# through the router alternating; the report gives the median tps of the
# rounds and the ratio router / direct.
# Writes bench/results/router.md.
#
# Usage: bench/router/run.sh [--build] [--transactions T] [--rounds R] [--duration D] [--out FILE]
#   --transactions T   pgbench transactions per latency run (default 5000)
#   --rounds R         rounds of the latency runs and of the throughput runs (default 3)
#   --duration D       seconds per throughput run (default 5)
# Environment: CW_PG_CONFIG / PYTHON_SITE as for scripts/test.sh.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export CW_ROOT=$ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env

BUILD=0
TX=5000
ROUNDS=3
DURATION=5
CLIENTS=(1 2 4 8)
ROWS=2000
OUT=$ROOT/bench/results/router.md
while (($#)); do
    case $1 in
        --build) BUILD=1 ;;
        --transactions) TX=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --duration) DURATION=$2; shift ;;
        --out) OUT=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

cw_bench_cluster "$BUILD" "cyoda_wf.workers = 0" "jit = off" || exit 1

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$@"; }
for k in 0 1; do
    q postgres -c "CREATE DATABASE s$k"
    q "s$k" -c "SET client_min_messages = warning" -c "CREATE EXTENSION cyoda_wf CASCADE" \
        -c "SELECT cyoda_wf.set_shard($k)" >/dev/null || exit 1
done
q postgres -c "CREATE DATABASE router"
q router -c "SET client_min_messages = warning" -c "CREATE EXTENSION cyoda_wf_router CASCADE" \
    -c "SELECT cyoda_wf.configure_shards(ARRAY['host=127.0.0.1 port=$PORT dbname=s0',
                                               'host=127.0.0.1 port=$PORT dbname=s1'])" >/dev/null || exit 1
q router >/dev/null <<'SQL' || exit 1
SELECT cyoda_wf.import_workflows('bench', 1, '{"workflows": [{"name": "toggle", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "toggle", "next": "b", "manual": true}]},
             "b": {"transitions": [{"name": "toggle", "next": "a", "manual": true}]}}}]}');
SQL
cw_say "loading $ROWS entities through the router"
q router -c "CREATE TABLE ids AS SELECT cyoda_wf.add_item('bench', 1, jsonb_build_object('n', g, 'pad', repeat('x', 200))) AS id
             FROM generate_series(1, $ROWS) g" || exit 1
# the ids of shard 0, numbered, in both databases
q router -c "CREATE TABLE ids0 AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM ids WHERE cyoda_wf.shard_of(id) = 0"
N0=$(q router -c "SELECT count(*) FROM ids0")
q s0 -c "CREATE TABLE ids0 (n int PRIMARY KEY, id uuid)"
q router -c "COPY ids0 TO STDOUT" | q s0 -c "COPY ids0 FROM STDIN"
q router -c "ALTER TABLE ids0 ADD PRIMARY KEY (n)"
q s0 -c "VACUUM ANALYZE" && q router -c "VACUUM ANALYZE"

# the bare call must succeed (its errors come back as data, which pgbench would not see)
[[ $(q router -c "SELECT count(*) FROM ids0, cyoda_wf.shard_call(0, 'cyoda_wf.get_item(uuid,timestamptz,bigint)',
                    ARRAY[id::text, NULL, NULL], false) c WHERE n = 1 AND c.sqlstate IS NULL") == 1 ]] ||
    { echo "the bare PL/Proxy call of get_item fails"; exit 1; }

cat >"$WORK/get_item.sql" <<SQL
\set i random(1, $N0)
SELECT cyoda_wf.get_item(id) FROM ids0 WHERE n = :i;
SQL
cat >"$WORK/bare.sql" <<SQL
\set i random(1, $N0)
SELECT cyoda_wf.shard_call(0, 'cyoda_wf.get_item(uuid,timestamptz,bigint)', ARRAY[id::text, NULL, NULL], false)
  FROM ids0 WHERE n = :i;
SQL
cat >"$WORK/fire.sql" <<SQL
\set i random(1, $N0)
SELECT cyoda_wf.fire(id, 'toggle') FROM ids0 WHERE n = :i;
SQL

# run CALL DB ROUND: one pgbench run; its per-transaction log in $WORK/log.CALL.DB.ROUND
run() {
    local call=$1 db=$2 r=$3 dir=$WORK/pgb.$1.$2.$3
    mkdir -p "$dir"
    (cd "$dir" && pgbench -n -c 1 -j 1 -t "$TX" -l -f "$WORK/$call.sql" "$db" >"$dir/out" 2>&1) ||
        { cat "$dir/out"; exit 1; }
    cat "$dir"/pgbench_log.* >"$WORK/log.$call.$db.$r"
}
for ((r = 1; r <= ROUNDS; r++)); do
    for call in get_item fire; do
        if ((r % 2)); then run $call s0 $r; run $call router $r; else run $call router $r; run $call s0 $r; fi
    done
    run bare router $r
    cw_say "round $r done"
done

# The router backend's own CPU per call (from /proc, which other load on the
# machine disturbs much less than latency): get_item through the router
# against the bare PL/Proxy call, each over every id of shard 0 in one
# statement, alternating, ROUNDS x 3 statements each.
cat >"$WORK/cpu.sql" <<SQL
CREATE FUNCTION pg_temp.cpu() RETURNS bigint LANGUAGE sql AS
  \$\$ SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint
       FROM pg_read_file('/proc/' || pg_backend_pid() || '/stat') s \$\$;
CREATE TEMP TABLE cpu (call text, ticks bigint);
SELECT count(cyoda_wf.get_item(id)) FROM ids0;
SQL
for ((r = 1; r <= ROUNDS * 3; r++)); do
    cat >>"$WORK/cpu.sql" <<SQL
SELECT pg_temp.cpu() AS t0 \gset
SELECT count(cyoda_wf.get_item(id)) FROM ids0;
INSERT INTO cpu SELECT 'get_item', pg_temp.cpu() - :t0;
SELECT pg_temp.cpu() AS t0 \gset
SELECT count(cyoda_wf.shard_call(0, 'cyoda_wf.get_item(uuid,timestamptz,bigint)', ARRAY[id::text, NULL, NULL], false)) FROM ids0;
INSERT INTO cpu SELECT 'bare', pg_temp.cpu() - :t0;
SQL
done
echo "SELECT call, round(sum(ticks) * 1000000.0 / $(getconf CLK_TCK) / ($N0 * count(*)), 1) FROM cpu GROUP BY call ORDER BY call;" >>"$WORK/cpu.sql"
CPU_OUT=$(q router -f "$WORK/cpu.sql" | grep '|') || { echo "CPU run failed"; exit 1; }
CPU_ROUTED=$(awk -F'|' '$1 == "get_item" {print $2}' <<<"$CPU_OUT")
CPU_BARE=$(awk -F'|' '$1 == "bare" {print $2}' <<<"$CPU_OUT")
cw_say "router backend CPU per call: get_item $CPU_ROUTED us, bare $CPU_BARE us"

# tput CALL DB C ROUND: one pgbench run of DURATION s with C clients; its tps in $WORK/tps.CALL.DB.C
tput() {
    local call=$1 db=$2 c=$3 out
    out=$(pgbench -n -c "$c" -j "$c" -T "$DURATION" -f "$WORK/$call.sql" "$db" 2>&1) || { echo "$out"; exit 1; }
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" >>"$WORK/tps.$call.$db.$c"
}
LOAD_TPUT=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 1; r <= ROUNDS; r++)); do
    for c in "${CLIENTS[@]}"; do
        for call in get_item fire; do
            if ((r % 2)); then tput $call s0 "$c"; tput $call router "$c"; else tput $call router "$c"; tput $call s0 "$c"; fi
        done
    done
    cw_say "throughput round $r done"
done
median() { sort -n "$1" | awk '{a[NR] = $1} END {printf "%.0f", a[int((NR + 1) / 2)]}'; }

# pct FILES P: the P-th percentile of the latency (column 3, microseconds) in ms
pct() {
    local p=$1
    shift
    cat "$@" | awk '{print $3}' | sort -n | awk -v p="$p" '{a[NR] = $1} END {i = int(NR * p / 100); if (i < 1) i = 1; printf "%.3f", a[i] / 1000}'
}
{
    echo "# Router overhead (bench/router/run.sh)"
    echo
    echo "One pgbench client, $TX transactions per run, $ROUNDS rounds, on $N0 entities of shard 0"
    echo "($ROWS loaded through the router over 2 shards); shard and router databases in one"
    echo "PostgreSQL $(q postgres -c 'SHOW server_version'), the router reaching the shards over TCP on loopback."
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo),"
    echo "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'); load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| call | direct p50 (ms) | router p50 (ms) | overhead p50 (ms) | direct p90 (ms) | router p90 (ms) |"
    echo "|---|---|---|---|---|---|"
    for call in get_item fire; do
        d50=$(pct 50 "$WORK"/log.$call.s0.*)
        r50=$(pct 50 "$WORK"/log.$call.router.*)
        d90=$(pct 90 "$WORK"/log.$call.s0.*)
        r90=$(pct 90 "$WORK"/log.$call.router.*)
        echo "| $call | $d50 | $r50 | $(awk -v a="$r50" -v b="$d50" 'BEGIN {printf "%.3f", a - b}') | $d90 | $r90 |"
        if [[ $call == get_item ]]; then
            b50=$(pct 50 "$WORK"/log.bare.router.*)
            b90=$(pct 90 "$WORK"/log.bare.router.*)
            echo "| get_item, bare PL/Proxy call | $d50 | $b50 | $(awk -v a="$b50" -v b="$d50" 'BEGIN {printf "%.3f", a - b}') | $d90 | $b90 |"
        fi
    done
    echo
    echo "The router backend's own CPU per call (utime + stime from /proc, over $((ROUNDS * 3)) statements"
    echo "of $N0 calls each, alternating): get_item through the router $CPU_ROUTED µs, the bare PL/Proxy"
    echo "call $CPU_BARE µs: the router's layers (call_shard in C, shard_for, the argument array)"
    echo "cost $(awk -v a="$CPU_ROUTED" -v b="$CPU_BARE" 'BEGIN {printf "%.1f", a - b}') µs of CPU per call."
    echo
    echo "## Throughput"
    echo
    echo "pgbench with C clients (C threads), $DURATION s per run, median tps of $ROUNDS rounds, direct"
    echo "and router runs alternating, on the same $N0 ids of shard 0; load average before: $LOAD_TPUT."
    echo "The router, its backends and shard 0's backends share the $(nproc) cores with pgbench."
    echo
    echo "| call | clients | direct tps | router tps | router / direct |"
    echo "|---|---:|---:|---:|---:|"
    for call in get_item fire; do
        for c in "${CLIENTS[@]}"; do
            d=$(median "$WORK/tps.$call.s0.$c")
            r=$(median "$WORK/tps.$call.router.$c")
            echo "| $call | $c | $d | $r | $(awk -v a="$r" -v b="$d" 'BEGIN {printf "%.2f", a / b}') |"
        done
    done
} >"$OUT"
cat "$OUT"
