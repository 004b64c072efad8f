#!/usr/bin/env bash
# test/scripts/task_failed.sh: what a task that fails for good tells, and
# how a retry reaches the workers.
#
# In the running cluster, a database of its own:
#   1. a task that runs out of attempts (run_tasks in a session that LISTENs
#      with client_min_messages = log) sends one NOTIFY cyoda_wf with the
#      entity id, model, modelVersion, transition, task id, "failed": true,
#      the error and changeType TASK_FAILED, and one LOG line naming the
#      task, the entity, the transition and the error; a task that will be
#      retried sends neither;
#   2. with cyoda_wf.notify_payload = id the NOTIFY has the id and the
#      change kind only; with cyoda_wf.notify = off there is none;
#   3. a dynamic worker runs the tasks that retry_task and retry_failed
#      re-queue (they wake it at commit), and metrics() counts them done.
# Environment: PGHOST, PGPORT (the test cluster).
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}"
export PGUSER=${PGUSER:-postgres}
db=cw_task_failed
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "task_failed.sh: FAILED: $*"; exit 1; }
cleanup() {
    q -d $db -c "SELECT cyoda_wf.stop_workers()" >/dev/null 2>&1 || true
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
      >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT

q -d postgres -c "CREATE DATABASE $db" \
  -c "ALTER DATABASE $db SET cyoda_wf.retry_attempts = 2" -c "ALTER DATABASE $db SET cyoda_wf.retry_delay_ms = 0"
q -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
CREATE FUNCTION public.tf_charge(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  IF (data->>'fail')::boolean THEN
    RAISE EXCEPTION 'card "declined" for %', data->>'who';
  END IF;
  RETURN data || '{"charged": true}';
END $$;
SELECT cyoda_wf.import_workflows('tf', 1, $json$
{"workflows": [{"name": "pay", "initialState": "new", "states": {
  "new": {"transitions": [{"name": "charge", "next": "paid",
     "processors": [{"name": "tf_charge", "executionMode": "ASYNC_NEW_TX",
                     "config": {"retryPolicy": "FIXED"}}]}]},
  "paid": {"transitions": []}}}]}
$json$);
SQL

# Notifications and LOG lines of a session, ids, task ids and pids replaced.
masked() {
    grep -E '^(Asynchronous notification|LOG:|DETAIL:|HINT:)' |
        sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/<id>/g;
                s/PID [0-9]+/PID <pid>/; s/task [0-9]+/task <n>/g;
                s/"task": [0-9]+/"task": <n>/; s/retry_task\([0-9]+\)/retry_task(<n>)/'
}

# 1. two attempts, then failed for good: one NOTIFY, one LOG line
got=$(q -d $db 2>&1 <<'SQL' | masked
LISTEN cyoda_wf;
SET cyoda_wf.notify = off;
SET client_min_messages = error;   -- not the WARNING of a database no worker serves
SELECT cyoda_wf.add_item('tf', 1, '{"who": "bob", "fail": true}') IS NOT NULL;
SET cyoda_wf.notify = on;
SET client_min_messages = log;
CALL cyoda_wf.run_tasks();
SQL
)
want='LOG:  cyoda_wf task <n> failed for good: entity <id> (model tf version 1), transition "charge": card "declined" for bob
DETAIL:  Attempt 2 of 2; SQLSTATE P0001.
HINT:  Re-queue it with cyoda_wf.retry_task(<n>).
Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "model": "tf", "modelVersion": 1, "transition": "charge", "task": <n>, "failed": true, "error": "card \"declined\" for bob", "changeType": "TASK_FAILED"}" received from server process with PID <pid>.'
[[ $got == "$want" ]] || fail "failed for good: got
$got
want
$want"
# the payload names the task that failed
n=$(q -d $db -c "SELECT count(*) FROM cyoda_wf.failed_tasks WHERE model = 'tf' AND last_error = 'card \"declined\" for bob'")
[[ $n == 1 ]] || fail "failed_tasks has $n rows for bob, want 1"

# 2. payload id; notify off
got=$(q -d $db 2>&1 <<'SQL' | masked
LISTEN cyoda_wf;
SET cyoda_wf.notify = off;
SET client_min_messages = error;   -- not the WARNING of a database no worker serves
SELECT cyoda_wf.add_item('tf', 1, '{"who": "cy", "fail": true}') IS NOT NULL;
CALL cyoda_wf.run_tasks();
SET cyoda_wf.notify = on;
SET cyoda_wf.notify_payload = id;
SELECT cyoda_wf.retry_failed('tf') AS requeued;
CALL cyoda_wf.run_tasks();
SQL
)
want='Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "changeType": "TASK_FAILED"}" received from server process with PID <pid>.
Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "changeType": "TASK_FAILED"}" received from server process with PID <pid>.'
[[ $got == "$want" ]] || fail "payload id / notify off: got
$got
want
$want"

# 3. workers pick up what retry_task / retry_failed re-queue
q -d $db -c "UPDATE cyoda_wf.entity SET data = data || '{\"fail\": false}'" >/dev/null
started=$(q -d $db -c "SELECT cyoda_wf.start_workers(1)")
[[ $started == 1 ]] || fail "start_workers(1) returned $started"
q -d $db -c "SELECT cyoda_wf.retry_task(task_id) FROM cyoda_wf.failed_tasks ORDER BY task_id LIMIT 1" >/dev/null
q -d $db -c "SELECT cyoda_wf.retry_failed()" >/dev/null
for _ in $(seq 1 600); do
    left=$(q -d $db -c "SELECT count(*) FROM cyoda_wf.entity WHERE state <> 'paid'")
    [[ $left == 0 ]] && break
    sleep 0.1
done
[[ $left == 0 ]] || fail "$left entities not paid after the retries"
got=$(q -d $db -c "SELECT model, failed, done_last_hour FROM cyoda_wf.metrics() WHERE model IS NOT NULL")
[[ $got == 'tf|0|2' ]] || fail "metrics after the retries: $got, want tf|0|2"

echo "task_failed.sh: ok"
