#!/usr/bin/env bash
# bench/async/callgrind.sh: instructions per async task, counted by
# callgrind, for cyoda_wf's run_tasks and for the hand-written worker of
# bench/async/setup.sql (q.work: the same writes per task, in plpgsql).
#
# A single-user backend (postgres --single: no other process, no client
# round trips) drains N queued tasks in one CALL, one transaction per task:
# CALL cyoda_wf.run_tasks(N), or CALL q.work(...) on the same number of
# tasks of the fair baseline.  N = 200 and N = 1200 (or the two counts
# given); (total(large) - total(small)) / (large - small) is the cost of one
# task without start-up and queueing.  Instruction counts do not depend on
# other load on the machine, unlike tasks/s.
#
# Usage: bench/async/callgrind.sh [N_SMALL N_LARGE]
# Environment: CW_PG_CONFIG (the PostgreSQL whose installed cyoda_wf is
# measured; default pg_config on PATH), CW_KEEP_TMP=1 (keep the data
# directories and callgrind outputs), CW_SYSTEMS (default "cyoda_wf
# baseline": which to count).  Needs valgrind.  As root, the server
# runs as the postgres user.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
small=${1:-200} large=${2:-1200}
PGC=${CW_PG_CONFIG:-pg_config}
BIN=$("$PGC" --bindir)
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
TMP=$(mktemp -d /tmp/cw_async_cg.XXXXXX)
[[ ${CW_KEEP_TMP:-0} == 1 ]] || trap 'rm -rf "$TMP"' EXIT
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres: "$TMP"

as_pg "$BIN/initdb" -D "$TMP/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N >/dev/null
printf '%s\n' "shared_preload_libraries = 'cyoda_wf'" "cyoda_wf.workers = 0" >>"$TMP/data/postgresql.conf"
# postgres --single reads one statement per line: join setup.sql's lines
# (its bodies are dollar-quoted; none has a -- comment inside).
sed -e 's/^--.*//' "$HERE/setup.sql" | tr '\n' ' ' | sed 's/; /;\n/g' >"$TMP/setup.sql"
(cd / && as_pg "$BIN/postgres" --single -j -D "$TMP/data" postgres <"$TMP/setup.sql" >"$TMP/setup.log" 2>&1)
if grep -q ERROR "$TMP/setup.log"; then cat "$TMP/setup.log" >&2; exit 1; fi

total() {   # system n
    local sys=$1 n=$2 d=$TMP/data_$1_$2 call check
    cp -a "$TMP/data" "$d"
    if [[ $sys == cyoda_wf ]]; then
        printf '%s\n' "INSERT INTO cyoda_wf.entity (model, data) SELECT 'bench_async', jsonb_build_object('i', g) FROM generate_series(1, $n) g;" \
            "ANALYZE cyoda_wf.task; ANALYZE cyoda_wf.entity;" >"$TMP/q_${sys}_$n.sql"
        call="CALL cyoda_wf.run_tasks($n)"
        check="SELECT count(*) AS done_tasks FROM cyoda_wf.task WHERE state = 'done'"
    else
        printf '%s\n' "CALL q.enqueue($n);" "ANALYZE q.task; ANALYZE q.entity;" >"$TMP/q_${sys}_$n.sql"
        call="CALL q.work(true, clock_timestamp() + interval '1 hour')"
        check="SELECT count(*) AS done_tasks FROM q.task WHERE state = 'done'"
    fi
    (cd / && as_pg "$BIN/postgres" --single -D "$d" postgres <"$TMP/q_${sys}_$n.sql" >"$TMP/q_${sys}_$n.log" 2>&1)
    printf '%s\n' "$call" "$check" >"$TMP/work_${sys}_$n.sql"
    (cd / && as_pg valgrind --tool=callgrind --callgrind-out-file="$TMP/cg_${sys}_$n.out" \
        "$BIN/postgres" --single -D "$d" postgres <"$TMP/work_${sys}_$n.sql" >"$TMP/work_${sys}_$n.log" 2>&1)
    if ! grep -q "done_tasks = \"$n\"" "$TMP/work_${sys}_$n.log"; then
        echo "callgrind.sh: $sys did not run $n tasks; see $TMP/work_${sys}_$n.log" >&2
        exit 1
    fi
    sed -n 's/^summary: \([0-9]*\).*/\1/p' "$TMP/cg_${sys}_$n.out"
}

for sys in ${CW_SYSTEMS:-cyoda_wf baseline}; do
    a=$(total "$sys" "$small")
    b=$(total "$sys" "$large")
    echo "$sys: N=$small: $a instructions; N=$large: $b instructions; per task: $(((b - a) / (large - small)))"
done
