#!/usr/bin/env bash
# test/scripts/dump_restore.sh: a database restored from pg_dump is the one
# that was dumped, and its engine goes on from there.
#
# Three clusters of its own, each with pg_cron and cyoda_wf preloaded and
# pg_cron's database cw_app:
#   source  cw_app: workflows with Python processes loaded by load_functions,
#           entities in several states (children with parent_id, entities
#           saved several times, a deleted one), a failed, a pending and a
#           done async task, armed timers, a retention policy, a connection
#           with a secret, a file root, a pg_cron job made by schedule_job.
#           No cyoda_wf worker serves it: tasks run only when CALLed.
#   plain   CREATE DATABASE cw_app; pg_dump -d cw_app | psql -d cw_app
#           (ON_ERROR_STOP: any error fails the test)
#   custom  CREATE DATABASE cw_app; pg_dump -Fc -d cw_app -f FILE;
#           pg_restore --exit-on-error -d cw_app FILE
# On both targets two cyoda_wf workers serve cw_app while it is restored.
# As superuser postgres, with no other option.  Each restored database is
# compared with the source table by table (every column of every row of
# every table of schemas cyoda_wf and cron but the worker list), sequence
# positions and the process functions included; a connection listening on
# channel cyoda_wf during the restore gets no notification.  Then the
# restored engine works: fire, add_item with a Python process adding
# children, an async task run by run_tasks or the workers, the restored
# timer firing once, retry_task of the restored failed task; new audit and
# task ids follow the restored ones.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CW_LIB=${CW_LIB:-$HERE/../../scripts/lib.sh}
# shellcheck source=scripts/lib.sh
source "$CW_LIB"
cw_clean_pg_env
cw_mktemp
WORK=${CW_TMP:-$CW_MKTEMP}
DB=cw_app
FAILED=0

die() { echo "dump_restore.sh: FAILED: $*"; exit 1; }

# start_cluster NAME [setting ...]: a cluster in $CW_MKTEMP/NAME; sets
# NAME_DIR and NAME_PORT.
start_cluster() {
    local name=$1 dir port
    shift
    dir=$CW_MKTEMP/$name
    port=$(cw_free_port)
    cw_start_cluster "$dir" "$port" \
        "cron.database_name = '$DB'" "cron.use_background_workers = on" \
        "max_worker_processes = 20" "$@" || die "cluster $name did not start"
    printf -v "${name}_DIR" '%s' "$dir"
    printf -v "${name}_PORT" '%s' "$port"
}
# on NAME CMD...: run CMD against cluster NAME.
on() {
    local dir=${1}_DIR port=${1}_PORT
    shift
    PGHOST=${!dir} PGPORT=${!port} PGUSER=postgres "$@"
}
# q NAME SQL: one query on cw_app of cluster NAME, unaligned tuples.
q() { on "$1" psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$2"; }

start_cluster src "cyoda_wf.workers = 0"
start_cluster plain "cyoda_wf.database_name = '$DB'" "cyoda_wf.workers = 2" "cyoda_wf.worker_idle_ms = 200"
start_cluster custom "cyoda_wf.database_name = '$DB'" "cyoda_wf.workers = 2" "cyoda_wf.worker_idle_ms = 200"
for c in src plain custom; do
    on $c psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
done

# ---------------------------------------------------------------------------
# The source database
# ---------------------------------------------------------------------------
on src psql -X -q -v ON_ERROR_STOP=1 -d $DB >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
CREATE EXTENSION pg_cron;
-- a shard of a cluster: its ids carry shard 7, before and after a restore
SELECT cyoda_wf.set_shard(7);
SELECT * FROM cyoda_wf.load_functions($py$
from cyoda_wf import entity_service

def spawn_lines(meta, data):
    for i in range(data.get("lines", 0)):
        entity_service.add_item(meta["token"], "line", 1, {"order": data.get("n"), "line": i})
    data["lines_made"] = data.get("lines", 0)
    return data

def stamp(meta, data):
    data["stamped"] = meta["transition"]
    return data

def charge(meta, data):
    if not data.get("pay_ok"):
        raise Exception("card declined for order %s" % data.get("n"))
    data["charged"] = True
    return data
$py$);
-- "line", made by spawn_lines, runs the default workflow; declared for
-- cyoda_wf.require_model = known
SELECT cyoda_wf.import_workflows('line', 1, '{"workflows": []}');
SELECT cyoda_wf.import_workflows('order', 1, $json$
{"workflows": [{"name": "order_wf", "initialState": "new", "states": {
  "new": {"transitions": [{"name": "submit", "next": "submitted", "processors": [{"name": "spawn_lines"}]}]},
  "submitted": {"transitions": [
    {"name": "approve", "next": "approved", "manual": true, "processors": [{"name": "stamp"}]},
    {"name": "remind", "next": "reminded", "schedule": {"delayMs": 3600000}}]},
  "reminded": {"transitions": [{"name": "approve", "next": "approved", "manual": true}]},
  "approved": {"transitions": [
    {"name": "bill", "next": "billed", "manual": true,
     "processors": [{"name": "charge", "executionMode": "ASYNC_NEW_TX", "config": {"retryPolicy": "NONE"}}]},
    {"name": "ship", "next": "shipped", "manual": true,
     "processors": [{"name": "charge", "executionMode": "ASYNC_NEW_TX", "config": {"retryPolicy": "FIXED"}}]}]},
  "billed": {"transitions": []},
  "shipped": {"transitions": []}}}]}
$json$);
-- orders 1..7, all submitted (a timer armed each); 1 and 2 get two lines each
SELECT cyoda_wf.add_item('order', 1, jsonb_build_object('n', g, 'lines', CASE WHEN g <= 2 THEN 2 ELSE 0 END))
  FROM generate_series(1, 7) g;
SELECT cyoda_wf.fire(id, 'approve') FROM cyoda_wf.entity WHERE model = 'order' AND (data->>'n')::int <= 4;
-- order 5 saved several times (each save re-arms its timer)
SELECT cyoda_wf.update_item(id, data || jsonb_build_object('note', 'v' || g))
  FROM cyoda_wf.entity, generate_series(2, 4) g WHERE model = 'order' AND data->>'n' = '5';
-- lines saved several times too
SELECT cyoda_wf.update_item(id, data || '{"qty": 3}') FROM cyoda_wf.entity WHERE model = 'line';
UPDATE cyoda_wf.entity SET data = data || '{"qty": 4}' WHERE model = 'line' AND data->>'line' = '0';
-- order 1: bill fails (retryPolicy NONE): a failed task
SELECT cyoda_wf.fire(id, 'bill') FROM cyoda_wf.entity WHERE model = 'order' AND data->>'n' = '1';
-- order 2: ship fails once and waits an hour for its retry: a pending task
SET cyoda_wf.retry_delay_ms = 3600000;
SELECT cyoda_wf.fire(id, 'ship') FROM cyoda_wf.entity WHERE model = 'order' AND data->>'n' = '2';
RESET cyoda_wf.retry_delay_ms;
-- order 3: billed
SELECT cyoda_wf.update_item(id, data || '{"pay_ok": true}', 'bill') FROM cyoda_wf.entity
 WHERE model = 'order' AND data->>'n' = '3';
CALL cyoda_wf.run_tasks();
-- order 6: deleted, its history kept
SELECT cyoda_wf.delete_item(id) FROM cyoda_wf.entity WHERE model = 'order' AND data->>'n' = '6';
SELECT cyoda_wf.set_retention('line', keep_versions => 5);
SELECT cyoda_wf.create_connection('billing_api', '{"url": "http://127.0.0.1:9/charges",
                                                   "headers": {"Authorization": "Bearer s3cret"}}');
INSERT INTO cyoda_wf.ingest_file_root VALUES ('/srv/feeds');
-- a pg_cron job (31 February: it never runs during the test)
SELECT cyoda_wf.schedule_job('cw_nightly', '0 3 31 2 *', 'order', 1, '{"n": 99}');
SQL

summary="SELECT (SELECT string_agg(s, ' ' ORDER BY s) FROM (SELECT model || '/' || state || ':' || count(*) s
                FROM cyoda_wf.entity GROUP BY model, state) x)
         || ' | tasks ' || (SELECT string_agg(s, ' ' ORDER BY s) FROM (SELECT kind || '/' || state || ':' || count(*) s
                FROM cyoda_wf.task GROUP BY kind, state) y)
         || ' | children ' || (SELECT count(*) FROM cyoda_wf.entity WHERE parent_id IS NOT NULL)
         || ' | deleted ' || (SELECT count(*) FROM cyoda_wf.entity_version WHERE change_type = 'DELETE')
         || ' | cron ' || (SELECT count(*) FROM cron.job)"
src_summary=$(q src "$summary")
echo "source: $src_summary"
cw_check "source: the states, tasks, children, deletion and cron job the test needs" "$src_summary" \
    "connection/CREATED:1 line/CREATED:4 order/approved:3 order/billed:1 order/submitted:2 | tasks process/done:1 process/failed:1 process/pending:1 timer/cancelled:8 timer/pending:2 | children 4 | deleted 1 | cron 1"
[[ $FAILED == 0 ]] || die "the source database is not what the test needs"

# Every table of the extension but the worker list is extension
# configuration, so pg_dump keeps its rows.
cw_check "every table of cyoda_wf (but worker) and every sequence is dumped with the data" \
    "$(q src "SELECT coalesce(string_agg(c.relname, ', '), 'all') FROM pg_class c
               WHERE c.relnamespace = 'cyoda_wf'::regnamespace AND c.relkind IN ('r', 'S')
                 AND c.relname <> 'worker'
                 AND c.oid <> ALL (SELECT unnest(extconfig) FROM pg_extension WHERE extname = 'cyoda_wf')")" all

# The digest of a database: one line per table (rows and md5 of all rows as
# text, sorted) and per sequence, plus the functions of schema public.
digest() {
    on "$1" psql -X -qAt -v ON_ERROR_STOP=1 -d $DB <<'SQL'
SELECT format($q$SELECT %L || ' ' || count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '-') FROM %s t$q$,
              c.oid::regclass, c.oid::regclass)
  FROM pg_class c
 WHERE c.relnamespace IN ('cyoda_wf'::regnamespace, 'cron'::regnamespace) AND c.relkind = 'r'
   AND c.oid <> 'cyoda_wf.worker'::regclass
 ORDER BY c.oid::regclass::text \gexec
SELECT format($q$SELECT %L || ' ' || last_value || ' ' || is_called FROM %s$q$, c.oid::regclass, c.oid::regclass)
  FROM pg_class c
 WHERE c.relnamespace IN ('cyoda_wf'::regnamespace, 'cron'::regnamespace) AND c.relkind = 'S'
 ORDER BY c.oid::regclass::text \gexec
SELECT 'functions ' || count(*) || ' ' || md5(string_agg(pg_get_functiondef(p.oid) || coalesce(p.proacl::text, ''), E'\n'
                                                          ORDER BY p.oid::regprocedure::text))
  FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace;
SELECT 'extensions ' || string_agg(extname || '=' || extversion, ',' ORDER BY extname) FROM pg_extension;
SQL
}
digest src >"$WORK/src.digest"
echo "---- source digest ----"
cat "$WORK/src.digest"

# A connection listening on channel cyoda_wf in the target while it is restored.
listen_start() {
    rm -f "$WORK/listen.in"
    mkfifo "$WORK/listen.in"
    on "$1" psql -X -qAt -d $DB <"$WORK/listen.in" >"$WORK/listen.out" 2>&1 &
    LISTENER=$!
    exec 7>"$WORK/listen.in"
    echo "LISTEN cyoda_wf; SELECT 'listening';" >&7
}
# The restore is over: mark the listener's output.
listen_mark() {
    echo "SELECT pg_sleep(0.2); SELECT 'restored';" >&7
}
# A save made through the listening connection (it notifies itself), then the
# notifications seen before and after the mark.
listen_finish() {
    echo "SELECT cyoda_wf.add_item('line', 1, '{\"probe\": true}') IS NOT NULL; SELECT 'probed';" >&7
    exec 7>&-
    wait "$LISTENER"
    cw_check "$1: no notification sent by the restore" \
        "$(sed -n '/^restored$/q;p' "$WORK/listen.out" | grep -c 'Asynchronous notification' || true)" 0
    cw_check "$1: (the listener works: its own save notified)" \
        "$(sed -n '/^restored$/,$p' "$WORK/listen.out" | grep -c 'Asynchronous notification' || true)" 1
}

# What the restored database must show, then its engine at work.
verify() {
    local t=$1 id src_max_audit src_max_task got
    digest "$t" >"$WORK/$t.digest"
    if diff -u "$WORK/src.digest" "$WORK/$t.digest"; then
        echo "ok    $t: every table, sequence and process function as in the source"
    else
        echo "FAIL  $t: the restored database differs from the source (diff above)"
        FAILED=1
    fi
    listen_finish "$t"
    cw_check "$t: get_entity of a billed order as in the source" \
        "$(q "$t" "SELECT cyoda_wf.get_entity(id) FROM cyoda_wf.entity WHERE data->>'n' = '3'")" \
        "$(q src "SELECT cyoda_wf.get_entity(id) FROM cyoda_wf.entity WHERE data->>'n' = '3'")"
    id=$(q src "SELECT entity_id FROM cyoda_wf.entity_version WHERE change_type = 'DELETE'")
    cw_check "$t: the deleted order's history as in the source" \
        "$(q "$t" "SELECT string_agg(c::text, ';') FROM cyoda_wf.changes('$id') c")" \
        "$(q src "SELECT string_agg(c::text, ';') FROM cyoda_wf.changes('$id') c")"

    # the engine goes on
    src_max_audit=$(q src "SELECT max(id) FROM cyoda_wf.audit")
    src_max_task=$(q src "SELECT max(id) FROM cyoda_wf.task")
    cw_check "$t: fire on a restored entity" \
        "$(q "$t" "SELECT cyoda_wf.fire(id, 'approve') FROM cyoda_wf.entity WHERE data->>'n' = '5'")" approved
    cw_check "$t: its save is the next version, with a new version and audit row" \
        "$(q "$t" "SELECT e.version || ' ' || (SELECT string_agg(v.change_type || ':' || v.transition, ',')
                     FROM cyoda_wf.entity_version v WHERE v.entity_id = e.id AND v.version = e.version)
                     || ' ' || (SELECT count(*) FROM cyoda_wf.audit a WHERE a.entity_id = e.id AND a.id > $src_max_audit
                                   AND a.event_type = 'TRANSITION_MAKE')
                     FROM cyoda_wf.entity e WHERE data->>'n' = '5'")" \
        "$(( $(q src "SELECT version FROM cyoda_wf.entity WHERE data->>'n' = '5'") + 1 )) UPDATE:approve 1"
    id=$(q "$t" "SELECT cyoda_wf.add_item('order', 1, '{\"n\": 100, \"lines\": 1}')")
    cw_check "$t: add_item runs the workflow and its Python process adds a child" \
        "$(q "$t" "SELECT e.state || ' ' || (SELECT count(*) FROM cyoda_wf.entity c WHERE c.parent_id = e.id)
                     FROM cyoda_wf.entity e WHERE e.id = '$id'")" "submitted 1"
    cw_check "$t: the shard number is kept and new ids carry it, with no call" \
        "$(q "$t" "SELECT cyoda_wf.shard() || ' ' || cyoda_wf.shard_of('$id')")" "7 7"
    cw_check "$t: the new entity's id was not in the source" \
        "$(q src "SELECT count(*) FROM cyoda_wf.entity_version WHERE entity_id = '$id'")" 0
    cw_check "$t: an async transition is queued" \
        "$(q "$t" "SELECT cyoda_wf.update_item(id, data || '{\"pay_ok\": true}', 'bill')
                     FROM cyoda_wf.entity WHERE data->>'n' = '4'")" approved
    cw_check "$t: with a new task id" \
        "$(q "$t" "SELECT count(*) FROM cyoda_wf.task k JOIN cyoda_wf.entity e ON e.id = k.entity_id
                     WHERE e.data->>'n' = '4' AND k.transition = 'bill' AND k.id > $src_max_task")" 1
    # the restored timer of order 7, made due now, fires once (run_tasks or the workers)
    q "$t" "UPDATE cyoda_wf.task SET run_at = now() WHERE state = 'pending' AND kind = 'timer'
              AND entity_id = (SELECT id FROM cyoda_wf.entity WHERE data->>'n' = '7')"
    # order 1's failed task again
    cw_check "$t: retry_task of the restored failed task" \
        "$(q "$t" "SELECT cyoda_wf.retry_task(k.id) FROM cyoda_wf.task k JOIN cyoda_wf.entity e ON e.id = k.entity_id
                     WHERE e.data->>'n' = '1' AND k.state = 'failed'")" t
    for _ in $(seq 1 150); do
        got=$(q "$t" "CALL cyoda_wf.run_tasks();
                      SELECT string_agg(state, ' ' ORDER BY data->>'n') FROM cyoda_wf.entity
                       WHERE data->>'n' IN ('4', '7')
                      UNION ALL SELECT count(*)::text FROM cyoda_wf.task WHERE state = 'pending' AND run_at <= now()")
        [[ $got == $'billed reminded\n0' ]] && break
        sleep 0.2
    done
    cw_check "$t: the async task ran, the timer fired, nothing due is left" "$got" $'billed reminded\n0'
    cw_check "$t: the timer fired exactly once, as the restored task" \
        "$(q "$t" "SELECT count(*) || ' ' || string_agg(k.state, ',') || ' ' || (min(k.id) <= $src_max_task)
                     || ' ' || (SELECT count(*) FROM cyoda_wf.audit a WHERE a.entity_id = e.id AND a.transition = 'remind'
                                   AND a.event_type = 'TRANSITION_MAKE')
                     FROM cyoda_wf.task k JOIN cyoda_wf.entity e ON e.id = k.entity_id
                     WHERE e.data->>'n' = '7' AND k.transition = 'remind' AND k.state <> 'cancelled' GROUP BY e.id")" \
        "1 done true 1"
    cw_check "$t: the retried task failed again, recorded with a new audit id" \
        "$(q "$t" "SELECT k.state || ' ' || k.attempts || ' ' ||
                          (SELECT count(*) FROM cyoda_wf.audit a WHERE a.entity_id = e.id
                              AND a.event_type = 'PROCESS_FAILED' AND a.id > $src_max_audit)
                     FROM cyoda_wf.task k JOIN cyoda_wf.entity e ON e.id = k.entity_id
                     WHERE e.data->>'n' = '1' AND k.transition = 'bill'")" "failed 1 1"
    cw_check "$t: the restored pending retry still waits for its time" \
        "$(q "$t" "SELECT k.state || ' ' || k.attempts || ' ' || (k.run_at > now()) FROM cyoda_wf.task k
                     JOIN cyoda_wf.entity e ON e.id = k.entity_id WHERE e.data->>'n' = '2' AND k.transition = 'ship'")" \
        "pending 1 true"
    cw_check "$t: the restored pg_cron job is there and unschedule_job removes it" \
        "$(q "$t" "SELECT cyoda_wf.unschedule_job('cw_nightly')")" t
}

# ---------------------------------------------------------------------------
# Plain format: pg_dump | psql
# ---------------------------------------------------------------------------
echo "== plain: pg_dump -d $DB | psql -d $DB"
listen_start plain
if ! on src pg_dump -d $DB | on plain psql -X -q -v ON_ERROR_STOP=1 -d $DB >"$WORK/plain.log" 2>&1; then
    tail -n 20 "$WORK/plain.log"
    exec 7>&-
    die "the plain restore failed"
fi
listen_mark
verify plain

# ---------------------------------------------------------------------------
# Custom format: pg_dump -Fc, pg_restore
# ---------------------------------------------------------------------------
echo "== custom: pg_dump -Fc -d $DB -f FILE; pg_restore --exit-on-error -d $DB FILE"
on src pg_dump -Fc -d $DB -f "$WORK/app.dump"
listen_start custom
if ! on custom pg_restore --exit-on-error -d $DB "$WORK/app.dump" >"$WORK/custom.log" 2>&1; then
    tail -n 20 "$WORK/custom.log"
    exec 7>&-
    die "pg_restore failed"
fi
listen_mark
verify custom

if [[ $FAILED != 0 ]]; then
    echo "dump_restore.sh: FAILED"
    exit 1
fi
echo "dump and restore: ok"
