#!/usr/bin/env bash
# bench/async/run.sh: async throughput, CPU per task and pickup latency of
# cyoda_wf's workers, each beside a hand-written plpgsql worker doing the same
# writes per task (the fair baseline, q.work in setup.sql) and, for scale, a
# minimal FOR UPDATE SKIP LOCKED queue doing no entity work (bare), measured
# in the same invocation on the same throwaway cluster, alternating.
#
#   bench/async/run.sh [--quick] [--build] [--rounds N] [--items N]
#                      [--latency-items N] [--rate N] [--out DIR]
#                      [--open-transaction]
#
#   --quick          one small round (< 2 minutes in all)
#   --build          build and install the extension first (scripts/lib.sh)
#   --rounds N       rounds (default 3; quick 1); the median is reported
#   --items N        items per throughput run (default 30000; quick 10000)
#   --latency-items N  items per latency run (default 3000; quick 1000)
#   --rate N         latency producer rate, items/s (default 200)
#   --out DIR        where async.md and async.json go (default bench/results)
#   --open-transaction  another session keeps a REPEATABLE READ transaction
#                    open during the throughput runs (a long report, pg_dump):
#                    nothing the runs finish can be pruned meanwhile
#
# Throughput: N items are queued while nothing consumes them, then consumers
# start: one session (CALL cyoda_wf.run_tasks(N) / one q.work call), or
# n = 1, 2, 4 consumers (cyoda_wf.start_workers(n) / n sessions each running
# q.work in one CALL); tasks/s = N / (last finish - first process start); CPU
# per task = CPU time of the consuming backends / N.
# Latency: 2 consumers idle, a producer commits one item at a time at
# --rate/s; latency = process start - clock_timestamp() in the INSERT.
# Environment: CW_PG_CONFIG (see scripts/lib.sh).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export CW_ROOT=$ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env

MODE=full ROUNDS='' ITEMS='' LAT_ITEMS='' RATE=200 BUILD=0 OUT=$ROOT/bench/results OPEN_TX=off
WORKER_COUNTS=(0 1 2 4)   # 0: one session (run_tasks / one q.work call)
LAT_WORKERS=2
while (($#)); do
    case $1 in
        --quick) MODE=quick ;;
        --build) BUILD=1 ;;
        --rounds) ROUNDS=$2; shift ;;
        --items) ITEMS=$2; shift ;;
        --latency-items) LAT_ITEMS=$2; shift ;;
        --rate) RATE=$2; shift ;;
        --out) OUT=$2; shift ;;
        --open-transaction) OPEN_TX=on ;;
        -h | --help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [[ $MODE == quick ]]; then
    ROUNDS=${ROUNDS:-1} ITEMS=${ITEMS:-10000} LAT_ITEMS=${LAT_ITEMS:-1000}
else
    ROUNDS=${ROUNDS:-3} ITEMS=${ITEMS:-30000} LAT_ITEMS=${LAT_ITEMS:-3000}
fi
DB=bench
T0=$SECONDS
STARTED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

cw_pg_paths
if ((BUILD)); then cw_build_install "$ROOT"; fi

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
# wait_for WHAT MAX_S SQL: poll until SQL returns t.
wait_for() {
    local end=$((SECONDS + $2))
    until [[ $(q "$3") == t ]]; do
        ((SECONDS < end)) || { echo "timed out after $2 s waiting for $1" >&2; exit 1; }
        sleep 0.05
    done
}

cw_mktemp
DIR=$CW_MKTEMP/c
PORT=$(cw_free_port)
# Workers are started dynamically per run; no static ones.
cw_start_cluster "$DIR" "$PORT" \
    "shared_preload_libraries = 'pg_cron,cyoda_wf'" \
    "cyoda_wf.workers = 0" \
    "max_worker_processes = 24" \
    "shared_buffers = '256MB'" \
    "max_wal_size = '4GB'" \
    "log_min_messages = warning"
echo "== bench cluster: $DIR port $PORT ($MODE: $ROUNDS round(s), $ITEMS items, latency $LAT_ITEMS at ${RATE}/s)"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$HERE/setup.sql" >/dev/null

stop_cw_workers() {
    q "SELECT cyoda_wf.stop_workers()" >/dev/null
    wait_for "cyoda_wf workers to stop" 30 \
        "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'cyoda_wf worker'"
}

# Start n baseline consumers in the background; their pids go to CONSUMERS.
CONSUMERS=()
start_consumers() {   # n exit_when_empty procedure
    local n=$1 exit_when_empty=$2 proc=$3 i
    CONSUMERS=()
    for ((i = 0; i < n; i++)); do
        psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" \
            -c "CALL $proc($exit_when_empty, clock_timestamp() + interval '10 minutes')" &
        CONSUMERS+=("$!")
        CW_CHILDREN+=("$!")
    done
}
wait_consumers() {
    local p
    for p in "${CONSUMERS[@]}"; do
        wait "$p"
        cw_forget_child "$p"
    done
    CONSUMERS=()
}

tput_cw() {   # round workers (0: one session calling run_tasks)
    q "CALL q.reset()"
    q "INSERT INTO cyoda_wf.entity (model, data)
       SELECT 'bench_async', jsonb_build_object('i', g) FROM generate_series(1, $ITEMS) g" >/dev/null
    q "ANALYZE cyoda_wf.task; ANALYZE cyoda_wf.entity"
    if (($2 == 0)); then
        # one new session, as a q.work consumer is
        psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "CALL cyoda_wf.run_tasks($ITEMS)" \
            -c "CALL q.note_cpu()"
    else
        q "SELECT cyoda_wf.start_workers($2)" >/dev/null
        # wait, asking one session (a new connection every 50 ms would take
        # CPU from the workers, which the baseline's sessions do not pay;
        # one open transaction would keep finished tasks from being pruned)
        # for the tasks the running workers have recorded as run, not by
        # querying the task table, whose front pages the workers write (the
        # baseline's sessions have no observer)
        coproc POLL { psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB"; }
        local ans end=$((SECONDS + 600))
        while :; do
            echo "SELECT coalesce(sum(w.tasks_done), 0) >= $ITEMS FROM cyoda_wf.worker w
                   WHERE w.database = current_database()
                     AND EXISTS (SELECT 1 FROM pg_stat_get_activity(w.pid));" >&"${POLL[1]}"
            read -r ans <&"${POLL[0]}" || { echo "polling session ended" >&2; exit 1; }
            [[ $ans == t ]] && break
            ((SECONDS < end)) || { echo "timed out waiting for cyoda_wf tasks" >&2; exit 1; }
            sleep 0.05
        done
        eval "exec ${POLL[1]}>&-"
        wait "$POLL_PID" 2>/dev/null
        q "CALL q.note_cpu('cyoda_wf worker')"
        stop_cw_workers
    fi
    q "CALL q.record_throughput($1, 'cyoda_wf', $2)"
}

tput_bl() {   # round workers (0: one session)
    q "CALL q.reset()"
    q "CALL q.enqueue($ITEMS)"
    q "ANALYZE q.task; ANALYZE q.entity"
    start_consumers "$(($2 > 0 ? $2 : 1))" true q.work
    wait_consumers
    q "CALL q.record_throughput($1, 'baseline', $2)"
}

tput_bare() {   # round workers (0: one session)
    q "CALL q.reset()"
    q "INSERT INTO q.job (payload) SELECT jsonb_build_object('i', g) FROM generate_series(1, $ITEMS) g"
    q "ANALYZE q.job"
    start_consumers "$(($2 > 0 ? $2 : 1))" true q.consume
    wait_consumers
    q "CALL q.record_throughput($1, 'bare', $2)"
}

lat_cw() {   # round workers
    q "CALL q.reset()"
    q "SELECT cyoda_wf.start_workers($2)" >/dev/null
    # commit wakes only registered workers: wait until they are
    wait_for "cyoda_wf workers to register" 30 \
        "SELECT count(*) = $2 FROM cyoda_wf.worker_status() WHERE database = current_database()"
    q "CALL q.produce_cw($LAT_ITEMS, $RATE)"
    wait_for "cyoda_wf tasks" 120 \
        "SELECT NOT EXISTS (SELECT 1 FROM cyoda_wf.task WHERE state = 'pending')"
    stop_cw_workers
    q "CALL q.record_latency($1, 'cyoda_wf', $2)"
}

lat_bl() {   # round workers
    q "CALL q.reset()"
    start_consumers "$2" false q.work
    sleep 0.5
    q "CALL q.produce_fair($LAT_ITEMS, $RATE)"
    wait_for "baseline tasks" 120 "SELECT NOT EXISTS (SELECT 1 FROM q.task WHERE state = 'pending')"
    q "UPDATE q.ctl SET stop = true"
    wait_consumers
    q "CALL q.record_latency($1, 'baseline', $2)"
}

show() {   # round system test workers
    q "SELECT string_agg(metric || '=' || round(value::numeric, 2), ' ' ORDER BY metric)
         FROM q.result WHERE round = $1 AND system = '$2' AND test = '$3' AND workers = $4
          AND metric IN ('items_per_s', 'cpu_us_per_item', 'p50_ms', 'p99_ms', 'seconds')"
}

for ((r = 1; r <= ROUNDS; r++)); do
    # odd rounds: cyoda_wf first; even rounds: baseline first
    if ((r % 2)); then order=(cw bl); else order=(bl cw); fi
    if [[ $OPEN_TX == on ]]; then
        rm -f "$CW_MKTEMP/hold" && mkfifo "$CW_MKTEMP/hold"
        psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" <"$CW_MKTEMP/hold" >/dev/null &
        HOLD_PID=$!
        CW_CHILDREN+=("$HOLD_PID")
        exec {HOLD_FD}>"$CW_MKTEMP/hold"
        echo "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM q.ctl;" >&"$HOLD_FD"
        wait_for "the open transaction" 30 "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
            WHERE state = 'idle in transaction' AND backend_xmin IS NOT NULL)"
    fi
    for n in "${WORKER_COUNTS[@]}"; do
        for s in "${order[@]}" bare; do
            "tput_$s" "$r" "$n"
            sys=$(case $s in cw) echo cyoda_wf ;; bl) echo baseline ;; *) echo bare ;; esac)
            printf 'round %d throughput %-8s workers=%d  %s\n' "$r" "$sys" "$n" "$(show "$r" "$sys" throughput "$n")"
        done
    done
    if [[ $OPEN_TX == on ]]; then
        echo "COMMIT;" >&"$HOLD_FD"
        exec {HOLD_FD}>&-
        wait "$HOLD_PID" 2>/dev/null || true
        cw_forget_child "$HOLD_PID"
    fi
    for s in "${order[@]}"; do
        "lat_$s" "$r" "$LAT_WORKERS"
        sys=$([[ $s == cw ]] && echo cyoda_wf || echo baseline)
        printf 'round %d latency    %-8s workers=%d  %s\n' "$r" "$sys" "$LAT_WORKERS" "$(show "$r" "$sys" latency "$LAT_WORKERS")"
    done
done

# Machine and build facts for the report.
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
MEM=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
GIT=(git -c safe.directory="$ROOT" -C "$ROOT")
COMMIT=$("${GIT[@]}" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $COMMIT != unknown ]] && [[ -n $("${GIT[@]}" status --porcelain -- src sql 2>/dev/null) ]]; then
    COMMIT="$COMMIT+local changes"
fi
mkdir -p "$OUT"
workers_json="[$(IFS=,; echo "${WORKER_COUNTS[*]}")]"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" \
    -v json_file="$OUT/async.json" -v md_file="$OUT/async.md" -v mode="$MODE" -v open_tx="$OPEN_TX" \
    -v rounds="$ROUNDS" -v tput_items="$ITEMS" -v lat_items="$LAT_ITEMS" -v lat_rate="$RATE" \
    -v lat_workers="$LAT_WORKERS" -v worker_counts="$workers_json" \
    -v cpu="${CPU:-unknown}" -v nproc="$(nproc)" -v mem="$MEM" -v kernel="$(uname -r)" \
    -v commit="$COMMIT" -v started="$STARTED" -v duration_s="$((SECONDS - T0))" \
    -v load_start="$LOAD_START" -v load_end="$(cut -d' ' -f1-3 /proc/loadavg)" \
    -f "$HERE/report.sql"
echo "== wrote $OUT/async.md and $OUT/async.json ($((SECONDS - T0)) s)"
cat "$OUT/async.md"
