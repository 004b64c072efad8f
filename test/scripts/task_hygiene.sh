#!/usr/bin/env bash
# test/scripts/task_hygiene.sh: what a task leaves behind, and task retention.
#
# Starts its own cluster (cyoda_wf preloaded, two static workers for database
# hyg, cyoda_wf.task_retention = 1h), then:
#   - the workers run 20 async tasks whose process sets
#     default_transaction_read_only = on, statement_timeout = 1 and
#     lock_timeout = 1 for its session: every task still runs and the server
#     log shows no error (each task runs in a GUC nest level that is undone);
#     the workers' updates are counted in pg_stat_user_tables while they
#     run, so autovacuum sees the dead rows they leave;
#   - in database hyg2 (no static workers) one session CALLs run_tasks()
#     outside a transaction block (one transaction per task) on 5 such tasks:
#     all run, and the session's settings are unchanged afterwards;
#   - a dynamic worker started in hyg2 deletes, in batches, the 2,500 done
#     tasks that finished 2 hours ago and keeps the newer ones and the failed
#     ones;
#   - a worker starting while another transaction removes an exited
#     worker's row registers and runs a task without waiting for it.
# Environment (optional): CW_LIB (scripts/lib.sh), CW_PG_CONFIG.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CW_LIB=${CW_LIB:-$HERE/../../scripts/lib.sh}
# shellcheck source=scripts/lib.sh
source "$CW_LIB"
cw_clean_pg_env

FAILED=0
die() {
    echo "task_hygiene.sh: FAILED: $*"
    if [[ -n ${DIR:-} && -f $DIR/log ]]; then
        echo "---- last 30 lines of the server log ----"
        tail -n 30 "$DIR/log"
    fi
    exit 1
}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

cw_mktemp
DIR=$CW_MKTEMP/h
PORT=$(cw_free_port)
cw_start_cluster "$DIR" "$PORT" \
    "shared_preload_libraries = 'cyoda_wf'" \
    "cyoda_wf.database_name = 'hyg'" \
    "cyoda_wf.workers = 2" \
    "cyoda_wf.task_retention = '1h'"
echo "cluster: $DIR port $PORT"

setup='SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
-- a process that would poison the session it runs in
CREATE FUNCTION public.poison(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config($q$default_transaction_read_only$q$, $q$on$q$, false);
    PERFORM set_config($q$statement_timeout$q$, $q$1$q$, false);
    PERFORM set_config($q$lock_timeout$q$, $q$1$q$, false);
    RETURN data || $q${"poisoned": true}$q$;
END $$;
SELECT cyoda_wf.import_workflows($q$job$q$, 1, $q${"workflows": [{"name": "w", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "go", "next": "b",
                   "processors": [{"name": "poison", "executionMode": "ASYNC_NEW_TX"}]}]},
             "b": {}}}]}$q$);'
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE hyg" -c "CREATE DATABASE hyg2"
for d in hyg hyg2; do psql -X -q -v ON_ERROR_STOP=1 -d "$d" -c "$setup" >/dev/null; done

# 1. The workers: 20 poisoning tasks, all run.
pids="SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'cyoda_wf worker'"
for ((i = 0; i < 150; i++)); do   # static workers restart 5 s after hyg was missing
    workers=$(q hyg "$pids")
    [[ $(wc -w <<<"$workers") == 2 ]] && break
    sleep 0.2
done
logpos=$(stat -c %s "$DIR/log")
q hyg "SELECT count(cyoda_wf.add_item('job', 1, jsonb_build_object('n', g))) FROM generate_series(1, 20) g" >/dev/null
for ((i = 0; i < 150; i++)); do
    n=$(q hyg "SELECT count(*) FROM cyoda_wf.entity WHERE state = 'b' AND data->>'poisoned' = 'true'")
    ((n == 20)) && break
    sleep 0.2
done
cw_check "the workers ran all 20 tasks whose process sets session settings" "$n" 20
cw_check "the tasks are done" "$(q hyg "SELECT string_agg(DISTINCT state, ',') FROM cyoda_wf.task")" done
tail -c +"$((logpos + 1))" "$DIR/log" >"$CW_MKTEMP/workers.log"
cw_check "server log: no error while the workers ran them" "$(grep -c 'ERROR' "$CW_MKTEMP/workers.log" || true)" 0
cw_check "the same two workers as before (none restarted)" "$(wc -w <<<"$workers") $(q hyg "$pids")" "2 $workers"
for ((i = 0; i < 50; i++)); do   # recorded just after each burst of tasks
    n=$(q hyg "SELECT sum(tasks_done) FROM cyoda_wf.worker_status()")
    [[ $n == 20 ]] && break
    sleep 0.2
done
cw_check "worker_status(): 20 tasks done" "$n" 20
# The workers' table statistics reach pg_stat_user_tables while they live
# (autovacuum reads them there): their 20 updates of cyoda_wf.task.
for ((i = 0; i < 50; i++)); do
    n=$(q hyg "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relid = 'cyoda_wf.task'::regclass")
    ((n >= 20)) && break
    sleep 0.2
done
cw_check "the workers' task updates are counted in pg_stat_user_tables while they run" "$((n >= 20))" 1

# 2. run_tasks outside a transaction block: one transaction per task, one session.
q hyg2 "SELECT count(cyoda_wf.add_item('job', 1, jsonb_build_object('n', g))) FROM generate_series(1, 5) g" >/dev/null
got=$(psql -X -qAt -d hyg2 2>&1 <<'SQL' || true
CALL cyoda_wf.run_tasks();
SELECT count(*) FROM cyoda_wf.entity WHERE state = 'b' AND data->>'poisoned' = 'true';
SHOW default_transaction_read_only;
SHOW statement_timeout;
SHOW lock_timeout;
SELECT 'still usable' FROM pg_sleep(0.05);
SQL
)
cw_check "run_tasks() in its own transactions ran all 5; the session's settings are unchanged" \
    "$(tr '\n' ' ' <<<"$got")" "5 off 0 0 still usable "

# 3. Retention: a worker deletes old finished tasks in batches.
q hyg2 "DELETE FROM cyoda_wf.task;
        INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind, state, finished_at)
        SELECT gen_random_uuid(), 'go', 'a', 'process', 'done', now() - interval '2 hours'
          FROM generate_series(1, 2500);
        INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind, state, finished_at)
        SELECT gen_random_uuid(), 'go', 'a', 'process', st, now() - age
          FROM (VALUES ('done', interval '10 minutes'), ('failed', interval '2 hours'),
                       ('cancelled', interval '59 minutes')) v(st, age)"
started=$(q hyg2 "SELECT cyoda_wf.start_workers(1)")
cw_check "a dynamic worker for hyg2" "$started" 1
for ((i = 0; i < 150; i++)); do
    n=$(q hyg2 "SELECT count(*) FROM cyoda_wf.task")
    ((n == 3)) && break
    sleep 0.2
done
cw_check "the worker deleted the 2,500 tasks done 2 hours ago (task_retention = 1h)" "$n" 3
cw_check "... and kept the newer ones and the failed one" \
    "$(q hyg2 "SELECT string_agg(state, ' ' ORDER BY state) FROM cyoda_wf.task")" "cancelled done failed"
q hyg2 "SELECT cyoda_wf.stop_workers()" >/dev/null

# 4. A starting worker removes the rows of exited workers, but does not wait
# for a transaction that is removing one too (another worker starting):
# held open here while the new worker registers and runs a task.
for ((i = 0; i < 50; i++)); do
    [[ $(q hyg2 "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cyoda_wf worker' AND datname = 'hyg2'") == 0 ]] && break
    sleep 0.2
done
q hyg2 "DELETE FROM cyoda_wf.task; DELETE FROM cyoda_wf.worker;
        INSERT INTO cyoda_wf.worker (pid, database, kind, tasks_done, last_active_at)
        VALUES (2147483000, 'hyg2', 'dynamic', 0, now())"
psql -X -qAt -d hyg2 -c "BEGIN" -c "DELETE FROM cyoda_wf.worker WHERE pid = 2147483000" \
    -c "SELECT pg_sleep(8)" -c "COMMIT" >/dev/null &
holder=$!
sleep 0.5
q hyg2 "SELECT count(cyoda_wf.add_item('job', 1, jsonb_build_object('n', 'late')))" >/dev/null
q hyg2 "SELECT cyoda_wf.start_workers(1)" >/dev/null
for ((i = 0; i < 25; i++)); do
    n=$(q hyg2 "SELECT count(*) FROM cyoda_wf.task WHERE state = 'done'")
    [[ $n == 1 ]] && break
    sleep 0.2
done
cw_check "a starting worker does not wait for another one's removal of an exited worker's row" \
    "$n $(q hyg2 "SELECT count(*) FROM cyoda_wf.worker WHERE pid <> 2147483000")" "1 1"
wait "$holder"
q hyg2 "SELECT cyoda_wf.stop_workers()" >/dev/null

if grep -qE 'terminated by signal|PANIC:|TRAP:' "$DIR/log"; then
    echo "FAIL  crash in the server log:"
    grep -E 'terminated by signal|PANIC:|TRAP:' "$DIR/log" | head
    FAILED=1
fi
((FAILED == 0)) || die "see FAIL lines above"
echo "task_hygiene.sh: passed"
