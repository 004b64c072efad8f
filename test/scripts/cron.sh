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
#   - unschedule_job('cw_tick') returns true, then false;
#   - schedule_job in a database without pg_cron fails with SQLSTATE 55000
#     and a hint naming pg_cron.
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
check() {   # check NAME GOT WANT
    if [[ $2 == "$3" ]]; then
        echo "ok    $1"
    else
        echo "FAIL  $1: got '$2', want '$3'"
        FAILED=1
    fi
}

cw_mktemp
DIR=$CW_MKTEMP/c
PORT=$(cw_free_port)
cw_start_cluster "$DIR" "$PORT" \
    "shared_preload_libraries = 'pg_cron,cyoda_wf'" \
    "cron.database_name = '$DB'" \
    "cron.use_background_workers = on" \
    "cron.host = '$DIR'" \
    "cyoda_wf.database_name = '$DB'" \
    "max_worker_processes = 20"
echo "cluster: $DIR port $PORT"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB" -c "CREATE DATABASE nocron"
for d in "$DB" nocron; do
    psql -X -q -v ON_ERROR_STOP=1 -d "$d" \
        -c "SET client_min_messages = warning" -c "CREATE EXTENSION cyoda_wf CASCADE"
done
q "SET client_min_messages = warning; CREATE EXTENSION pg_cron"

# schedule_job creates the pg_cron job.
jobid=$(q "SELECT cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1, '{\"k\": 1}')")
[[ $jobid =~ ^[0-9]+$ ]] || die "schedule_job returned '$jobid'"
check "schedule_job returns the cron.job id" \
    "$(q "SELECT jobid FROM cron.job WHERE jobname = 'cw_tick'")" "$jobid"
check "cron.job row: schedule, database, command" \
    "$(q "SELECT schedule || ' ' || database || ' ' ||
                 (command LIKE '%cyoda_wf.add_scheduled_item(%tick_job%')::text
            FROM cron.job WHERE jobid = $jobid")" "* * * * * $DB true"
# scheduling again under the same name replaces the job
check "schedule_job again keeps one job of that name" \
    "$(q "SELECT cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1, '{\"k\": 1}') = $jobid,
                 (SELECT count(*) FROM cron.job WHERE jobname = 'cw_tick')")" "t|1"

# Wait for a tick (minute granularity: at most ~60 s, allow 75).
echo "waiting for pg_cron's next minute (up to 75 s)..."
found=
for ((i = 0; i < 150; i++)); do
    found=$(q "SELECT count(*) FROM cyoda_wf.entity WHERE model = 'tick_job' AND source = 'SCHEDULED'")
    ((found > 0)) && break
    sleep 0.5
done
if ((found == 0)); then
    echo "cron.job_run_details:"
    q "SELECT status, return_message FROM cron.job_run_details ORDER BY runid" || true
    die "no entity of model tick_job with source SCHEDULED after 75 s"
fi
echo "tick after $((i / 2)) s"
check "scheduled entity: source, state, data, parent" \
    "$(q "SELECT source || ' ' || state || ' ' || data::text || ' ' || (parent_id IS NULL)::text
            FROM cyoda_wf.entity WHERE model = 'tick_job' ORDER BY created_at LIMIT 1")" \
    'SCHEDULED CREATED {"k": 1} true'
check "the entity went through its workflow (audit NEW)" \
    "$(q "SELECT count(*) >= 1 FROM cyoda_wf.audit a JOIN cyoda_wf.entity e ON e.id = a.entity_id
           WHERE e.model = 'tick_job' AND a.event_type = 'TRANSITION_MAKE' AND a.transition = 'NEW'
             AND a.to_state = 'CREATED'")" t
for ((i = 0; i < 20; i++)); do   # the run's row is finished just after the commit
    st=$(q "SELECT string_agg(DISTINCT status, ',') FROM cron.job_run_details WHERE jobid = $jobid")
    [[ $st == succeeded ]] && break
    sleep 0.25
done
check "cron.job_run_details: run succeeded" "$st" succeeded

# unschedule_job: true, then false.
check "unschedule_job first time" "$(q "SELECT cyoda_wf.unschedule_job('cw_tick')")" t
check "unschedule_job second time" "$(q "SELECT cyoda_wf.unschedule_job('cw_tick')")" f
check "no cron.job left" "$(q "SELECT count(*) FROM cron.job WHERE jobname = 'cw_tick'")" 0

# Without pg_cron in the database: 55000 with a hint.
err=$(q "DO \$\$
DECLARE st text; msg text; h text;
BEGIN
  PERFORM cyoda_wf.schedule_job('cw_tick', '* * * * *', 'tick_job', 1);
  RAISE NOTICE 'no error';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, h = PG_EXCEPTION_HINT;
  RAISE NOTICE '%|%|%', st, msg, h;
END \$\$" nocron 2>&1)
echo "nocron: $err"
check "schedule_job without pg_cron: SQLSTATE" "$(sed -n 's/^NOTICE:  \([0-9A-Z]\{5\}\)|.*/\1/p' <<<"$err")" 55000
check "schedule_job without pg_cron: hint names pg_cron" \
    "$(grep -c 'shared_preload_libraries.*CREATE EXTENSION pg_cron' <<<"$err" || true)" 1
check "unschedule_job without pg_cron is false" \
    "$(q "SELECT cyoda_wf.unschedule_job('cw_tick')" nocron)" f

if grep -qE 'terminated by signal|PANIC:|TRAP:' "$DIR/log"; then
    echo "FAIL  crash in the server log:"
    grep -E 'terminated by signal|PANIC:|TRAP:' "$DIR/log" | head
    FAILED=1
fi
((FAILED == 0)) || die "see FAIL lines above"
echo "cron.sh: passed"
