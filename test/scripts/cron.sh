#!/usr/bin/env bash
# test/scripts/cron.sh: schedule_job / unschedule_job with a real pg_cron.
#
# Starts its own cluster (pg_cron and cyoda_wf preloaded, cron.database_name
# = its database, pg_cron running jobs in background workers so that no
# network connection is needed), then:
#   - schedule_job('cw_tick', '* * * * *', 'tick_job', 1, '{"k": 1}') returns
#     the id of a cron.job row whose command calls add_scheduled_item;
#   - within ~75 s (pg_cron has minute granularity) an entity of model
#     tick_job with source SCHEDULED and the job's data exists, and the run
#     is recorded as succeeded in cron.job_run_details;
#   - a non-superuser LOGIN role granted only USAGE on schema cyoda_wf and
#     EXECUTE on schedule_job, unschedule_job and add_scheduled_item (no
#     rights on pg_cron) schedules a job: it runs as that role, its command is
#     exactly the add_scheduled_item call with quoted literals, it creates
#     entities; the role cannot replace a job of its own that schedule_job did
#     not make (42710) nor touch another role's job of the same name;
#   - unschedule_job('cw_tick') returns true, then false;
#   - DROP EXTENSION cyoda_wf rolled back keeps the jobs; committed, it
#     removes every schedule_job job of the database (other jobs stay), and
#     the workers log no error for the next seconds; CREATE EXTENSION again:
#     worker_status() lists the workers at once and they run queued work;
#     DROP SCHEMA cyoda_wf CASCADE and DROP EXTENSION jsonb_plpython3u
#     CASCADE (which drops cyoda_wf) remove the jobs too;
#   - schedule_job in a database without pg_cron makes its job in pg_cron's
#     database, for that database; unschedule_job there removes it;
#   - in a second cluster where only pg_cron is preloaded, DROP EXTENSION in
#     a session that never loaded cyoda_wf's library removes the jobs too.
# Environment (optional): CW_LIB (scripts/lib.sh), CW_PG_CONFIG.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CW_LIB=${CW_LIB:-$HERE/../../scripts/lib.sh}
# shellcheck source=scripts/lib.sh
source "$CW_LIB"
cw_clean_pg_env

DB=crondb
FAILED=0

die() {
    echo "cron.sh: FAILED: $*"
    if [[ -n ${DIR:-} && -f $DIR/log ]]; then
        echo "---- last 30 lines of the server log ----"
        tail -n 30 "$DIR/log"
    fi
    exit 1
}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "${2:-$DB}" -c "$1"; }
qu() { psql -X -qAt -v ON_ERROR_STOP=1 -U cw_cron_user -d "$DB" -c "$1"; }

cw_mktemp
DIR=$CW_MKTEMP/c
PORT=$(cw_free_port)
cw_start_cluster "$DIR" "$PORT" \
    "shared_preload_libraries = 'pg_cron,cyoda_wf'" \
    "cron.database_name = '$DB'" \
    "cron.use_background_workers = on" \
    "cron.host = '$DIR'" \
    "cyoda_wf.database_name = '$DB'" \
    "cyoda_wf.worker_idle_ms = 500" \
    "max_worker_processes = 20"
echo "cluster: $DIR port $PORT"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB" -c "CREATE DATABASE nocron"
for d in "$DB" nocron; do
    psql -X -q -v ON_ERROR_STOP=1 -d "$d" \
        -c "SET client_min_messages = warning" -c "CREATE EXTENSION cyoda_wf CASCADE"
done
q "SET client_min_messages = warning; CREATE EXTENSION pg_cron"
# the models the jobs save are declared (cyoda_wf.require_model = known)
q "SELECT count(*) FROM unnest(ARRAY['tick_job', 'user_job']) m,
          cyoda_wf.import_workflows(m, 1, '{\"workflows\": []}')" >/dev/null

# schedule_job creates the pg_cron job.
jobid=$(q "SELECT cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1, '{\"k\": 1}')")
[[ $jobid =~ ^[0-9]+$ ]] || die "schedule_job returned '$jobid'"
cw_check "schedule_job returns the cron.job id" \
    "$(q "SELECT jobid FROM cron.job WHERE jobname = 'cw_tick'")" "$jobid"
cw_check "cron.job row: schedule, database, command" \
    "$(q "SELECT schedule || ' ' || database || ' ' ||
                 (command LIKE '%cyoda_wf.add_scheduled_item(%tick_job%')::text
            FROM cron.job WHERE jobid = $jobid")" "* * * * * $DB true"
# scheduling again under the same name replaces the job
cw_check "schedule_job again keeps one job of that name" \
    "$(q "SELECT cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1, '{\"k\": 1}') = $jobid,
                 (SELECT count(*) FROM cron.job WHERE jobname = 'cw_tick')")" "t|1"

# A role that is not a superuser, granted EXECUTE (and nothing on pg_cron).
q "CREATE ROLE cw_cron_user LOGIN;
   GRANT USAGE ON SCHEMA cyoda_wf TO cw_cron_user;
   GRANT EXECUTE ON FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb),
                             cyoda_wf.unschedule_job(text),
                             cyoda_wf.add_scheduled_item(text, integer, jsonb) TO cw_cron_user"
cw_check "the role has no rights on pg_cron's schema" \
    "$(q "SELECT has_schema_privilege('cw_cron_user', 'cron', 'USAGE')")" f
ujob=$(qu "SELECT cyoda_wf.schedule_job('user_tick', '* * * * *', 'user_job', 1,
                                         '{\"who\": \"it''s me\"}')" 2>&1) ||
    die "schedule_job by a non-superuser granted EXECUTE failed: $ujob"
cw_check "non-superuser's job: runs as that role, in this database, exactly the add_scheduled_item call" \
    "$(q "SELECT username || ' ' || database || ' ' || command FROM cron.job WHERE jobid = $ujob")" \
    "cw_cron_user $DB SELECT cyoda_wf.add_scheduled_item('user_job', 1, '{\"who\": \"it''s me\"}'::jsonb)"
cw_check "a model name with quotes stays one literal" \
    "$(qu "SELECT cyoda_wf.schedule_job('user_quote', '0 0 1 1 *', 'x''); DROP TABLE t; --', 1)" >/dev/null
       q "SELECT command FROM cron.job WHERE jobname = 'user_quote'")" \
    "SELECT cyoda_wf.add_scheduled_item('x''); DROP TABLE t; --', 1, '{}'::jsonb)"
cw_check "the role's job named cw_tick is its own; the superuser's cw_tick is untouched" \
    "$(qu "SELECT cyoda_wf.schedule_job('cw_tick', '0 0 1 1 *', 'user_job', 1) <> $jobid" 2>&1),$(q "
        SELECT string_agg(username || ':' || schedule, ' ' ORDER BY username) FROM cron.job WHERE jobname = 'cw_tick'")" \
    "t,cw_cron_user:0 0 1 1 * postgres:* * * * *"
cw_check "unschedule_job by the role removes only its own cw_tick" \
    "$(qu "SELECT cyoda_wf.unschedule_job('cw_tick')"),$(q "
        SELECT string_agg(username, ' ') FROM cron.job WHERE jobname = 'cw_tick'")" "t,postgres"
q "SELECT cron.schedule_in_database('user_other', '0 0 1 1 *', 'SELECT 1', '$DB', 'cw_cron_user')" >/dev/null
err=$(qu "SELECT cyoda_wf.schedule_job('user_other', '* * * * *', 'user_job', 1)" 2>&1 || true)
cw_check "schedule_job does not replace a job of the role it did not make (42710)" \
    "$(grep -c 'was not made by schedule_job' <<<"$err" || true),$(q "
        SELECT command FROM cron.job WHERE jobname = 'user_other'")" "1,SELECT 1"

# Wait for a tick (minute granularity: at most ~60 s, allow 75).
echo "waiting for pg_cron's next minute (up to 75 s)..."
found=
for ((i = 0; i < 150; i++)); do
    found=$(q "SELECT count(*) FILTER (WHERE model = 'tick_job') * count(*) FILTER (WHERE model = 'user_job')
                 FROM cyoda_wf.entity WHERE source = 'SCHEDULED'")
    ((found > 0)) && break
    sleep 0.5
done
if ((found == 0)); then
    echo "cron.job_run_details:"
    q "SELECT jobid, username, status, return_message FROM cron.job_run_details ORDER BY runid" || true
    die "no entity of model tick_job and of model user_job with source SCHEDULED after 75 s"
fi
echo "tick after $((i / 2)) s"
cw_check "the non-superuser's job created an entity, as that role" \
    "$(q "SELECT e.data::text || ' ' || string_agg(DISTINCT a.role, ',')
            FROM cyoda_wf.entity e JOIN cyoda_wf.audit a ON a.entity_id = e.id
           WHERE e.model = 'user_job' GROUP BY e.id, e.data ORDER BY min(a.at) LIMIT 1")" \
    '{"who": "it'"'"'s me"} cw_cron_user'
cw_check "scheduled entity: source, state, data, parent" \
    "$(q "SELECT source || ' ' || state || ' ' || data::text || ' ' || (parent_id IS NULL)::text
            FROM cyoda_wf.entity WHERE model = 'tick_job' ORDER BY created_at LIMIT 1")" \
    'SCHEDULED CREATED {"k": 1} true'
cw_check "the entity went through its workflow (audit NEW)" \
    "$(q "SELECT count(*) >= 1 FROM cyoda_wf.audit a JOIN cyoda_wf.entity e ON e.id = a.entity_id
           WHERE e.model = 'tick_job' AND a.event_type = 'TRANSITION_MAKE' AND a.transition = 'NEW'
             AND a.to_state = 'CREATED'")" t
for ((i = 0; i < 20; i++)); do   # the run's row is finished just after the commit
    st=$(q "SELECT string_agg(DISTINCT status, ',') FROM cron.job_run_details WHERE jobid = $jobid")
    [[ $st == succeeded ]] && break
    sleep 0.25
done
cw_check "cron.job_run_details: run succeeded" "$st" succeeded

# unschedule_job: true, then false.
cw_check "unschedule_job first time" "$(q "SELECT cyoda_wf.unschedule_job('cw_tick')")" t
cw_check "unschedule_job second time" "$(q "SELECT cyoda_wf.unschedule_job('cw_tick')")" f
cw_check "no cron.job left" "$(q "SELECT count(*) FROM cron.job WHERE jobname = 'cw_tick'")" 0

# DROP EXTENSION removes the jobs schedule_job made, in the dropping transaction.
jobid=$(q "SELECT cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1)")
q "SELECT cron.schedule('not_ours', '0 0 1 1 *', 'SELECT 1')" >/dev/null
ours="SELECT count(*) FROM cron.job WHERE command LIKE 'SELECT cyoda_wf.add_scheduled_item(%'"
cw_check "jobs of schedule_job before the drop" "$(q "$ours")" 3
q "BEGIN; DROP EXTENSION cyoda_wf; ROLLBACK"
cw_check "DROP EXTENSION rolled back: the jobs stay" "$(q "$ours")" 3
# the static workers started before $DB existed: they find it and start again
for ((i = 0; i < 120; i++)); do
    [[ $(q "SELECT count(*) FROM cyoda_wf.worker_status() WHERE kind = 'static'") == 2 ]] && break
    sleep 0.5
done
workers_before=$(q "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM cyoda_wf.worker_status()")
cw_check "two static workers serve $DB" "$(wc -w <<<"$workers_before")" 2
logpos=$(stat -c %s "$DIR/log")
q "DROP EXTENSION cyoda_wf"
cw_check "DROP EXTENSION removed the jobs of schedule_job" "$(q "$ours")" 0
cw_check "... and no other job" "$(q "SELECT string_agg(jobname, ' ' ORDER BY jobname) FROM cron.job")" \
    "not_ours user_other"
# idle workers wake every 500 ms (worker_idle_ms) and look for the extension
# once a second while it is missing: a few of both
sleep 3
tail -c +"$((logpos + 1))" "$DIR/log" >"$CW_MKTEMP/after_drop.log"
cw_check "server log after DROP EXTENSION: no error from the workers" \
    "$(grep -cE 'ERROR|does not exist' "$CW_MKTEMP/after_drop.log" || true)" 0
cw_check "the workers still run (waiting for the extension)" \
    "$(q "SELECT string_agg(pid::text, ' ' ORDER BY pid) FROM pg_stat_activity
           WHERE backend_type = 'cyoda_wf worker' AND datname = current_database()")" "$workers_before"

q "SET client_min_messages = warning; CREATE EXTENSION cyoda_wf"
cw_check "worker_status() right after CREATE EXTENSION lists the workers" \
    "$(q "SELECT string_agg(pid::text || ':' || kind, ' ' ORDER BY pid) FROM cyoda_wf.worker_status()")" \
    "$(sed 's/\([0-9]*\)/\1:static/g' <<<"$workers_before")"
q "CREATE FUNCTION public.cron_mark(meta jsonb, data jsonb) RETURNS jsonb LANGUAGE sql
     AS \$\$ SELECT data || '{\"marked\": true}' \$\$;
   SELECT cyoda_wf.import_workflows('again', 1, '{\"workflows\": [{\"name\": \"w\", \"initialState\": \"a\",
     \"states\": {\"a\": {\"transitions\": [{\"name\": \"go\", \"next\": \"b\",
        \"processors\": [{\"name\": \"cron_mark\", \"executionMode\": \"ASYNC_NEW_TX\"}]}]},
                  \"b\": {}}}]}');
   SELECT cyoda_wf.add_item('again', 1, '{}')" >/dev/null
for ((i = 0; i < 100; i++)); do
    st=$(q "SELECT state || ' ' || (data->>'marked') FROM cyoda_wf.entity WHERE model = 'again'")
    [[ $st == "b true" ]] && break
    sleep 0.2
done
cw_check "after CREATE EXTENSION again the workers run queued work" "$st" "b true"
for ((i = 0; i < 50; i++)); do   # recorded just after the task's commit
    n=$(q "SELECT sum(tasks_done) FROM cyoda_wf.worker_status()")
    [[ $n == 1 ]] && break
    sleep 0.2
done
cw_check "... and record it in worker_status()" "$n" 1

# DROP SCHEMA cyoda_wf CASCADE drops the extension: its jobs go too.
q "SELECT cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1)" >/dev/null
cw_check "a job of schedule_job again" "$(q "$ours")" 1
q "SET client_min_messages = warning; DROP SCHEMA cyoda_wf CASCADE"
cw_check "DROP SCHEMA cyoda_wf CASCADE removed it" "$(q "$ours")" 0
# ... and so does a cascade from an extension cyoda_wf requires
q "SET client_min_messages = warning; CREATE EXTENSION cyoda_wf CASCADE;
   SELECT cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1)" >/dev/null
cw_check "a job of schedule_job once more" "$(q "$ours")" 1
q "SET client_min_messages = warning; DROP EXTENSION jsonb_plpython3u CASCADE"
cw_check "DROP EXTENSION jsonb_plpython3u CASCADE dropped cyoda_wf and its job" \
    "$(q "SELECT count(*) FROM pg_extension WHERE extname = 'cyoda_wf'") $(q "$ours")" "0 0"

# In a database without pg_cron: the job goes into pg_cron's database, for
# this one (test/scripts/cron_other_db.sh tests that path in full).
njob=$(q "SELECT cyoda_wf.schedule_job('cw_tick', '0 0 1 1 *', 'tick_job', 1)" nocron)
cw_check "schedule_job from a database without pg_cron: the job is in $DB, for nocron" \
    "$(q "SELECT database || ' ' || username FROM cron.job WHERE jobid = $njob")" "nocron postgres"
cw_check "unschedule_job from that database removes it" \
    "$(q "SELECT cyoda_wf.unschedule_job('cw_tick')" nocron) $(q "SELECT count(*) FROM cron.job WHERE jobid = $njob")" "t 0"

# Without cyoda_wf in shared_preload_libraries: the session that drops the
# extension has not loaded the library before the DROP (the event trigger
# loads it, whose hook then removes the jobs).
DIR2=$CW_MKTEMP/c2
cw_start_cluster "$DIR2" "$(cw_free_port)" \
    "shared_preload_libraries = 'pg_cron'" \
    "cron.database_name = '$DB'" \
    "cron.use_background_workers = on" \
    "cron.host = '$DIR2'" \
    "max_worker_processes = 20"
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
q "SET client_min_messages = warning; CREATE EXTENSION cyoda_wf CASCADE; CREATE EXTENSION pg_cron;
   SELECT cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1)" >/dev/null
cw_check "not preloaded: a job of schedule_job" "$(q "$ours")" 1
cw_check "not preloaded: a new session has not loaded the library" \
    "$(q "SELECT count(*) FROM pg_catalog.pg_settings WHERE name LIKE 'cyoda_wf.%'")" 0
q "DROP EXTENSION cyoda_wf"
cw_check "not preloaded: DROP EXTENSION in that session removed the job" "$(q "$ours")" 0
cw_stop_cluster "$DIR2"
export PGHOST=$DIR PGPORT=$PORT

if grep -q 'cyoda_wf.model does not exist' "$DIR/log"; then
    echo "FAIL  the workers hit a missing table:"
    grep -B1 -A1 'cyoda_wf.model does not exist' "$DIR/log" | head
    FAILED=1
fi
if grep -qE 'terminated by signal|PANIC:|TRAP:' "$DIR/log"; then
    echo "FAIL  crash in the server log:"
    grep -E 'terminated by signal|PANIC:|TRAP:' "$DIR/log" | head
    FAILED=1
fi
((FAILED == 0)) || die "see FAIL lines above"
echo "cron.sh: passed"
