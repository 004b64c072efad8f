#!/usr/bin/env bash
# test/scripts/crash.sh: async work survives a killed worker and a crashed
# server.
#
# Starts its own cluster (pg_cron and cyoda_wf preloaded, 2 static workers
# serving database "crashdb"), queues a few thousand entities whose workflow
# has two async steps (ASYNC_NEW_TX and COMMIT_BEFORE_DISPATCH, each followed
# by a SYNC one), and while the workers run:
#   1. kills one worker with SIGKILL while it sits inside a process (the
#      postmaster then restarts every session; the static workers come back),
#   2. queues more entities,
#   3. stops the server with `pg_ctl stop -m immediate` and starts it again.
# Then it waits (bounded) until no task is pending and checks, in SQL, that
# every entity reached the final state through exactly one TRANSITION_MAKE
# per transition, that versions, version rows, audit trail and tasks agree,
# and that no process effect was applied twice or lost (data.counter/trail).
# Exits non-zero, printing every violated invariant, on any failure.
#
# Environment (all optional): CW_LIB (scripts/lib.sh), CW_PG_CONFIG,
# CRASH_ENTITIES (default 3000), CRASH_DEADLINE_S (default 220).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CW_LIB=${CW_LIB:-$HERE/../../scripts/lib.sh}
# shellcheck source=scripts/lib.sh
source "$CW_LIB"
cw_clean_pg_env

N_TOTAL=${CRASH_ENTITIES:-3000}
N_FIRST=$((N_TOTAL * 2 / 3))
N_SECOND=$((N_TOTAL - N_FIRST))
DEADLINE=${CRASH_DEADLINE_S:-220}
DB=crashdb
T0=$SECONDS
KILLS=0
RESTARTS=0
CRASH_RESTARTS=0

die() {
    echo "crash.sh: FAILED: $*"
    if [[ -n ${DIR:-} && -f $DIR/log ]]; then
        echo "---- last 40 lines of the server log ----"
        tail -n 40 "$DIR/log"
    fi
    exit 1
}
left() { echo $((DEADLINE - (SECONDS - T0))); }
# q SQL: one query on the test database, unaligned, errors stop it.
q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
# q_try SQL: like q, but an error (server restarting) prints nothing.
q_try() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$DB" -c "$1" 2>/dev/null || true; }

# wait_until DESCRIPTION MAX_S SQL: poll until SQL returns 't'.
wait_until() {
    local what=$1 max=$2 sql=$3 end r
    end=$((SECONDS + max))
    while ((SECONDS < end)); do
        r=$(q_try "$sql")
        [[ $r == t ]] && return 0
        (($(left) > 0)) || die "deadline of ${DEADLINE}s reached while waiting for $what"
        sleep 0.2
    done
    die "timed out after ${max}s waiting for $what"
}

# Wait until the server accepts connections again (after a crash restart).
wait_ready() {
    local end=$((SECONDS + $1))
    while ((SECONDS < end)); do
        if pg_isready -q -h "$PGHOST" -p "$PGPORT" -U postgres -d "$DB" &&
            [[ $(q_try 'SELECT 1') == 1 ]]; then
            return 0
        fi
        sleep 0.2
    done
    die "server not accepting connections after $1 s"
}

progress() {
    q_try "SELECT format('tasks: %s done, %s pending; workers: %s',
                 count(*) FILTER (WHERE state = 'done'),
                 count(*) FILTER (WHERE state IN ('pending', 'running')),
                 (SELECT count(*) FROM cyoda_wf.worker_status()))
             FROM cyoda_wf.task"
}

echo "== crash.sh: $N_TOTAL entities, 2 async steps each, deadline ${DEADLINE}s"
cw_mktemp
DIR=$CW_MKTEMP/c
PORT=$(cw_free_port)
cw_start_cluster "$DIR" "$PORT" \
    "shared_preload_libraries = 'pg_cron,cyoda_wf'" \
    "cyoda_wf.workers = 2" \
    "cyoda_wf.database_name = '$DB'" \
    "restart_after_crash = on" \
    "log_min_messages = warning"
echo "cluster: $DIR port $PORT"

psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
-- A process that takes a few milliseconds and leaves a trace of every run
-- in the data: counter (how many runs committed) and trail (which ones).
CREATE FUNCTION public.crash_step(meta jsonb, data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_sleep(0.001 + random() * 0.004);
  RETURN data || jsonb_build_object(
      'counter', coalesce((data->>'counter')::int, 0) + 1,
      'trail', coalesce(data->'trail', '[]'::jsonb) || to_jsonb(meta->>'transition'));
END $$;
SELECT cyoda_wf.import_workflows('crash_flow', 1, $json$
{"importMode": "REPLACE", "workflows": [{"name": "crash_flow", "initialState": "new", "states": {
  "new":   {"transitions": [{"name": "step1", "next": "s1",
             "processors": [{"name": "crash_step", "executionMode": "ASYNC_NEW_TX"}]}]},
  "s1":    {"transitions": [{"name": "check", "next": "s2",
             "processors": [{"name": "crash_step", "executionMode": "SYNC"}]}]},
  "s2":    {"transitions": [{"name": "step2", "next": "s3",
             "processors": [{"name": "crash_step", "executionMode": "COMMIT_BEFORE_DISPATCH"}]}]},
  "s3":    {"transitions": [{"name": "finish", "next": "done"}]},
  "done":  {"transitions": []}}}]}
$json$) IS NOT NULL AS imported \gset
SQL

# The static workers connect once the database exists and register once
# the extension does (they poll for it).
wait_until "2 registered workers" 60 \
    "SELECT count(*) = 2 FROM cyoda_wf.worker_status() WHERE database = '$DB'"

START=$SECONDS
q "INSERT INTO cyoda_wf.entity (model, data)
   SELECT 'crash_flow', jsonb_build_object('n', g) FROM generate_series(1, $N_FIRST) g" >/dev/null
echo "queued $N_FIRST entities in $((SECONDS - START)) s; $(progress)"
[[ $(q "SELECT count(*) FROM cyoda_wf.entity WHERE state = 'new'") -ge 1 ]] ||
    die "the entities did not wait in their source state"

# 1. SIGKILL one worker while it is inside a process.
wait_until "some progress before the worker kill" 60 \
    "SELECT count(*) >= $((N_FIRST / 4)) FROM cyoda_wf.task WHERE state = 'done'"
victim=
for _ in $(seq 1 100); do
    victim=$(q_try "SELECT pid FROM pg_stat_activity
                     WHERE backend_type = 'cyoda_wf worker' AND state = 'active'
                       AND wait_event = 'PgSleep' LIMIT 1")
    [[ -n $victim ]] && break
    sleep 0.05
done
[[ -n $victim ]] || die "found no worker inside a process to kill"
before=$(progress)
kill -KILL "$victim"
KILLS=$((KILLS + 1))
echo "SIGKILL worker $victim (inside a process); before: $before"
# the postmaster notices, ends every session and reinitializes
for ((i = 0; i < 300; i++)); do
    grep -q "all server processes terminated; reinitializing" "$DIR/log" && break
    sleep 0.1
done
grep -q "PID $victim) was terminated by signal 9" "$DIR/log" ||
    die "the server log does not show the killed worker"
grep -q "all server processes terminated; reinitializing" "$DIR/log" ||
    die "the postmaster did not reinitialize after the killed worker"
wait_ready 60
CRASH_RESTARTS=$((CRASH_RESTARTS + 1))
wait_until "the static workers after the crash restart" 60 \
    "SELECT count(*) = 2 FROM cyoda_wf.worker_status() WHERE database = '$DB'"
echo "after the crash restart: $(progress)"

# 2. More entities while the workers run.
q "INSERT INTO cyoda_wf.entity (model, data)
   SELECT 'crash_flow', jsonb_build_object('n', g)
     FROM generate_series($((N_FIRST + 1)), $N_TOTAL) g" >/dev/null
echo "queued $N_SECOND more entities; $(progress)"

# 3. Immediate stop in the middle of the run, then start again.
wait_until "progress before the immediate stop" 90 \
    "SELECT count(*) >= $N_TOTAL FROM cyoda_wf.task WHERE state = 'done'"
pending=$(q "SELECT count(*) FROM cyoda_wf.task WHERE state = 'pending'")
((pending > 0)) || die "the workers finished before the immediate stop: the test proved nothing"
busy=$(q_try "SELECT count(*) FROM pg_stat_activity
               WHERE backend_type = 'cyoda_wf worker' AND state = 'active'")
echo "pg_ctl stop -m immediate with $pending tasks pending, $busy worker(s) busy"
cw_as_pg pg_ctl -D "$DIR/data" -m immediate -w -t 60 stop >/dev/null
cw_as_pg pg_ctl -D "$DIR/data" -l "$DIR/log" -w -t 120 start >/dev/null ||
    die "the server did not start again after the immediate stop"
RESTARTS=$((RESTARTS + 1))
wait_ready 60
echo "restarted: $(progress)"

# Let the workers finish everything.
wait_until "all tasks to finish" "$(left)" \
    "SELECT NOT EXISTS (SELECT 1 FROM cyoda_wf.task WHERE state IN ('pending', 'running'))"
DURATION=$((SECONDS - START))
echo "all tasks finished: $(progress)"

# Invariants: each row is one check and the number of violations.
violations=$(psql -X -qAt -F ' ' -v ON_ERROR_STOP=1 -d "$DB" -v n="$N_TOTAL" <<'SQL'
CREATE TEMP TABLE e AS SELECT * FROM cyoda_wf.entity WHERE model = 'crash_flow';
CREATE TEMP TABLE expected (transition text, from_state text, to_state text);
INSERT INTO expected VALUES ('step1', 'new', 's1'), ('check', 's1', 's2'),
                            ('step2', 's2', 's3'), ('finish', 's3', 'done');
CREATE TEMP TABLE a AS
  SELECT au.* FROM cyoda_wf.audit au JOIN e ON e.id = au.entity_id;
CREATE TEMP TABLE v AS
  SELECT ev.*, lag(ev.state) OVER w AS prev_state, lag(ev.version) OVER w AS prev_version
    FROM cyoda_wf.entity_version ev JOIN e ON e.id = ev.entity_id
  WINDOW w AS (PARTITION BY ev.entity_id ORDER BY ev.version);
CREATE TEMP TABLE t AS
  SELECT tk.* FROM cyoda_wf.task tk JOIN e ON e.id = tk.entity_id;
CREATE INDEX ON v (entity_id, transaction_id);
CREATE TEMP TABLE tm AS
  SELECT a.*, row_number() OVER w AS rn, count(*) OVER (PARTITION BY a.entity_id, a.transaction_id) AS n,
         lag(a.to_state) OVER w AS prev_to
    FROM a WHERE a.event_type = 'TRANSITION_MAKE'
  WINDOW w AS (PARTITION BY a.entity_id, a.transaction_id ORDER BY a.id);
CREATE INDEX ON tm (entity_id, transaction_id);
ANALYZE e; ANALYZE a; ANALYZE v; ANALYZE t; ANALYZE tm;

SELECT check_name, bad FROM (
  SELECT 1 AS o, 'entity_count_is_' || :n AS check_name,
         CASE WHEN (SELECT count(*) FROM e) = :n THEN 0 ELSE 1 END AS bad
  UNION ALL
  SELECT 2, 'entity_not_in_final_state', (SELECT count(*) FROM e WHERE state IS DISTINCT FROM 'done')
  UNION ALL
  -- exactly one TRANSITION_MAKE per transition of the path: none missing ...
  SELECT 3, 'transition_audit_missing',
         (SELECT count(*) FROM e CROSS JOIN expected x
           WHERE NOT EXISTS (SELECT 1 FROM tm WHERE tm.entity_id = e.id AND tm.transition = x.transition
                               AND tm.from_state = x.from_state AND tm.to_state = x.to_state))
  UNION ALL
  -- ... none twice, none unexpected
  SELECT 4, 'transition_audit_duplicate',
         (SELECT count(*) FROM (SELECT entity_id, transition FROM tm GROUP BY 1, 2 HAVING count(*) > 1) d)
  UNION ALL
  SELECT 5, 'transition_audit_unexpected',
         (SELECT count(*) FROM tm WHERE NOT EXISTS (SELECT 1 FROM expected x WHERE x.transition = tm.transition
                 AND x.from_state = tm.from_state AND x.to_state = tm.to_state))
  UNION ALL
  SELECT 6, 'audit_failure_events',
         (SELECT count(*) FROM a WHERE event_type IN ('PROCESS_FAILED', 'CANCEL', 'TIMER_EXPIRED'))
  UNION ALL
  SELECT 7, 'version_ne_version_rows',
         (SELECT count(*) FROM e LEFT JOIN (SELECT entity_id, count(*) AS n FROM v GROUP BY 1) vc
                                        ON vc.entity_id = e.id
           WHERE e.version IS DISTINCT FROM coalesce(vc.n, 0))
  UNION ALL
  SELECT 8, 'version_rows_not_1_to_n',
         (SELECT count(*) FROM v WHERE v.version <> coalesce(v.prev_version, 0) + 1)
  UNION ALL
  SELECT 9, 'version_ne_3',
         (SELECT count(*) FROM e WHERE e.version <> 3)
  UNION ALL
  SELECT 10, 'last_version_row_ne_entity',
         (SELECT count(*) FROM e JOIN v ON v.entity_id = e.id AND v.version = e.version
           WHERE v.state IS DISTINCT FROM e.state OR v.data IS DISTINCT FROM e.data
              OR v.transition IS DISTINCT FROM e.last_transition
              OR v.transaction_id IS DISTINCT FROM e.transaction_id)
  UNION ALL
  SELECT 11, 'task_pending_or_running',
         (SELECT count(*) FROM t WHERE state IN ('pending', 'running'))
  UNION ALL
  SELECT 12, 'task_failed_expired_cancelled',
         (SELECT count(*) FROM t WHERE state IN ('failed', 'expired', 'cancelled'))
  UNION ALL
  SELECT 13, 'task_count_ne_2_done_per_entity',
         (SELECT count(*) FROM e LEFT JOIN (SELECT entity_id, count(*) AS n,
                                                   count(*) FILTER (WHERE state = 'done' AND kind = 'process') AS nd
                                              FROM t GROUP BY 1) tc ON tc.entity_id = e.id
           WHERE coalesce(tc.n, 0) <> 2 OR coalesce(tc.nd, 0) <> 2)
  UNION ALL
  -- a killed attempt leaves nothing behind, not even an attempt count
  SELECT 14, 'task_done_with_attempts_ne_1', (SELECT count(*) FROM t WHERE state = 'done' AND attempts <> 1)
  UNION ALL
  -- every process run that committed is in the data exactly once
  SELECT 15, 'data_counter_or_trail_wrong',
         (SELECT count(*) FROM e WHERE (e.data->>'counter')::int IS DISTINCT FROM 3
                                    OR e.data->'trail' IS DISTINCT FROM '["step1", "check", "step2"]'::jsonb)
  UNION ALL
  -- version history against the audit trail: every transition belongs to a
  -- save of its entity (same transaction) ...
  SELECT 16, 'audit_without_version_row',
         (SELECT count(*) FROM tm WHERE NOT EXISTS (SELECT 1 FROM v WHERE v.entity_id = tm.entity_id
                                                        AND v.transaction_id = tm.transaction_id))
  UNION ALL
  SELECT 17, 'two_saves_in_one_transaction',
         (SELECT count(*) FROM (SELECT entity_id, transaction_id FROM v GROUP BY 1, 2 HAVING count(*) > 1) d)
  UNION ALL
  -- ... the transitions of a save form a chain from the state of the previous
  -- version to the state of this one, the last being the version's transition
  SELECT 18, 'audit_chain_broken_within_save',
         (SELECT count(*) FROM tm WHERE tm.rn > 1 AND tm.from_state IS DISTINCT FROM tm.prev_to)
  UNION ALL
  SELECT 19, 'save_start_ne_previous_version_state',
         (SELECT count(*) FROM tm JOIN v ON v.entity_id = tm.entity_id AND v.transaction_id = tm.transaction_id
           WHERE tm.rn = 1 AND tm.from_state IS DISTINCT FROM v.prev_state)
  UNION ALL
  SELECT 20, 'save_end_ne_version_state_or_transition',
         (SELECT count(*) FROM tm JOIN v ON v.entity_id = tm.entity_id AND v.transaction_id = tm.transaction_id
           WHERE tm.rn = tm.n AND (tm.to_state IS DISTINCT FROM v.state OR tm.transition IS DISTINCT FROM v.transition))
  UNION ALL
  -- an UPDATE here always made transitions; the CREATE made none (async first step)
  SELECT 21, 'update_version_without_transitions',
         (SELECT count(*) FROM v WHERE v.change_type = 'UPDATE'
             AND NOT EXISTS (SELECT 1 FROM tm WHERE tm.entity_id = v.entity_id AND tm.transaction_id = v.transaction_id))
  UNION ALL
  SELECT 22, 'create_version_wrong',
         (SELECT count(*) FROM v WHERE v.version = 1 AND (v.change_type <> 'CREATE' OR v.state <> 'new'
             OR v.transition IS NOT NULL
             OR EXISTS (SELECT 1 FROM tm WHERE tm.entity_id = v.entity_id AND tm.transaction_id = v.transaction_id)))
  UNION ALL
  -- audit time order follows version order
  SELECT 23, 'audit_order_ne_version_order',
         (SELECT count(*) FROM (SELECT tm.entity_id, v.version, tm.id,
                                       lag(v.version) OVER (PARTITION BY tm.entity_id ORDER BY tm.id) AS pv
                                  FROM tm JOIN v ON v.entity_id = tm.entity_id AND v.transaction_id = tm.transaction_id) x
           WHERE x.version < x.pv)
) c ORDER BY o;
SQL
) || die "the invariant query failed"

failed=0
echo "invariants:"
while read -r name bad; do
    if [[ $bad == 0 ]]; then
        printf '  ok    %s\n' "$name"
    else
        printf '  FAIL  %s: %s violation(s)\n' "$name" "$bad"
        failed=1
    fi
done <<<"$violations"
[[ $(wc -l <<<"$violations") -ge 23 ]] || die "the invariant query returned too few rows"

# The only crash in the log must be ours.
crashes=$(grep -E 'terminated by signal|PANIC:|TRAP:' "$DIR/log" || true)
unexpected=$(grep -v "PID $victim) was terminated by signal 9: Killed" <<<"$crashes" || true)
if [[ -n $unexpected ]]; then
    echo "  FAIL  unexpected crash in the server log:"
    head -n 10 <<<"$unexpected"
    failed=1
else
    echo "  ok    server_log_only_the_intended_crash"
fi

ntasks=$(q "SELECT count(*) FROM cyoda_wf.task")
rate=$(awk -v t="$ntasks" -v d="$DURATION" 'BEGIN { printf "%.0f", (d > 0 ? t / d : t) }')
echo "summary: entities $N_TOTAL, tasks $ntasks, duration ${DURATION}s (~$rate tasks/s incl. recovery)," \
     "worker kills $KILLS (crash restarts $CRASH_RESTARTS), immediate restarts $RESTARTS"
if ((failed)); then
    die "invariants violated"
fi
echo "crash.sh: passed"
