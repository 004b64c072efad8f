#!/usr/bin/env bash
# bench/run.sh: the cyoda_wf benchmark.  One command:
#
#   bench/run.sh            full run (about 15 minutes)
#   bench/run.sh --quick    short run (under 2 minutes)
#   bench/run.sh --profile  perf profile of the hot path -> bench/results/profile.md
#
# It installs the Debian packages if missing, builds and installs the
# extension (like scripts/test.sh), starts a throwaway cluster (temporary
# directory, free port), records the machine and the PostgreSQL settings,
# runs the pgbench scenarios in bench/pgbench/ next to their baselines --
# cyoda_wf (cw), hand-written SQL (hw) and a PL/pgSQL trigger engine (pl) --
# alternating the variants run by run, then the scaling curves and the
# definition cache's memory, and writes bench/results/latest.md and
# bench/results/latest.json (bench/report.py).
#
# Options:
#   --quick            1-second runs, every scenario at 1 client, cache memory;
#                      no 2/4-client runs and no scaling curves
#   --profile [SCEN]   instead of the benchmark: perf-profile the cyoda_wf and
#                      the hand-written variants of scenarios SCEN (comma list;
#                      default cascade,batch100,fire,cascade_sql) and write
#                      bench/results/profile.md (text above its marker line kept)
#   --only SCEN        only these scenarios (comma list), no scaling/cache
#   --no-build         use the installed extension as it is
#   --out DIR          write latest.md / latest.json there (default bench/results)
# Environment: CW_PG_CONFIG (or PG_CONFIG), PYTHON_SITE, CW_PRELOAD (see
# scripts/lib.sh); CW_BENCH_SECONDS and CW_BENCH_REPS override the run length
# and the repetitions; CW_BENCH_CONF adds postgresql.conf lines;
# CW_KEEP_TMP=1 keeps the cluster directory and the raw pgbench logs.

set -uo pipefail
BENCH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH")
export CW_ROOT=$ROOT

MODE=full
BUILD=1
ONLY=
PROFILE=
OUT=$BENCH/results
while (($#)); do
    case $1 in
        --quick) MODE=quick ;;
        --full) MODE=full ;;
        --profile)
            MODE=profile
            if [[ ${2:-} != "" && ${2:0:2} != -- ]]; then PROFILE=$2; shift; fi ;;
        --only) ONLY=$2; shift ;;
        --no-build) BUILD=0 ;;
        --out) OUT=$2; shift ;;
        -h | --help) sed -n '2,30p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [[ ! -f $ROOT/scripts/lib.sh ]]; then
    echo "scripts/lib.sh is missing: run from a checkout of cyoda_wf" >&2
    exit 1
fi
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env

T_START=$(date +%s)
say() { printf '[%4ds] %s\n' $(($(date +%s) - T_START)) "$*"; }
die() { say "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- parameters
ALL_SCENARIOS=(cascade cascade_sql cascade_py batch100 fire loopback criteria)
VARIANTS=(cw hw pl)
NSEED=10000                     # existing entities per model for fire / loopback
# The variables of the pgbench scripts: nseed, the entities a script picks
# from; rollback=1 runs a scenario that stores entities (cascade) inside
# BEGIN ... ROLLBACK, as the scaling curves do so that the stored count stays.
PGBENCH_VARS=(-D nseed="$NSEED" -D rollback=0)
CACHE_WORKFLOWS=1000
if [[ $MODE == quick ]]; then
    SECONDS_PER_RUN=${CW_BENCH_SECONDS:-1}
    REPS=${CW_BENCH_REPS:-3}
    MULTI_REPS=0                # no 2- and 4-client runs
    MULTI_CLIENT_SCENARIOS=()
    WARMUP=(-t 100)
    SCALE_SIZES=()              # the scaling curves need the full mode
    STATE_SIZES=()
else
    SECONDS_PER_RUN=${CW_BENCH_SECONDS:-3}
    REPS=${CW_BENCH_REPS:-5}
    MULTI_REPS=${CW_BENCH_REPS:-3}
    MULTI_CLIENT_SCENARIOS=(cascade batch100 fire)
    WARMUP=(-T 1)
    SCALE_SIZES=(1000 100000 1000000)
    STATE_SIZES=(10 100 1000)
fi
SCALE_SECONDS=$SECONDS_PER_RUN
SCALE_REPS=${CW_BENCH_REPS:-3}
SCENARIOS=("${ALL_SCENARIOS[@]}")
if [[ -n $ONLY ]]; then
    IFS=, read -r -a SCENARIOS <<<"$ONLY"
fi

# Shared buffers large enough for every database of the run (the largest,
# the 1,000,000-entity scaling database, is about 2.5 GB with its indexes):
# a quarter of the memory, at least 2 GB and at most 8 GB.  Below that the
# scaling curves measure buffer evictions, not the engine.
MEM_MB=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
SB_MB=$((MEM_MB / 4))
((SB_MB < 2048)) && SB_MB=2048
((SB_MB > 8192)) && SB_MB=8192

# The server configuration of every benchmark cluster (recorded in the results).
BENCH_CONF=(
    "shared_buffers = '${SB_MB}MB'"
    "fsync = on"
    "synchronous_commit = off"
    "full_page_writes = on"
    "max_wal_size = '16GB'"
    "checkpoint_timeout = '1h'"
    "jit = off"
    "autovacuum = off"          # the script vacuums before every block of runs
    "log_min_messages = warning"
    "cyoda_wf.workers = 0"      # no async work in these scenarios: no idle workers
)

# ---------------------------------------------------------------- setup
say "cyoda_wf benchmark, mode $MODE, in $ROOT"
if [[ $MODE == profile ]]; then
    CW_EXTRA_PACKAGES="${CW_EXTRA_PACKAGES:-} linux-perf"
fi
export CW_EXTRA_PACKAGES=${CW_EXTRA_PACKAGES:-}
cw_install_packages || die "package installation"
cw_pg_paths || die "pg_config"
if ((BUILD)); then
    cw_build_install "$ROOT" || die "build"
fi
command -v pgbench >/dev/null || die "pgbench not found in $CW_BINDIR"

cw_mktemp || die "temporary directory"
TMP=$CW_MKTEMP
RAW=$TMP/raw
mkdir -p "$RAW/out" "$RAW/logs"
CLUSTER=$TMP/cluster
started=0
for _ in 1 2 3; do
    PORT=$(cw_free_port) || break
    # shellcheck disable=SC2086
    if cw_start_cluster "$CLUSTER" "$PORT" "${BENCH_CONF[@]}" ${CW_BENCH_CONF:+"$CW_BENCH_CONF"}; then
        started=1
        break
    fi
    cw_stop_cluster "$CLUSTER"
    rm -rf "$CLUSTER"
done
((started)) || die "cluster did not start"
say "cluster: $CLUSTER port $PORT"

PSQL=(psql -X -q -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -At -d "$1" -c "$2"; }        # q DB SQL: one value

setup_db() {      # setup_db DB FILE...: create DB and run the setup files
    local db=$1 f
    shift
    q postgres "CREATE DATABASE $db" >/dev/null || return 1
    for f in "$@"; do
        "${PSQL[@]}" -d "$db" -v nseed="$NSEED" -f "$BENCH/sql/$f" >"$RAW/setup-$db-$f.log" 2>&1 || {
            cat "$RAW/setup-$db-$f.log"
            return 1
        }
    done
}

# ---------------------------------------------------------------- machine
{
    echo "mode=$MODE"
    echo "seconds_per_run=$SECONDS_PER_RUN"
    echo "reps=$REPS"
    echo "nseed=$NSEED"
    echo "scale_seconds=$SCALE_SECONDS"
    echo "scale_reps=$SCALE_REPS"
    echo "cpu_model=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)"
    echo "nproc=$(nproc)"
    echo "memory_gib=$(free -g | awk '/^Mem:/ {print $2}')"
    echo "kernel=$(uname -r)"
    echo "pgbench=$(pgbench --version)"
    echo "server_version=$(q postgres 'SELECT version()')"
    echo "git_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "git_dirty=$(git -C "$ROOT" status --porcelain -- src sql 2>/dev/null | wc -l)"
    echo "started_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$RAW/meta.txt"
free -g >"$RAW/free.txt"
lscpu >"$RAW/lscpu.txt" 2>/dev/null
q postgres "SELECT name || '=' || current_setting(name) FROM pg_settings
            WHERE source NOT IN ('default', 'override') OR name IN
              ('shared_buffers', 'work_mem', 'max_connections', 'wal_level', 'fsync',
               'synchronous_commit', 'full_page_writes', 'jit', 'autovacuum', 'huge_pages',
               'max_wal_size', 'checkpoint_timeout', 'shared_preload_libraries')
            ORDER BY name" >"$RAW/settings.txt"

# ---------------------------------------------------------------- runs
# The audit id sequence of each variant: its advance counts the transitions
# made (also by rolled-back transactions, which the scaling runs use).
declare -A AUDIT_SEQ=([cw]=cyoda_wf.audit_log_id_seq [hw]=hw.audit_id_seq [pl]=plwf.audit_id_seq)
seq_now() { q "$1" "SELECT last_value - CASE WHEN is_called THEN 0 ELSE 1 END FROM $2"; }
RUN_NO=0

# pgbench_run DB SCRIPT CLIENTS SECONDS AUDIT_SEQ TAGS...: one measured run;
# appends a line to $RAW/runs.tsv and leaves the tps in LAST_TPS.
pgbench_run() {
    local db=$1 script=$2 clients=$3 secs=$4 audit=$5
    shift 5
    local id before after rc pid bpids="" i t_start t0 t1 c0 c1 n
    RUN_NO=$((RUN_NO + 1))
    id=$(printf 'r%04d' "$RUN_NO")
    before=$(seq_now "$db" "$audit")
    # Every run starts with empty GIN pending lists: otherwise the run that
    # fills one (4 MB, some 30,000 entity updates) pays for merging it into
    # the index, whichever variant that is.
    q "$db" "SELECT count(pg_catalog.gin_clean_pending_list(c.oid)) FROM pg_catalog.pg_class c
             JOIN pg_catalog.pg_am a ON a.oid = c.relam WHERE a.amname = 'gin' AND c.relkind = 'i'" >/dev/null
    t_start=$(date +%s%N)
    pgbench -n -M prepared -c "$clients" -j "$clients" -T "$secs" \
        "${PGBENCH_VARS[@]}" "${PGBENCH_DEFS[@]}" \
        --log --log-prefix="$RAW/logs/$id" -f "$script" "$db" \
        >"$RAW/out/$id.txt" 2>&1 &
    pid=$!
    CW_CHILDREN+=("$pid")
    # The backends' CPU time over the middle of the run (from /proc), next to
    # the transactions completed meanwhile (from the log): CPU per
    # transaction, which other load on the machine disturbs less than tps.
    for ((i = 0; i < 40; i++)); do
        bpids=$(q postgres "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity
                            WHERE datname = '$db' AND application_name = 'pgbench'")
        n=$(wc -w <<<"$bpids")
        ((n >= clients)) && break
        sleep 0.05
    done
    # start the window no earlier than 0.4 s in (connection, cache loading)
    i=$(((t_start + 400000000 - $(date +%s%N)) / 1000000))
    ((i > 0)) && sleep "$(printf '0.%03d' "$i")"
    t0=$(date +%s%N)
    c0=$(cpu_ticks $bpids)
    i=$(((t_start + secs * 1000000000 - 150000000 - $(date +%s%N)) / 1000000))
    ((i > 0)) && sleep "$(printf '%d.%03d' $((i / 1000)) $((i % 1000)))"
    t1=$(date +%s%N)
    c1=$(cpu_ticks $bpids)
    wait "$pid"
    rc=$?
    cw_forget_child "$pid"
    after=$(seq_now "$db" "$audit")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$*" "$clients" "$secs" "$((after - before))" "$rc" \
        "$(basename "$script")" "$t0" "$t1" "$((c1 - c0))" "$n" >>"$RAW/runs.tsv"
    if ((rc != 0)) || grep -q 'aborted' "$RAW/out/$id.txt"; then
        say "  !! $id $(basename "$script") failed (exit $rc):"
        tail -n 5 "$RAW/out/$id.txt" | sed 's/^/     /'
    fi
    LAST_TPS=$(grep -oE 'tps = [0-9.]+' "$RAW/out/$id.txt" | head -n1 | cut -d' ' -f3)
    LAST_TPS=${LAST_TPS:-0}
}

# cpu_ticks PID...: user + system CPU time of the processes, in clock ticks.
cpu_ticks() {
    local p line f sum=0
    for p in "$@"; do
        [[ -r /proc/$p/stat ]] || continue
        read -r line <"/proc/$p/stat" || continue
        line=${line##*) }
        read -r -a f <<<"$line"
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}
CLK_TCK=$(getconf CLK_TCK)
PGBENCH_DEFS=()

if [[ $MODE == profile ]]; then
    # ------------------------------------------------------------ profile
    command -v perf >/dev/null || die "perf not found (apt-get install linux-perf)"
    setup_db bench 00_common.sql 10_workflows.sql 20_handwritten.sql 30_plpgsql_engine.sql 40_seed.sql ||
        die "setup of database bench"
    IFS=, read -r -a PSCEN <<<"${PROFILE:-cascade,batch100,fire,cascade_sql}"
    PROF=$OUT/profile.md
    mkdir -p "$OUT"
    PSECS=${CW_BENCH_SECONDS:-12}
    # profile_one SCRIPT: perf record -g on the backend of a 1-client pgbench run
    profile_one() {
        local script=$1 name pgpid bpid
        name=$(basename "$script" .sql)
        pgbench -n -M prepared -c 1 -j 1 -T "$PSECS" "${PGBENCH_VARS[@]}" -f "$script" bench \
            >"$RAW/out/profile-$name.txt" 2>&1 &
        pgpid=$!
        CW_CHILDREN+=("$pgpid")
        sleep 2
        bpid=$(q postgres "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgbench' AND datname = 'bench' LIMIT 1")
        [[ -n $bpid ]] || die "no pgbench backend found"
        perf record -g -o "$RAW/perf-$name.data" -p "$bpid" -- sleep $((PSECS - 4)) >"$RAW/perf-$name.log" 2>&1
        wait "$pgpid"
        cw_forget_child "$pgpid"
        perf script -i "$RAW/perf-$name.data" -F ip,sym 2>/dev/null |
            "$CW_PYTHON" "$BENCH/perf_breakdown.py" >"$RAW/breakdown-$name.md"
    }
    # A hand-written part above the marker line (findings, fixes) is kept.
    MARK='<!-- everything below is generated by bench/run.sh --profile -->'
    KEEP=$(if [[ -f $PROF ]] && grep -qF "$MARK" "$PROF"; then awk -v m="$MARK" '$0 == m {exit} {print}' "$PROF"; fi)
    {
        if [[ -n $KEEP ]]; then printf '%s\n' "$KEEP"; else echo "# cyoda_wf hot-path profile"; echo; fi
        echo "$MARK"
        echo
        echo "Made by \`bench/run.sh --profile\` on $(date -u +%Y-%m-%d): \`perf record -g\` on the"
        echo "backend of a 1-client \`pgbench -M prepared\` run of each scenario, for $((PSECS - 4)) s"
        echo "after a 2 s warm-up.  Machine: $(sed -n 's/^cpu_model=//p' "$RAW/meta.txt"), $(nproc) cores,"
        echo "load average at start $(cut -d' ' -f1-3 /proc/loadavg).  $(q postgres 'SELECT version()')."
        echo
        echo "Per scenario: where the backend's time goes (bench/perf_breakdown.py: *context* is the"
        echo "outermost part of the save the sample belongs to, *kind* the innermost recognised"
        echo "frame), for cyoda_wf and, as a reference, for the hand-written SQL doing the same"
        echo "writes; then perf's own top lists for cyoda_wf."
    } >"$PROF"
    for s in "${PSCEN[@]}"; do
        [[ -f $BENCH/pgbench/$s.cw.sql ]] || die "no such scenario: $s"
        say "profile: $s (cw, then hw)"
        profile_one "$BENCH/pgbench/$s.cw.sql"
        profile_one "$BENCH/pgbench/$s.hw.sql"
        {
            echo
            echo "## $s: $(sed -n '1s/^-- //p' "$BENCH/pgbench/$s.cw.sql")"
            echo
            echo "Under perf: cyoda_wf $(grep -oE 'tps = [0-9.]+' "$RAW/out/profile-$s.cw.txt" | head -n1),"
            echo "hand-written SQL $(grep -oE 'tps = [0-9.]+' "$RAW/out/profile-$s.hw.txt" | head -n1)."
            echo
            echo "### cyoda_wf: where the time goes"
            echo
            cat "$RAW/breakdown-$s.cw.md"
            echo
            echo "### hand-written SQL: where the time goes"
            echo
            cat "$RAW/breakdown-$s.hw.md"
            echo
            echo "### cyoda_wf: self time (perf report --no-children --stdio --sort symbol, top 40)"
            echo
            echo '```'
            perf report -i "$RAW/perf-$s.cw.data" --no-children --stdio --sort symbol -g none 2>/dev/null |
                grep -vE '^#|^$' | head -n 40
            echo '```'
            echo
            echo "### cyoda_wf: inclusive time of its own functions and the SPI/executor entry points"
            echo
            echo '```'
            perf report -i "$RAW/perf-$s.cw.data" --children --stdio --sort symbol -g none 2>/dev/null |
                grep -E '\] (cw_|SPI_|standard_Executor|ExecInsertIndexTuples|ExecConstraints|ExecInitFunctionScan|ExecMakeTableFunctionResult|fmgr_sql|pg_parse_query|pg_plan_query|Async_Notify|PreCommit_Notify|CommitTransactionCommand|heap_insert|heap_update|GetCachedPlan|AllocSetContextCreateInternal|GetUserNameFromId)' |
                head -n 40
            echo '```'
        } >>"$PROF"
    done
    say "wrote $PROF"
    exit 0
fi

# ------------------------------------------------------------ scenarios
say "setup: database bench (workflows, baselines, $NSEED entities per model for fire/loopback)"
setup_db bench 00_common.sql 10_workflows.sql 20_handwritten.sql 30_plpgsql_engine.sql 40_seed.sql ||
    die "setup of database bench"

in_list() { local x=$1 y; shift; for y in "$@"; do [[ $x == "$y" ]] && return 0; done; return 1; }
# Before every block of runs: vacuum (autovacuum is off, so that it cannot
# hit one variant's run and not another's) and write dirty buffers out.
settle() { q "$1" "VACUUM ANALYZE" >/dev/null; q "$1" "CHECKPOINT" >/dev/null; }

for s in "${SCENARIOS[@]}"; do
    [[ -f $BENCH/pgbench/$s.cw.sql ]] || die "no such scenario: $s"
    clients_list=(1)
    in_list "$s" "${MULTI_CLIENT_SCENARIOS[@]}" && clients_list=(1 2 4)
    settle bench
    # warm-up: definition cache, plans, shared buffers (not recorded)
    for v in "${VARIANTS[@]}"; do
        pgbench -n -M prepared -c 1 "${WARMUP[@]}" "${PGBENCH_VARS[@]}" -f "$BENCH/pgbench/$s.$v.sql" bench \
            >"$RAW/out/warmup-$s-$v.txt" 2>&1 || {
            cat "$RAW/out/warmup-$s-$v.txt"
            die "warm-up of $s.$v"
        }
    done
    for c in "${clients_list[@]}"; do
        reps=$REPS
        ((c > 1)) && reps=$MULTI_REPS
        line="scenario $s, $c client(s):"
        for ((r = 0; r < reps; r++)); do
            # alternate: each repetition starts with the next variant
            for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
                v=${VARIANTS[(r + k) % ${#VARIANTS[@]}]}
                pgbench_run bench "$BENCH/pgbench/$s.$v.sql" "$c" "$SECONDS_PER_RUN" \
                    "${AUDIT_SEQ[$v]}" "scenario	$s	$v	$r"
                line+=" $v=${LAST_TPS%.*}"
            done
        done
        say "$line"
    done
done

if [[ -z $ONLY && ${#SCALE_SIZES[@]} -gt 0 ]]; then
    # -------------------------------------------------------- scaling: stored entities
    # One database per size, so that the runs can alternate between the
    # sizes like the variants above (machine noise hits every point).
    for n in "${SCALE_SIZES[@]}"; do
        say "scale: database scale_$n with $n stored entities (1 version row and 5 audit rows each)"
        setup_db "scale_$n" 00_common.sql 10_workflows.sql 20_handwritten.sql scale.sql ||
            die "setup of database scale_$n"
        q "scale_$n" "SELECT bench.seed_stored($n)" >/dev/null || die "seeding $n"
        settle "scale_$n"
        q "scale_$n" "SELECT $n, (SELECT count(*) FROM cyoda_wf.entity), (SELECT count(*) FROM cyoda_wf.entity_version),
                  (SELECT count(*) FROM cyoda_wf.audit_log), pg_total_relation_size('cyoda_wf.entity'),
                  pg_total_relation_size('cyoda_wf.entity_version'), pg_total_relation_size('cyoda_wf.audit_log')" |
            tr '|' ' ' >>"$RAW/scale_sizes.txt"
        for t in scale_fire scale_cascade; do
            for v in cw hw; do
                pgbench -n -M prepared -c 1 "${WARMUP[@]}" -D nseed="$n" -D rollback=1 \
                    -f "$BENCH/pgbench/${t#scale_}.$v.sql" \
                    "scale_$n" >/dev/null 2>&1
            done
        done
    done
    # cyoda_wf, with the hand-written SQL as the control: what grows for
    # both is PostgreSQL's (bigger indexes), not the engine's.  scale_fire is
    # the fire scenario, scale_cascade the cascade one rolled back.
    for ((r = 0; r < SCALE_REPS; r++)); do
        line="stored entities, rep $r:"
        for t in scale_fire scale_cascade; do
            for ((k = 0; k < ${#SCALE_SIZES[@]}; k++)); do
                n=${SCALE_SIZES[(r + k) % ${#SCALE_SIZES[@]}]}
                PGBENCH_DEFS=(-D nseed="$n" -D rollback=1)
                for v in cw hw; do
                    pgbench_run "scale_$n" "$BENCH/pgbench/${t#scale_}.$v.sql" 1 "$SCALE_SECONDS" "${AUDIT_SEQ[$v]}" \
                        "entities	$t.$v	$n	$r"
                    line+=" $t.$v/$n=${LAST_TPS%.*}"
                done
            done
        done
        say "$line"
    done
    PGBENCH_DEFS=()

    # -------------------------------------------------------- scaling: workflow size
    say "states: workflows of ${STATE_SIZES[*]} states (database scale_${SCALE_SIZES[0]})"
    db=scale_${SCALE_SIZES[0]}
    for k in "${STATE_SIZES[@]}"; do
        q "$db" "SELECT bench.setup_states($k)" >/dev/null || die "states workflow $k"
    done
    settle "$db"
    # the first save in a new session compiles the workflow into the cache
    for i in 1 2 3; do
        for k in "${STATE_SIZES[@]}"; do
            "${PSQL[@]}" -At -d "$db" -v k="$k" -f "$BENCH/sql/first_save.sql" >>"$RAW/first_save.tsv" ||
                die "first save, $k states"
        done
    done
    for k in "${STATE_SIZES[@]}"; do
        for t in states_fire states_cascade; do
            pgbench -n -M prepared -c 1 "${WARMUP[@]}" -D k="$k" -f "$BENCH/pgbench/$t.cw.sql" "$db" >/dev/null 2>&1
        done
    done
    for ((r = 0; r < SCALE_REPS; r++)); do
        line="workflow states, rep $r:"
        for t in states_fire states_cascade; do
            for ((j = 0; j < ${#STATE_SIZES[@]}; j++)); do
                k=${STATE_SIZES[(r + j) % ${#STATE_SIZES[@]}]}
                PGBENCH_DEFS=(-D k="$k")
                pgbench_run "$db" "$BENCH/pgbench/$t.cw.sql" 1 "$SCALE_SECONDS" cyoda_wf.audit_log_id_seq \
                    "states	$t	$k	$r"
                line+=" $t/$k=${LAST_TPS%.*}"
            done
        done
        say "$line"
    done
    PGBENCH_DEFS=()
fi

if [[ -z $ONLY ]]; then
    # -------------------------------------------------------- definition cache memory
    say "cache: $CACHE_WORKFLOWS workflows"
    setup_db cache 00_common.sql cache.sql || die "setup of database cache"
    "${PSQL[@]}" -At -F $'\t' -d cache -v nwf="$CACHE_WORKFLOWS" -f "$BENCH/sql/cache_measure.sql" \
        >"$RAW/cache.tsv" 2>"$RAW/cache.err" || { cat "$RAW/cache.err"; die "cache measurement"; }
    say "cache: $(grep -E '^total' "$RAW/cache.tsv" | tr '\t' ' ') (contexts, total bytes, used bytes)"
fi

# ---------------------------------------------------------------- report
{
    echo "finished_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "clk_tck=$CLK_TCK"
} >>"$RAW/meta.txt"
echo "elapsed_s=$(($(date +%s) - T_START))" >>"$RAW/meta.txt"
mkdir -p "$OUT"
"$CW_PYTHON" "$BENCH/report.py" "$RAW" "$OUT" || die "report"
say "wrote $OUT/latest.md and $OUT/latest.json"
if [[ ${CW_KEEP_TMP:-0} == 1 ]]; then say "raw data kept in $RAW"; fi
