#!/usr/bin/env bash
# test/scripts/soak.sh: a bounded pgbench soak of the engine, then invariants.
#
# Several clients work for CW_SOAK_SECONDS on 16 shared ("hot") entities and
# on entities of their own: manual fires (some whose process saves another
# hot entity, some that create children, some async), read-modify-write
# updates with if_match, plain-SQL loopback updates that cascade, deletes,
# run_tasks racing two dynamic workers, and workflow re-imports mid-run.
# Expected contention errors (55000, 40001, 40P01, P0002) are counted; any
# other error aborts a client and fails the run.  Then test/soak/check.sql
# verifies: state = end of the audit trail, the audit is a chain, version =
# number of saves, last version row = entity, every process ran exactly once
# per transition made, one child per spawn, deleted entities gone with no
# pending task, no task left or failed after a drain, no orphans.
#
# Settings:  CW_SOAK_SECONDS (default 30)  CW_SOAK_CLIENTS (default 6)
# Long run:  CW_SOAK_SECONDS=600 CW_SOAK_CLIENTS=16 test/scripts/soak.sh
# Run by scripts/test.sh against its cluster (PGHOST/PGPORT), in a database
# of its own; run alone (no PGHOST) it starts a cluster of its own.
set -uo pipefail
REPO=${CW_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=/dev/null
source "${CW_LIB:-$REPO/scripts/lib.sh}"
cw_pg_paths || exit 1

SECONDS_RUN=${CW_SOAK_SECONDS:-30}
CLIENTS=${CW_SOAK_CLIENTS:-6}
THREADS=$(( CLIENTS < 4 ? CLIENTS : 4 ))
SOAK=$REPO/test/soak
DB=cw_soak

if [[ -z ${PGHOST:-} ]]; then
    cw_mktemp || exit 1
    cw_start_cluster "$CW_MKTEMP/cluster" "$(cw_free_port)" || exit 1
fi
export PGUSER=${PGUSER:-postgres}
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

fail() { echo "SOAK FAILED: $*"; exit 1; }

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB TEMPLATE template0" \
    || fail "could not create database $DB"
cleanup_db() { psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1; }
trap 'cleanup_db; cw_cleanup' EXIT

"${PSQL[@]}" -d "$DB" -f "$SOAK/setup.sql" >/dev/null || fail "setup.sql"
START=$("${PSQL[@]}" -At -d postgres -c "SELECT pg_postmaster_start_time()")
WORKERS=$("${PSQL[@]}" -At -d "$DB" -c "SELECT cyoda_wf.start_workers(2)" 2>/dev/null || echo 0)
echo "soak: $CLIENTS clients, $SECONDS_RUN s, start_workers(2) -> $WORKERS, database $DB"

LOG=$(mktemp)
cw_run timeout -k 10 $((SECONDS_RUN + 300)) \
    pgbench -n -d "$DB" -c "$CLIENTS" -j "$THREADS" -T "$SECONDS_RUN" -P 10 \
        -f "$SOAK/fire.sql@40" -f "$SOAK/update.sql@20" -f "$SOAK/create.sql@15" \
        -f "$SOAK/delete.sql@6" -f "$SOAK/tasks.sql@8" -f "$SOAK/reimport.sql@1" \
        >"$LOG" 2>&1
RC=$?
grep -vE '^pgbench: client [0-9]+ (receiving|sending|executing)' "$LOG" | tail -n 40
if ((RC != 0)) || grep -qiE 'aborted|error' "$LOG"; then
    grep -iE 'error|aborted' "$LOG" | head -n 20
    rm -f "$LOG"
    fail "pgbench exit code $RC or a client aborted (an unexpected error)"
fi
rm -f "$LOG"

# stop the workers, then drain what is left in this session
echo "-- tasks done by the dynamic workers: $("${PSQL[@]}" -At -d "$DB" -c "SELECT coalesce(sum(tasks_done), 0) FROM cyoda_wf.worker_status()")"
"${PSQL[@]}" -At -d "$DB" -c "SELECT cyoda_wf.stop_workers()" >/dev/null 2>&1
for _ in $(seq 1 100); do
    LEFT=$("${PSQL[@]}" -At -d "$DB" -c "CALL cyoda_wf.run_tasks(100000)" \
             -c "SELECT count(*) FROM cyoda_wf.task WHERE state = 'pending'") || fail "draining tasks"
    [[ $LEFT == 0 ]] && break
    sleep 0.2
done

echo "-- transitions made"
"${PSQL[@]}" -d "$DB" -c "SELECT transition, count(*) FROM cyoda_wf.audit WHERE event_type = 'TRANSITION_MAKE' GROUP BY 1 ORDER BY 2 DESC"
echo "-- outcomes besides success"
"${PSQL[@]}" -d "$DB" -c "SELECT op, sqlstate, count(*) FROM public.soak_outcome GROUP BY 1, 2 ORDER BY 1, 2"
echo "-- volume"
"${PSQL[@]}" -d "$DB" -c "SELECT (SELECT count(*) FROM cyoda_wf.entity) AS entities,
       (SELECT count(*) FROM cyoda_wf.entity_version) AS versions,
       (SELECT count(*) FROM cyoda_wf.audit WHERE event_type = 'TRANSITION_MAKE') AS transitions,
       (SELECT count(*) FROM cyoda_wf.task) AS tasks,
       (SELECT count(*) FILTER (WHERE change_type = 'DELETE') FROM cyoda_wf.entity_version) AS deletes,
       (SELECT max(version) FROM cyoda_wf.entity) AS max_version"

echo "-- invariants"
OUT=$("${PSQL[@]}" -d "$DB" -f "$SOAK/check.sql") || fail "check.sql did not run"
BAD=0
while IFS='|' read -r name n example; do
    [[ -z $name ]] && continue
    if [[ $n == 0 ]]; then
        printf '  %-40s ok\n' "$name"
    else
        printf '  %-40s FAILED: %s violation(s), e.g. %s\n' "$name" "$n" "$example"
        BAD=1
    fi
done <<<"$OUT"
NOW=$("${PSQL[@]}" -At -d postgres -c "SELECT pg_postmaster_start_time()") || fail "server not answering"
[[ $NOW == "$START" ]] || fail "the server restarted during the soak ($START -> $NOW)"
((BAD == 0)) || fail "invariants violated"
echo "soak: ok"
