#!/usr/bin/env bash
# bench/concurrency/run.sh: throughput of create + cascade and of fire with
# 1, 2, 4 and 8 clients, cyoda_wf with its NOTIFY on and off, beside the
# hand-written SQL without and with a NOTIFY of the same payload.
#
# Starts a throwaway cluster (scripts/lib.sh; --build builds and installs the
# extension first) with bench/run.sh's settings, loads the benchmark
# database (bench/sql) and runs, per scenario and client count, R rounds of
# the four variants, alternating their order round by round:
#   cw     bench/pgbench/<scenario>.cw.sql (cyoda_wf.notify = on, the default)
#   cwoff  the same with cyoda_wf.notify = off
#   hw     bench/pgbench/<scenario>.hw.sql (no NOTIFY)
#   hwn    bench/pgbench/<scenario>.hwn.sql (pg_notify, the same payload)
# Each run is `pgbench -M prepared -c N -j N -T S`; the backends' CPU time is
# read from /proc over the middle of the run, and a sampler backend records
# every 10 ms what each pgbench backend waits for (pg_stat_activity:
# wait_event while a statement runs, "CPU" when it waits for nothing,
# "idle (client)" between statements).  Nobody
# LISTENs, as in a deployment without listeners.  Writes
# bench/results/concurrency.md (medians over the rounds).
#
# Usage: bench/concurrency/run.sh [--build] [--seconds S] [--rounds R] [--clients "1 2 4 8"] [--out FILE]
# Environment: CW_PG_CONFIG / PYTHON_SITE as for scripts/test.sh.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH=$(cd "$HERE/.." && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
export CW_ROOT=$ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env

BUILD=0
SECS=5
ROUNDS=3
CLIENTS=(1 2 4 8)
OUT=$ROOT/bench/results/concurrency.md
while (($#)); do
    case $1 in
        --build) BUILD=1 ;;
        --seconds) SECS=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --clients) read -r -a CLIENTS <<<"$2"; shift ;;
        --out) OUT=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
((SECS >= 3)) || { echo "--seconds must be at least 3" >&2; exit 2; }

cw_bench_cluster "$BUILD" "shared_buffers = '2GB'" "fsync = on" "synchronous_commit = off" \
    "max_wal_size = '16GB'" "checkpoint_timeout = '1h'" "jit = off" "autovacuum = off" \
    "log_min_messages = warning" "cyoda_wf.workers = 0" "max_connections = 50" || exit 1
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RAW=$WORK/raw
mkdir -p "$RAW"

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$@"; }
q postgres -c "CREATE DATABASE bench" || exit 1
for f in 00_common.sql 10_workflows.sql 20_handwritten.sql 30_plpgsql_engine.sql 40_seed.sql; do
    q bench -v nseed=10000 -f "$BENCH/sql/$f" >"$RAW/setup-$f.log" 2>&1 || { cat "$RAW/setup-$f.log"; exit 1; }
done
q postgres -c "CREATE UNLOGGED TABLE waits (run text, wait text)" || exit 1
cw_say "database bench loaded"

cpu_ticks() {
    local p line f sum=0
    for p in "$@"; do
        read -r line <"/proc/$p/stat" 2>/dev/null || { echo -1; return; }
        line=${line##*) }
        read -r -a f <<<"$line"
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# one_run SCENARIO VARIANT CLIENTS ROUND: appends to $RAW/runs.tsv
one_run() {
    local s=$1 v=$2 c=$3 r=$4 id=$1.$2.$3.$4 script opts="" pid spid bp="" i c0 c1 t0 t1 t_start n tps cpu
    script=$BENCH/pgbench/$s.${v/cwoff/cw}.sql
    [[ $v == cwoff ]] && opts="-c cyoda_wf.notify=off"
    q bench -c "SELECT count(pg_catalog.gin_clean_pending_list(c.oid)) FROM pg_catalog.pg_class c
                JOIN pg_catalog.pg_am a ON a.oid = c.relam WHERE a.amname = 'gin' AND c.relkind = 'i'" >/dev/null
    mkdir -p "$RAW/log.$id"
    # the previous run's backends gone, so that only this run's are measured
    for ((i = 0; i < 100; i++)); do
        [[ $(q postgres -c "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bench'
                            AND application_name = 'pgbench'") == 0 ]] && break
        sleep 0.05
    done
    t_start=$(date +%s%N)
    PGOPTIONS=$opts pgbench -n -M prepared -c "$c" -j "$c" -T "$SECS" -D nseed=10000 -D rollback=0 \
        --log --log-prefix="$RAW/log.$id/l" -f "$script" bench >"$RAW/out.$id" 2>&1 &
    pid=$!
    for ((i = 0; i < 60; i++)); do
        bp=$(q postgres -c "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
                            WHERE datname = 'bench' AND application_name = 'pgbench'")
        (($(wc -w <<<"$bp") >= c)) && break
        sleep 0.05
    done
    q postgres -c "DO \$\$ BEGIN FOR i IN 1 .. $(((SECS - 1) * 100 - 60)) LOOP
          PERFORM pg_stat_clear_snapshot();
          INSERT INTO waits SELECT '$id', CASE WHEN state <> 'active' THEN 'idle (client)'
                                             ELSE COALESCE(wait_event_type || ':' || wait_event, 'CPU') END
            FROM pg_stat_activity WHERE datname = 'bench' AND application_name = 'pgbench';
          PERFORM pg_sleep(0.01);
        END LOOP; END \$\$" 2>>"$RAW/sampler.err" &
    spid=$!
    # the CPU window: from 0.5 s after the start (connections made) to
    # 0.3 s before the end, timed from the start (other load slows this script)
    i=$(((t_start + 500000000 - $(date +%s%N)) / 1000000))
    ((i > 0)) && sleep "$(printf '0.%03d' "$i")"
    t0=$(date +%s%N)
    c0=$(cpu_ticks $bp)
    i=$(((t_start + SECS * 1000000000 - 300000000 - $(date +%s%N)) / 1000000))
    ((i > 0)) && sleep "$(printf '%d.%03d' $((i / 1000)) $((i % 1000)))"
    c1=$(cpu_ticks $bp)
    t1=$(date +%s%N)
    wait "$pid"
    wait "$spid"
    tps=$(grep -oE 'tps = [0-9.]+' "$RAW/out.$id" | head -n1 | cut -d' ' -f3)
    n=$(cat "$RAW/log.$id"/l* | awk -v a=$((t0 / 1000)) -v b=$((t1 / 1000)) \
        '{t = $5 * 1000000 + $6; if (t >= a && t < b) n++} END {print n + 0}')
    grep -q aborted "$RAW/out.$id" && { cw_say "run $id failed:"; tail -n 5 "$RAW/out.$id"; }
    # no CPU figure when the window was too short or a backend had gone
    cpu=-1
    ((t1 - t0 > 1000000000 && n > 0 && c0 >= 0 && c1 >= c0)) && cpu=$(((c1 - c0) * TICK_US / n))
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$s" "$v" "$c" "$r" "${tps:-0}" "$cpu" >>"$RAW/runs.tsv"
    rm -rf "$RAW/log.$id"
}

VARIANTS=(cw cwoff hw hwn)
for s in cascade fire; do
    for c in "${CLIENTS[@]}"; do
        q bench -c "VACUUM ANALYZE" && q bench -c "CHECKPOINT"
        for v in "${VARIANTS[@]}"; do   # warm-up
            PGOPTIONS= pgbench -n -M prepared -c "$c" -j "$c" -T 1 -D nseed=10000 -D rollback=0 \
                -f "$BENCH/pgbench/$s.${v/cwoff/cw}.sql" bench >/dev/null 2>&1
        done
        line="$s, $c client(s):"
        for ((r = 0; r < ROUNDS; r++)); do
            for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
                v=${VARIANTS[(r + k) % ${#VARIANTS[@]}]}
                one_run "$s" "$v" "$c" "$r"
                line+=" $v=$(tail -n1 "$RAW/runs.tsv" | cut -f5 | cut -d. -f1)"
            done
        done
        cw_say "$line"
    done
done
q postgres -F $'\t' -c "SELECT run, wait, count(*) FROM waits GROUP BY 1, 2" >"$RAW/waits.tsv" || exit 1

python3 - "$RAW" "$OUT" "$SECS" "$ROUNDS" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$(q postgres -c 'SHOW server_version')" <<'PY'
import collections, statistics, sys
raw, out, secs, rounds, load0, load1, ver = sys.argv[1:]
runs = collections.defaultdict(list)
for line in open(raw + '/runs.tsv'):
    s, v, c, r, tps, cpu = line.split('\t')
    runs[(s, v, int(c))].append((float(tps), int(cpu)))
waits = collections.defaultdict(collections.Counter)
for line in open(raw + '/waits.tsv'):
    run, wait, n = line.rstrip('\n').split('\t')
    s, v, c, r = run.split('.')
    waits[(s, v, int(c))][wait] += int(n)
med = lambda xs: statistics.median(xs)
names = {'cascade': 'create + 5-step cascade (one entity per transaction)',
         'fire': 'manual fire on one of 10,000 existing entities'}
L = ['# Concurrency: cyoda_wf with and without NOTIFY, beside hand-written SQL', '',
     'Made by `bench/concurrency/run.sh`: `pgbench -M prepared -c N -j N`, %s s per run, %s rounds with the'
     % (secs, rounds),
     'variants alternating; medians. PostgreSQL %s, synchronous_commit off, nobody LISTENing.' % ver,
     'Machine: the benchmark clients, the server and other work share its CPUs; load average %s at start,'
     % load0, '%s at the end. *CPU* is backend CPU per transaction (µs, from /proc over the middle of'
     % load1, 'each run). *waits* is what the pgbench backends were doing, sampled every 10 ms',
     '(`CPU`: running; `idle (client)`: between statements, waiting for pgbench; `Lock:object`',
     'includes the database-wide lock every notifying transaction takes at commit;',
     '`LWLock:NotifyQueue` the notification queue).', '',
     'Variants: **cw** cyoda_wf (`cyoda_wf.notify = on`, the default), **cwoff** the same with',
     '`cyoda_wf.notify = off`, **hw** hand-written SQL (no NOTIFY), **hwn** hand-written SQL with',
     '`pg_notify` of the same payload.', '']
for s in ('cascade', 'fire'):
    clients = sorted({c for (ss, v, c) in runs if ss == s})
    L += ['## %s' % names[s], '',
          '| clients | cw tps | cwoff tps | hw tps | hwn tps | cw/hwn | cwoff/hw | cw CPU | cwoff CPU | hw CPU | hwn CPU |',
          '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for c in clients:
        t = {v: med([x[0] for x in runs[(s, v, c)]]) for v in ('cw', 'cwoff', 'hw', 'hwn')}
        u = {v: med([x[1] for x in runs[(s, v, c)] if x[1] >= 0] or [float('nan')])
             for v in ('cw', 'cwoff', 'hw', 'hwn')}
        L.append('| %d | %s | %s | %s | %s | %.2fx | %.2fx | %s | %s | %s | %s |' % (
            c, *['{:,.0f}'.format(t[v]) for v in ('cw', 'cwoff', 'hw', 'hwn')],
            t['cw'] / t['hwn'], t['cwoff'] / t['hw'],
            *['n/a' if u[v] != u[v] else '{:,.0f}'.format(u[v]) for v in ('cw', 'cwoff', 'hw', 'hwn')]))
    L += ['', 'Waits (share of all samples; running, then the three largest others):', '',
          '| clients | ' + ' | '.join(('cw', 'cwoff', 'hw', 'hwn')) + ' |', '|---:|---|---|---|---|']
    for c in clients:
        cells = []
        for v in ('cw', 'cwoff', 'hw', 'hwn'):
            w = waits[(s, v, c)]
            tot = sum(w.values()) or 1
            top = [(k, n) for k, n in w.most_common() if k != 'CPU'][:3]
            cells.append('CPU %.0f%%; ' % (100 * w['CPU'] / tot) +
                         ', '.join('%s %.0f%%' % (k, 100 * n / tot) for k, n in top))
        L.append('| %d | %s |' % (c, ' | '.join(cells)))
    L.append('')
open(out, 'w').write('\n'.join(L))
print('\n'.join(L))
PY
