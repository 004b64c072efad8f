#!/usr/bin/env bash
# test/scripts/claim_follow.sh: a claim under READ COMMITTED follows a task
# or entity row that another transaction changed and committed after the
# claim took its snapshot, as FOR UPDATE's EvalPlanQual does.
#
# The window between a claim's snapshot and its row lock is microseconds
# wide; the script holds it open with gdb: it attaches to the backend of a
# session that CALLs cyoda_wf.run_tasks(), stops it at the claim's row lock
# (cw_claim_lock in cyoda_wf.so: the task row's first, the entity row's
# second), commits a change of that row from another session, and lets the
# claim go on.  Then:
#   1. task row changed, still due: the claim locks its latest version and
#      the task runs; the change is kept and the task is marked done on it;
#   2. entity row changed (its data, by a loopback UPDATE): the claim locks
#      the entity's latest version, so the process sees the change and the
#      task's save keeps it (no lost update);
#   3. task row changed so that it is no longer due (run_at an hour later):
#      the claim passes it over; it stays pending and its process does not
#      run.
# The isolation spec claim_snapshot covers REPEATABLE READ (40001).
# Environment (optional): CW_LIB (scripts/lib.sh), CW_PG_CONFIG.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CW_LIB=${CW_LIB:-$HERE/../../scripts/lib.sh}
# shellcheck source=scripts/lib.sh
source "$CW_LIB"
cw_clean_pg_env

FAILED=0
die() {
    echo "claim_follow.sh: FAILED: $*"
    for f in "$CW_MKTEMP"/gdb.*.log; do
        [[ -f $f ]] && { echo "---- $f ----"; tail -n 20 "$f"; }
    done
    if [[ -n ${DIR:-} && -f $DIR/log ]]; then
        echo "---- last 30 lines of the server log ----"
        tail -n 30 "$DIR/log"
    fi
    exit 1
}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -d cf -c "SET client_min_messages = error" -c "$1"; }

command -v gdb >/dev/null 2>&1 || die "gdb is not installed (Debian package gdb)"

cw_mktemp
DIR=$CW_MKTEMP/c
PORT=$(cw_free_port)
cw_start_cluster "$DIR" "$PORT" "shared_preload_libraries = 'cyoda_wf'" "cyoda_wf.workers = 0" ||
    die "cluster did not start"
echo "cluster: $DIR port $PORT"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE cf"
q "SET client_min_messages = warning;
   CREATE EXTENSION cyoda_wf CASCADE;
   -- the process records the data it was given
   CREATE FUNCTION public.cf_step(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql AS
     \$\$ SELECT data || jsonb_build_object('stepped', true, 'seen', data -> 'touch') \$\$;
   SELECT count(*) FROM cyoda_wf.import_workflows('cf', 1, '{\"workflows\": [{\"name\": \"w\",
     \"initialState\": \"new\", \"states\": {
       \"new\": {\"transitions\": [{\"name\": \"step\", \"next\": \"stepped\", \"manual\": true,
                \"processors\": [{\"name\": \"cf_step\", \"executionMode\": \"ASYNC_NEW_TX\"}]}]},
       \"stepped\": {\"transitions\": []}}}]}')" >/dev/null

# run_case N HIT SQL: a new entity with its task queued; a session CALLs
# run_tasks() while gdb holds its backend at the HIT-th cw_claim_lock, where
# SQL (:id in it the entity's id, quoted) commits from another session.
# Sets CASE_ID to the entity's id.
run_case() {
    local n=$1 hit=$2 sql=$3 id bpid i in=$CW_MKTEMP/b.$1.in cmd=$CW_MKTEMP/gdb.$1.cmd
    id=$(q "SELECT cyoda_wf.add_item('cf', 1, '{\"n\": $n}')")
    q "SELECT cyoda_wf.fire('$id', 'step')" >/dev/null
    mkfifo "$in"
    psql -X -qAt -v ON_ERROR_STOP=1 -d cf <"$in" >"$CW_MKTEMP/b.$n.out" 2>&1 &
    local bjob=$!
    exec 7>"$in"
    echo "SELECT pg_backend_pid();" >&7
    for ((i = 0; i < 100; i++)); do
        bpid=$(head -n 1 "$CW_MKTEMP/b.$n.out" 2>/dev/null || true)
        [[ -n $bpid ]] && break
        sleep 0.1
    done
    [[ $bpid =~ ^[0-9]+$ ]] || die "case $n: no backend pid ($bpid)"
    {
        echo "set pagination off"
        echo "set confirm off"
        echo "handle SIGUSR1 SIGUSR2 SIGALRM SIGPIPE SIGINT SIGTERM SIGQUIT nostop noprint pass"
        echo "break cw_claim_lock"
        for ((i = 0; i < hit; i++)); do echo "continue"; done
        sql=${sql//:id/\'$id\'}
        echo "shell psql -X -qAt -v ON_ERROR_STOP=1 -d cf -c \"${sql//\"/\\\"}\" > $CW_MKTEMP/a.$n.out 2>&1"
        echo "delete"
        echo "detach"
        echo "quit"
    } >"$cmd"
    gdb -q -batch -p "$bpid" -x "$cmd" >"$CW_MKTEMP/gdb.$n.log" 2>&1 &
    local gjob=$!
    # gdb has attached and let the backend run on
    for ((i = 0; i < 300; i++)); do
        if [[ $(awk '/^TracerPid:/ {print $2}' "/proc/$bpid/status") != 0 &&
              $(awk '/^State:/ {print $2}' "/proc/$bpid/status") != t ]]; then
            break
        fi
        sleep 0.1
    done
    ((i < 300)) || die "case $n: gdb did not attach"
    echo "CALL cyoda_wf.run_tasks();" >&7
    wait "$gjob" || die "case $n: gdb failed"
    grep -q "Breakpoint 1, " "$CW_MKTEMP/gdb.$n.log" || die "case $n: the claim never stopped at its row lock"
    exec 7>&-
    wait "$bjob" || die "case $n: the session's run_tasks failed: $(cat "$CW_MKTEMP/b.$n.out")"
    [[ ! -s $CW_MKTEMP/a.$n.out ]] || die "case $n: the concurrent change failed: $(cat "$CW_MKTEMP/a.$n.out")"
    CASE_ID=$id
}

# 1. The task row changed after the claim's snapshot: followed and run.
run_case 1 1 "UPDATE cyoda_wf.task SET retry_delay_ms = 4321 WHERE entity_id = :id"
id=$CASE_ID
cw_check "1: the task, changed after the claim's snapshot, ran (entity stepped)" \
    "$(q "SELECT state || ' ' || (data ->> 'stepped') FROM cyoda_wf.entity WHERE id = '$id'")" "stepped true"
cw_check "1: the task is done, with the concurrent change kept" \
    "$(q "SELECT state || ' ' || retry_delay_ms || ' ' || attempts FROM cyoda_wf.task WHERE entity_id = '$id'")" \
    "done 4321 1"

# 2. The entity row changed after the claim's snapshot: the process sees the change.
run_case 2 2 "UPDATE cyoda_wf.entity SET data = data || '{\"touch\": 7}' WHERE id = :id"
id=$CASE_ID
cw_check "2: the process saw the entity's latest data and the save kept it" \
    "$(q "SELECT state || ' ' || (data ->> 'touch') || ' ' || (data ->> 'seen') || ' ' || (data ->> 'stepped') FROM cyoda_wf.entity WHERE id = '$id'")" \
    "stepped 7 7 true"
cw_check "2: versions: create, the fire that queued the task, the concurrent update, the step" \
    "$(q "SELECT string_agg(coalesce(transition, change_type), ',' ORDER BY version) FROM cyoda_wf.entity_version WHERE entity_id = '$id'")" \
    "CREATE,loopback,loopback,step"
cw_check "2: the task is done" "$(q "SELECT state FROM cyoda_wf.task WHERE entity_id = '$id'")" "done"

# 3. The task row changed so that it is not due any more: passed over.
run_case 3 1 "UPDATE cyoda_wf.task SET run_at = now() + interval '1 hour' WHERE entity_id = :id"
id=$CASE_ID
cw_check "3: the task no longer due was passed over: still pending, not attempted" \
    "$(q "SELECT state || ' ' || attempts || ' ' || (run_at > now() + interval '50 minutes') FROM cyoda_wf.task WHERE entity_id = '$id'")" \
    "pending 0 true"
cw_check "3: its process did not run" \
    "$(q "SELECT state || ' ' || coalesce(data ->> 'stepped', 'no') FROM cyoda_wf.entity WHERE id = '$id'")" "new no"

cw_stop_cluster "$DIR" >/dev/null 2>&1 || true
((FAILED == 0)) || exit 1
echo "claim_follow.sh: passed"
