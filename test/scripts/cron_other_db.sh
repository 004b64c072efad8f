#!/usr/bin/env bash
# test/scripts/cron_other_db.sh: schedule_job / unschedule_job in a database
# that is not pg_cron's.
#
# Its own cluster: pg_cron in database postgres (cron.database_name, jobs
# run by background workers), cyoda_wf in database app only.  Then:
#   - a superuser and a non-superuser LOGIN role (granted USAGE on cyoda_wf
#     and EXECUTE on schedule_job, unschedule_job, add_scheduled_item;
#     nothing on pg_cron) schedule jobs from app: each returns the id of a
#     cron.job row in postgres with database app, the calling role as user
#     and exactly the add_scheduled_item call as command; scheduling again
#     under the same name replaces the job;
#   - the non-superuser's job runs (pg_cron 1.4 has minute granularity: up
#     to ~75 s): an entity with source SCHEDULED saved by that role in app;
#   - errors raised in pg_cron's database come back with their SQLSTATE
#     (an invalid schedule: 22023; a job of that name not made by
#     schedule_job: 42710); a role without CONNECT on postgres gets 42501
#     naming the GRANT;
#   - the call commits on its own: a ROLLBACK of the caller keeps the job;
#   - unschedule_job returns true, then false; DROP EXTENSION cyoda_wf in
#     app removes the jobs of app (a job of another database stays).
# Environment (optional): CW_LIB (scripts/lib.sh), CW_PG_CONFIG.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CW_LIB=${CW_LIB:-$HERE/../../scripts/lib.sh}
# shellcheck source=scripts/lib.sh
source "$CW_LIB"
cw_clean_pg_env

FAILED=0
die() {
    echo "cron_other_db.sh: FAILED: $*"
    if [[ -n ${DIR:-} && -f $DIR/log ]]; then
        echo "---- last 30 lines of the server log ----"
        tail -n 30 "$DIR/log"
    fi
    exit 1
}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "${2:-app}" -c "$1"; }
qu() { psql -X -qAt -v ON_ERROR_STOP=1 -U cw_app_user -d app -c "$1"; }
# the SQLSTATE and message of a failing statement, as "STATE|message|hint"
err() {
    psql -X -qAt -d "${3:-app}" ${2:+-U "$2"} -c "DO \$\$
DECLARE st text; msg text; h text;
BEGIN
  PERFORM $1;
  RAISE NOTICE 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
  RAISE NOTICE '%|%|%', st, msg, h;
END \$\$" 2>&1 | sed -n 's/^NOTICE:  //p'
}

cw_mktemp
DIR=$CW_MKTEMP/c
PORT=$(cw_free_port)
cw_start_cluster "$DIR" "$PORT" \
    "shared_preload_libraries = 'pg_cron,cyoda_wf'" \
    "cron.database_name = 'postgres'" \
    "cron.use_background_workers = on" \
    "cyoda_wf.database_name = 'app'" \
    "max_worker_processes = 20"
echo "cluster: $DIR port $PORT"

q "SET client_min_messages = warning; CREATE EXTENSION pg_cron" postgres
q "CREATE DATABASE app" postgres
q "SET client_min_messages = warning; CREATE EXTENSION cyoda_wf CASCADE"
cw_check "pg_cron is not in app" "$(q "SELECT count(*) FROM pg_extension WHERE extname = 'pg_cron'")" 0
q "SELECT count(*) FROM unnest(ARRAY['tick_job', 'user_job']) m,
          cyoda_wf.import_workflows(m, 1, '{\"workflows\": []}')" >/dev/null
q "CREATE ROLE cw_app_user LOGIN;
   GRANT USAGE ON SCHEMA cyoda_wf TO cw_app_user;
   GRANT EXECUTE ON FUNCTION cyoda_wf.schedule_job(text, text, text, integer, jsonb),
                             cyoda_wf.unschedule_job(text),
                             cyoda_wf.add_scheduled_item(text, integer, jsonb) TO cw_app_user"

# a superuser
jobid=$(q "SELECT cyoda_wf.schedule_job('cw_tick', '0 0 1 1 *', 'tick_job', 1, '{\"k\": 1}')")
[[ $jobid =~ ^[0-9]+$ ]] || die "schedule_job returned '$jobid'"
cw_check "superuser's job: in postgres's cron.job, for app, as postgres" \
    "$(q "SELECT database || ' ' || username || ' ' || schedule || ' ' || command
            FROM cron.job WHERE jobid = $jobid" postgres)" \
    "app postgres 0 0 1 1 * SELECT cyoda_wf.add_scheduled_item('tick_job', 1, '{\"k\": 1}'::jsonb)"
cw_check "schedule_job again replaces the job" \
    "$(q "SELECT cyoda_wf.schedule_job('cw_tick', '0 0 2 1 *', 'tick_job', 1) = $jobid"),$(q "
        SELECT count(*) || ' ' || min(schedule) FROM cron.job WHERE jobname = 'cw_tick'" postgres)" \
    "t,1 0 0 2 1 *"

# a role that is not a superuser, with no rights on pg_cron
cw_check "the role has no rights on pg_cron's schema" \
    "$(q "SELECT has_schema_privilege('cw_app_user', 'cron', 'USAGE')" postgres)" f
ujob=$(qu "SELECT cyoda_wf.schedule_job('user_tick', '* * * * *', 'user_job', 1, '{\"who\": \"it''s me\"}')" 2>&1) ||
    die "schedule_job by a non-superuser failed: $ujob"
cw_check "non-superuser's job: for app, as that role, exactly the add_scheduled_item call" \
    "$(q "SELECT database || ' ' || username || ' ' || command FROM cron.job WHERE jobid = $ujob" postgres)" \
    "app cw_app_user SELECT cyoda_wf.add_scheduled_item('user_job', 1, '{\"who\": \"it''s me\"}'::jsonb)"

# errors in pg_cron's database come back with their SQLSTATE
cw_check "an invalid schedule: 22023 from pg_cron" \
    "$(err "cyoda_wf.schedule_job('bad', 'bogus', 'user_job', 1)" cw_app_user | cut -d'|' -f1,2)" \
    "22023|invalid schedule: bogus"
q "SELECT cron.schedule_in_database('user_other', '0 0 1 1 *', 'SELECT 1', 'app', 'cw_app_user')" postgres >/dev/null
cw_check "a job of the role's not made by schedule_job: 42710, kept" \
    "$(err "cyoda_wf.schedule_job('user_other', '* * * * *', 'user_job', 1)" cw_app_user | cut -d'|' -f1),$(q "
        SELECT command FROM cron.job WHERE jobname = 'user_other'" postgres)" "42710,SELECT 1"
q "REVOKE CONNECT ON DATABASE postgres FROM PUBLIC" postgres
cw_check "without CONNECT on pg_cron's database: 42501 with the GRANT" \
    "$(err "cyoda_wf.schedule_job('user_x', '* * * * *', 'user_job', 1)" cw_app_user)" \
    "42501|role \"cw_app_user\" cannot connect to pg_cron's database \"postgres\"|GRANT CONNECT ON DATABASE postgres TO cw_app_user;"
q "GRANT CONNECT ON DATABASE postgres TO PUBLIC" postgres

# the call commits on its own
psql -X -qAt -v ON_ERROR_STOP=1 -d app >/dev/null <<'SQL'
BEGIN;
SELECT cyoda_wf.schedule_job('rolled_back', '0 0 1 1 *', 'tick_job', 1);
ROLLBACK;
SQL
cw_check "a ROLLBACK of the caller keeps the job" \
    "$(q "SELECT count(*) FROM cron.job WHERE jobname = 'rolled_back'" postgres)" 1

# the job runs in app as the role (minute granularity: at most ~60 s, allow 75)
echo "waiting for pg_cron's next minute (up to 75 s)..."
found=0
for ((i = 0; i < 150; i++)); do
    found=$(q "SELECT count(*) FROM cyoda_wf.entity e JOIN cyoda_wf.entity_version v
                   ON v.entity_id = e.id AND v.change_type = 'CREATE'
                WHERE e.model = 'user_job' AND e.source = 'SCHEDULED' AND v.changed_by = 'cw_app_user'
                  AND e.data = '{\"who\": \"it''s me\"}'")
    ((found > 0)) && break
    sleep 0.5
done
if ((found == 0)); then
    q "SELECT jobid, database, username, status, return_message FROM cron.job_run_details ORDER BY runid" postgres || true
    die "no entity of model user_job with source SCHEDULED saved by cw_app_user after 75 s"
fi
cw_check "the job ran in app as cw_app_user" "$((found > 0))" 1
cw_check "pg_cron recorded the run as succeeded" \
    "$(q "SELECT bool_and(status = 'succeeded') FROM cron.job_run_details WHERE jobid = $ujob" postgres)" t

cw_check "unschedule_job: true, then false" \
    "$(qu "SELECT cyoda_wf.unschedule_job('user_tick')") $(qu "SELECT cyoda_wf.unschedule_job('user_tick')")" "t f"
cw_check "the role's job is gone" "$(q "SELECT count(*) FROM cron.job WHERE jobid = $ujob" postgres)" 0

# DROP EXTENSION removes the jobs of app only
q "SELECT cron.schedule('other_db_job', '0 0 1 1 *', 'SELECT 1')" postgres >/dev/null
q "SET client_min_messages = warning; DROP EXTENSION cyoda_wf"
cw_check "DROP EXTENSION in app removed its schedule_job jobs; other jobs stay" \
    "$(q "SELECT string_agg(jobname, ' ' ORDER BY jobname) FROM cron.job" postgres)" "other_db_job user_other"

if grep -qE 'terminated by signal|PANIC:|TRAP:' "$DIR/log"; then
    echo "FAIL  crash in the server log:"
    grep -E 'terminated by signal|PANIC:|TRAP:' "$DIR/log" | head
    FAILED=1
fi
((FAILED == 0)) || die "see FAIL lines above"
echo "cron_other_db.sh: passed"
