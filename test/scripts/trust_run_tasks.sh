#!/usr/bin/env bash
# CALL run_tasks() outside a transaction block commits after every task.  An
# ASYNC_NEW_TX process that sets default_transaction_read_only,
# statement_timeout, lock_timeout and search_path for the session must leave
# the calling session as it was, and the tasks after it must still run (in
# the same CALL and in the next one).
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}"
export PGUSER=${PGUSER:-postgres}
db=cw_trust_tasks
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT

q -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
CREATE FUNCTION public.poison(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM set_config('default_transaction_read_only', 'on', false);
  PERFORM set_config('statement_timeout', '4242s', false);
  SET lock_timeout = '4343s';
  PERFORM set_config('search_path', 'nowhere', false);
  RETURN data || '{"ran": true}';
END $$;
SELECT cyoda_wf.import_workflows('job', 1, '{"workflows": [{"name": "w", "initialState": "new",
  "states": {"new": {"transitions": [{"name": "go", "next": "done",
                     "processors": [{"name": "poison", "executionMode": "ASYNC_NEW_TX"}]}]},
             "done": {}}}]}');
SELECT cyoda_wf.add_item('job', 1, jsonb_build_object('n', g)) FROM generate_series(1, 4) g;
SQL

settings="SELECT concat_ws(' | ', current_setting('default_transaction_read_only'), current_setting('statement_timeout'),
                 current_setting('lock_timeout'), current_setting('search_path'))"
out=$(q -d $db 2>&1 <<SQL || true
$settings;
CALL cyoda_wf.run_tasks(1);
$settings;
CALL cyoda_wf.run_tasks();
$settings;
SQL
)
echo "$out"
mapfile -t lines <<<"$out"
if [[ ${#lines[@]} -ne 3 || "${lines[1]}" != "${lines[0]}" || "${lines[2]}" != "${lines[0]}" ]]; then
    echo "FAIL: run_tasks changed the session's settings, or a CALL failed"
    exit 1
fi
states=$(q -d $db -c "SELECT string_agg(state || ':' || coalesce(data->>'ran', '-'), ',' ORDER BY id) FROM cyoda_wf.entity")
tasks=$(q -d $db -c "SELECT string_agg(state, ',' ORDER BY id) FROM cyoda_wf.task")
echo "entities: $states"
echo "tasks:    $tasks"
[[ "$states" == "done:true,done:true,done:true,done:true" && "$tasks" == "done,done,done,done" ]] ||
    { echo "FAIL: the tasks after a process that changed settings did not all run"; exit 1; }
echo "run_tasks after setting processes: ok"
