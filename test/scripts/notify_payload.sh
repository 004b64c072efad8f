#!/usr/bin/env bash
# test/scripts/notify_payload.sh: what the NOTIFY cyoda_wf of a committed
# save tells every listener (cyoda_wf.notify_payload).
#
# In the running cluster, a database of its own:
#   1. by default (full) the payload has the entity's id, model, state,
#      version, changeType, transition and modelVersion;
#   2. after ALTER DATABASE ... SET cyoda_wf.notify_payload = id, the saves
#      of a role that is not a superuser (create, update, delete) send only
#      {"id": ..., "changeType": ...}; that role cannot SET the payload back
#      to full (42501); a superuser can, for its own session;
#   3. cyoda_wf.notify = off still sends nothing.
# Each psql session LISTENs and reads its own notifications, which psql
# prints after the command whose transaction sent them committed.
# Environment: PGHOST, PGPORT (the test cluster).
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}"
export PGUSER=${PGUSER:-postgres}
db=cw_notify_payload
role=cw_np_writer
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "notify_payload.sh: FAILED: $*"; exit 1; }
cleanup() {
    q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
      -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
}
cleanup
trap cleanup EXIT

q -d postgres -c "CREATE DATABASE $db" -c "CREATE ROLE $role LOGIN"
q -d $db >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
-- the model saved below is declared (cyoda_wf.require_model = known)
SELECT cyoda_wf.import_workflows('np', 1, '{"workflows": []}');
GRANT USAGE ON SCHEMA cyoda_wf TO $role;
GRANT EXECUTE ON FUNCTION cyoda_wf.add_item(text, integer, jsonb),
                          cyoda_wf.update_item(uuid, jsonb, text, bigint),
                          cyoda_wf.delete_item(uuid) TO $role;
SQL

# The notifications a session printed, ids and pids replaced, in order.
notifications() {
    grep '^Asynchronous notification' |
        sed -E 's/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/<id>/g; s/PID [0-9]+/PID <pid>/'
}

# 1. the default payload
got=$(q -d $db 2>&1 <<'SQL' | notifications
LISTEN cyoda_wf;
SELECT cyoda_wf.add_item('np', 1, '{"a": 1}');
SQL
)
want='Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "model": "np", "state": "CREATED", "version": 1, "changeType": "CREATE", "transition": "NEW", "modelVersion": 1}" received from server process with PID <pid>.'
[[ $got == "$want" ]] || fail "default payload: got
$got
want
$want"

# 2. id only, chosen for the database by a superuser
q -d postgres -c "ALTER DATABASE $db SET cyoda_wf.notify_payload = id"
out=$(psql -X -q -At -d $db -U $role 2>&1 <<'SQL'
LISTEN cyoda_wf;
SELECT cyoda_wf.add_item('np', 1, '{"a": 2}') AS id \gset
SELECT cyoda_wf.update_item(:'id', '{"a": 3}');
SELECT cyoda_wf.delete_item(:'id');
SET cyoda_wf.notify_payload = full;
\echo sqlstate :LAST_ERROR_SQLSTATE
SELECT current_setting('cyoda_wf.notify_payload');
SELECT cyoda_wf.add_item('np', 1, '{"a": 4}') IS NOT NULL;
SET cyoda_wf.notify = off;
SELECT cyoda_wf.add_item('np', 1, '{"a": 5}') IS NOT NULL;
SQL
)
got=$(notifications <<<"$out")
want='Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "changeType": "CREATE"}" received from server process with PID <pid>.
Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "changeType": "UPDATE"}" received from server process with PID <pid>.
Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "changeType": "DELETE"}" received from server process with PID <pid>.
Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "changeType": "CREATE"}" received from server process with PID <pid>.'
[[ $got == "$want" ]] || fail "payload id for a writer: got
$got
want
$want
(session output:
$out)"
grep -qx 'sqlstate 42501' <<<"$out" || fail "a role that is not a superuser could SET cyoda_wf.notify_payload:
$out"
[[ $(grep -cx 'id' <<<"$out") -eq 1 ]] || fail "the writer's session does not show notify_payload = id:
$out"

# a superuser may choose otherwise for its own session
got=$(q -d $db 2>&1 <<'SQL' | notifications
LISTEN cyoda_wf;
SELECT cyoda_wf.add_item('np', 1, '{"a": 6}') IS NOT NULL;
SET cyoda_wf.notify_payload = full;
SELECT cyoda_wf.add_item('np', 1, '{"a": 7}') IS NOT NULL;
SQL
)
want='Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "changeType": "CREATE"}" received from server process with PID <pid>.
Asynchronous notification "cyoda_wf" with payload "{"id": "<id>", "model": "np", "state": "CREATED", "version": 1, "changeType": "CREATE", "transition": "NEW", "modelVersion": 1}" received from server process with PID <pid>.'
[[ $got == "$want" ]] || fail "superuser session: got
$got
want
$want"

echo "notify_payload.sh: ok"
