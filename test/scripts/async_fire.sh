#!/usr/bin/env bash
# test/scripts/async_fire.sh: what firing an asynchronous transition tells
# the client and the listeners, in a database of its own:
#   1. the NOTIFY of the save that queued it names the queued transition
#      with "queued": true (other keys as always), and the NOTICE names the
#      task;
#   2. no worker serves the database: one WARNING per transaction, naming
#      cyoda_wf.database_name, start_workers() and run_tasks();
#   3. with a dynamic worker running for the database (start_workers), no
#      WARNING, and the worker runs the task.
# Environment: PGHOST, PGPORT (the test cluster).
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}"
export PGUSER=${PGUSER:-postgres}
db=cw_async_fire
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "async_fire.sh: FAILED: $*"; exit 1; }
cleanup() {
    q -d $db -c "SELECT cyoda_wf.stop_workers()" >/dev/null 2>&1 || true
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
      >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT

q -d postgres -c "CREATE DATABASE $db"
q -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
CREATE FUNCTION public.af_ship(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT data || '{"shipped": true}' $$;
SELECT cyoda_wf.import_workflows('af', 1, $json$
{"workflows": [{"name": "w", "initialState": "new", "states": {
  "new": {"transitions": [{"name": "ship", "next": "shipped", "manual": true,
    "processors": [{"name": "af_ship", "executionMode": "ASYNC_NEW_TX"}]}]},
  "shipped": {"transitions": []}}}]}
$json$);
SQL

# 1 + 2: two fires in one transaction, listened to
out=$(q -d $db 2>&1 <<'SQL'
LISTEN cyoda_wf;
SELECT cyoda_wf.add_item('af', 1, '{}') AS a \gset
SELECT cyoda_wf.add_item('af', 1, '{}') AS b \gset
BEGIN;
SELECT cyoda_wf.fire(:'a', 'ship');
SELECT cyoda_wf.fire(:'b', 'ship');
COMMIT;
SQL
)
norm=$(sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/<id>/g; s/PID [0-9]+/PID <pid>/; s/task [0-9]+/task <n>/' <<<"$out")
want='Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "model": "af", "state": "new", "version": 2, "changeType": "UPDATE", "transition": "ship", "modelVersion": 1, "queued": true}" received from server process with PID <pid>.'
[[ $(grep -c -F "$want" <<<"$norm") == 2 ]] || fail "queued payload: got
$norm"
[[ $(grep -c 'NOTICE:  transition "ship" of entity <id> queued as task <n>' <<<"$norm") == 2 ]] ||
    fail "the NOTICE naming the task: got
$norm"
[[ $(grep -c "WARNING:  no cyoda_wf worker serves database \"$db\"" <<<"$norm") == 1 ]] ||
    fail "one WARNING per transaction: got
$norm"
grep -q 'HINT:  Add the database to cyoda_wf.database_name (then restart), run cyoda_wf.start_workers(), or CALL cyoda_wf.run_tasks().' <<<"$norm" ||
    fail "the WARNING's hint: got
$norm"
[[ $(grep -c '^new$' <<<"$norm") == 2 ]] || fail "fire returns the source state: got
$norm"

# 3: a dynamic worker serves the database: no WARNING; it runs the tasks
[[ $(q -d $db -c "SELECT cyoda_wf.start_workers(1)") -ge 1 ]] || fail "start_workers"
out=$(q -d $db 2>&1 <<'SQL'
SELECT cyoda_wf.add_item('af', 1, '{}') AS c \gset
SELECT cyoda_wf.fire(:'c', 'ship');
SQL
)
grep -q 'WARNING' <<<"$out" && fail "a WARNING although a worker serves the database: $out"
for _ in $(seq 1 300); do
    left=$(q -d $db -c "SELECT count(*) FROM cyoda_wf.entity WHERE state <> 'shipped'")
    [[ $left == 0 ]] && break
    sleep 0.2
done
[[ $left == 0 ]] || fail "the worker did not ship the entities ($left left)"
echo "async_fire.sh: ok"
