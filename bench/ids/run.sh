#!/usr/bin/env bash
# bench/ids/run.sh: what a save costs as the number of stored entities grows,
# with time-ordered entity ids (cyoda_wf.new_id, UUID version 7 layout),
# with random ones (gen_random_uuid), and for hand-written SQL doing the
# same writes as a fire (the baseline).
#
# Starts a throwaway cluster (scripts/lib.sh; --build builds and installs the
# extension first) and makes one database per id default and stored count:
# v7_<n> keeps the new_id default of cyoda_wf.entity.id, rnd_<n> has
#   ALTER TABLE cyoda_wf.entity ALTER COLUMN id SET DEFAULT gen_random_uuid()
# and both are loaded with n entities (1,000 and 100,000; --large adds
# 1,000,000; --huge adds 1,000,000 and 10,000,000) by INSERT ... SELECT
# through the entity trigger, each with its CREATE version row.
#
# 10,000,000 (v7 only, no rnd database) is bulk loaded, to keep the run
# short: with the engine's triggers off (session_replication_role =
# replica), one statement per 1,000,000 writes the entity rows and their
# CREATE version rows as the trigger writes them (same columns; state,
# version, workflow, source, one transaction id per statement, created_at =
# updated_at = changed_at per row, started_at a clock read before it; a
# create writes no audit row), in id order, into the same tables with all
# their indexes.  The script checks this on a sample:
# it creates one entity through the trigger (rolled back) and compares its
# entity and version rows with a bulk-loaded one, column by column, apart
# from id, times, transaction ids and the data's "n".  It is a storage
# benchmark: what is measured afterwards goes through the engine as usual.
#
# The baseline: in every v7 database, schema base holds copies of
# cyoda_wf.entity, entity_version and audit_log (CREATE TABLE ... (LIKE ...
# INCLUDING ALL): the same columns, keys, indexes, defaults, identity) and
# their rows; one prepared statement does the writes of one fire on a random
# stored entity, in one transaction: an UPDATE by primary key (which locks
# the row) of state, version, updated_at, last_transition and transaction_id,
# an INSERT of its version row (with the data) and of its TRANSITION_MAKE
# audit row, and a NOTIFY with the payload a fire sends.  No trigger, no
# workflow: what any engine storing these rows pays for them.
#
# Then, round by round, the databases alternating (v7 first in odd rounds,
# rnd first in even ones), one psql session per measurement runs T
# transactions of
#   fire     SELECT cyoda_wf.fire('<id>', 'toggle') on a random stored entity
#   base     EXECUTE fire_base('<id>'): the baseline above, same entities
#   recent   fire on a random one of the W entities created last (W = 1000,
#            --recent W): the entities a running application moves are the
#            ones it made lately, not a random one of all it ever stored
#   base_recent  the baseline on the same recent entities
#   add_item BEGIN; SELECT cyoda_wf.add_item(...); ROLLBACK   (the stored
#            count stays n; the index entries are made all the same)
# and reads the backend's own CPU time (user + system, /proc/self/stat)
# before and after.  The report gives the median CPU per transaction over
# the rounds, the ratio to 1,000 stored entities, the ratio rnd / v7 and the
# primary key's size as loaded.  Writes bench/results/ids.md.
#
# Usage: bench/ids/run.sh [--build] [--large | --huge] [--transactions T] [--rounds R] [--recent W] [--out FILE]
#   --large            adds 1,000,000 stored entities (v7 and rnd; about 3 minutes of loading)
#   --huge             adds 1,000,000 and 10,000,000 (v7 only, bulk loaded; about 15 more
#                      minutes and 25 GB of disk)
#   --transactions T   transactions per measurement (default 3000)
#   --rounds R         rounds (default 5)
#   --recent W         the recent entities fired by recent / base_recent (default 1000)
# Environment: CW_PG_CONFIG / PYTHON_SITE as for scripts/test.sh.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export CW_ROOT=$ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env

BUILD=0
TX=3000
ROUNDS=5
RECENT=1000
SIZES=(1000 100000)
OUT=$ROOT/bench/results/ids.md
while (($#)); do
    case $1 in
        --build) BUILD=1 ;;
        --large) SIZES=(1000 100000 1000000) ;;
        --huge) SIZES=(1000 100000 1000000 10000000) ;;
        --transactions) TX=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --recent) RECENT=$2; shift ;;
        --out) OUT=$2; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

cw_bench_cluster "$BUILD" "cyoda_wf.workers = 0" "jit = off" "autovacuum = off" \
    "shared_buffers = '2GB'" "max_wal_size = '8GB'" || exit 1
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$@"; }
# the variants of a stored count: rnd up to 1,000,000 only
variants() { if (($1 > 1000000)); then echo v7; else echo v7 rnd; fi; }

# Bulk load (10,000,000): the rows the trigger writes for a create, with the
# engine's triggers off; entity and version rows in one statement per chunk.
bulk_load() {
    local db=$1 n=$2 start stop
    for ((start = 1; start <= n; start += 1000000)); do
        stop=$((start + 999999 < n ? start + 999999 : n))
        q "$db" -c "SET session_replication_role = replica" -c "
WITH s AS MATERIALIZED (
    SELECT g, cyoda_wf.new_id() AS id, jsonb_build_object('n', g, 'pad', repeat('x', 100)) AS data,
           clock_timestamp() AS t0
      FROM generate_series($start, $stop) g),
s1 AS MATERIALIZED (SELECT s.*, clock_timestamp() AS t1 FROM s),
e AS (
    INSERT INTO cyoda_wf.entity (id, model, model_version, state, data, created_at, updated_at,
                                 version, last_transition, workflow, parent_id, source, transaction_id)
    SELECT id, 'bench', 1, 'a', data, t1, t1, 1, NULL, 'toggle', NULL, 'API_REQUEST', txid_current()
      FROM s1 ORDER BY g)
INSERT INTO cyoda_wf.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                                     model_version, state, transition, transaction_id, data, started_at)
SELECT id, 1, 'CREATE', t1, current_user, 'bench', 1, 'a', NULL, txid_current(), data, t0
  FROM s1 ORDER BY g" || return 1
        cw_say "$db: $stop rows ($((SECONDS - T0)) s)"
    done
    # the sample: one create through the trigger (rolled back) against a bulk-loaded one
    q "$db" >"$WORK/bulk_check" <<'SQL' || return 1
BEGIN;
INSERT INTO cyoda_wf.entity (model, model_version, data)
VALUES ('bench', 1, jsonb_build_object('n', 0, 'pad', repeat('x', 100)));
WITH t AS (SELECT * FROM cyoda_wf.entity WHERE data @> '{"n": 0}'),
     b AS (SELECT * FROM cyoda_wf.entity WHERE data @> '{"n": 1}'),
     tv AS (SELECT v.* FROM cyoda_wf.entity_version v JOIN t ON v.entity_id = t.id),
     bv AS (SELECT v.* FROM cyoda_wf.entity_version v JOIN b ON v.entity_id = b.id)
SELECT (SELECT count(*) FROM t) = 1 AND (SELECT count(*) FROM b) = 1
   AND (SELECT (model, model_version, state, data - 'n', created_at = updated_at, version, last_transition,
                workflow, parent_id, source) FROM t)
       IS NOT DISTINCT FROM
       (SELECT (model, model_version, state, data - 'n', created_at = updated_at, version, last_transition,
                workflow, parent_id, source) FROM b)
   AND (SELECT array_agg((tv.version, tv.change_type, tv.changed_at = t.created_at, tv.changed_by,
                          tv.model, tv.model_version, tv.state, tv.transition,
                          tv.transaction_id = t.transaction_id, tv.data = t.data,
                          tv.started_at <= tv.changed_at)) FROM tv, t)
       IS NOT DISTINCT FROM
       (SELECT array_agg((bv.version, bv.change_type, bv.changed_at = b.created_at, bv.changed_by,
                          bv.model, bv.model_version, bv.state, bv.transition,
                          bv.transaction_id = b.transaction_id, bv.data = b.data,
                          bv.started_at <= bv.changed_at)) FROM bv, b)
   AND (SELECT count(*) FROM cyoda_wf.audit_log a JOIN t ON a.entity_id = t.id)
       = (SELECT count(*) FROM cyoda_wf.audit_log a JOIN b ON a.entity_id = b.id);
ROLLBACK;
SQL
    if [[ $(cat "$WORK/bulk_check") != t ]]; then
        cw_say "$db: the bulk-loaded rows differ from the rows the trigger writes"
        return 1
    fi
}

T0=$SECONDS
for n in "${SIZES[@]}"; do
    for v in $(variants "$n"); do
        db=${v}_$n
        q postgres -c "CREATE DATABASE $db" || exit 1
        q "$db" -c "SET client_min_messages = warning" -c "CREATE EXTENSION cyoda_wf CASCADE" >/dev/null || exit 1
        [[ $v == rnd ]] && { q "$db" -c "ALTER TABLE cyoda_wf.entity ALTER COLUMN id SET DEFAULT gen_random_uuid()" || exit 1; }
        q "$db" >/dev/null <<'SQL' || exit 1
SELECT cyoda_wf.import_workflows('bench', 1, '{"workflows": [{"name": "toggle", "initialState": "a",
  "states": {"a": {"transitions": [{"name": "toggle", "next": "b", "manual": true}]},
             "b": {"transitions": [{"name": "toggle", "next": "a", "manual": true}]}}}]}');
SQL
        if ((n > 1000000)); then
            bulk_load "$db" "$n" || exit 1
        else
            for ((start = 1; start <= n; start += 100000)); do
                stop=$((start + 99999 < n ? start + 99999 : n))
                q "$db" -c "INSERT INTO cyoda_wf.entity (model, model_version, data)
                            SELECT 'bench', 1, jsonb_build_object('n', g, 'pad', repeat('x', 100))
                              FROM generate_series($start, $stop) g" || exit 1
            done
        fi
        # n: the creation order (every load writes it into the data)
        q "$db" -c "CREATE TABLE ids AS SELECT (data->>'n')::int AS n, id FROM cyoda_wf.entity" \
            -c "ALTER TABLE ids ADD PRIMARY KEY (n)" || exit 1
        if [[ $v == v7 ]]; then
            # the baseline's tables: copies of the engine's, with their rows
            q "$db" -c "CREATE SCHEMA base" \
                -c "CREATE TABLE base.entity (LIKE cyoda_wf.entity INCLUDING ALL)" \
                -c "CREATE TABLE base.entity_version (LIKE cyoda_wf.entity_version INCLUDING ALL)" \
                -c "CREATE TABLE base.audit_log (LIKE cyoda_wf.audit_log INCLUDING ALL)" \
                -c "INSERT INTO base.entity SELECT * FROM cyoda_wf.entity ORDER BY id" \
                -c "INSERT INTO base.entity_version SELECT * FROM cyoda_wf.entity_version ORDER BY entity_id, version" \
                -c "INSERT INTO base.audit_log OVERRIDING SYSTEM VALUE SELECT * FROM cyoda_wf.audit_log ORDER BY id" \
                || exit 1
        fi
        q "$db" -c "VACUUM ANALYZE" || exit 1
        cw_say "$db loaded ($((SECONDS - T0)) s)"
    done
done
q postgres -c "CHECKPOINT"
# the primary key's size as loaded (the rolled-back creates below add to it)
for n in "${SIZES[@]}"; do
    for v in $(variants "$n"); do
        q ${v}_$n -c "SELECT pg_size_pretty(pg_relation_size('cyoda_wf.entity_pkey'))" >"$WORK/pk.$v.$n" || exit 1
    done
done

# The session's own CPU time in clock ticks, and the transactions.
CPU="SELECT split_part(s, ' ', 14)::bigint + split_part(s, ' ', 15)::bigint FROM pg_read_file('/proc/self/stat') s"
# fire and the baseline on the same random stored entities (fire, base) and
# on the same random ones of the RECENT created last (recent, base_recent),
# their ids written into the statements (a lookup in a table of ids would
# add its own index descent and heap page to every transaction and grow
# with the count)
for n in "${SIZES[@]}"; do
    w=$((RECENT < n ? RECENT : n))
    for v in $(variants "$n"); do
        for pick in "fire:1 + floor(random() * $n)" "recent:$((n - w + 1)) + floor(random() * $w)"; do
            q ${v}_$n -c "SELECT setseed(0.7)" -c "
SELECT format('SELECT cyoda_wf.fire(%L, ''toggle'');', i.id)
  FROM (SELECT g, (${pick#*:})::int AS k FROM generate_series(1, $TX) g) r
  JOIN ids i ON i.n = r.k ORDER BY r.g" | grep -v '^$' >"$WORK/${pick%%:*}.${v}_$n.sql" || exit 1
        done
        sed "s/^SELECT cyoda_wf.fire(\(.*\), 'toggle');\$/EXECUTE fire_base(\1);/" \
            "$WORK/fire.${v}_$n.sql" >"$WORK/base.${v}_$n.sql"
        sed "s/^SELECT cyoda_wf.fire(\(.*\), 'toggle');\$/EXECUTE fire_base(\1);/" \
            "$WORK/recent.${v}_$n.sql" >"$WORK/base_recent.${v}_$n.sql"
    done
done
cat >"$WORK/base.pre" <<'SQL'
PREPARE fire_base(uuid) AS
WITH u AS (
    UPDATE base.entity e
       SET state = CASE e.state WHEN 'a' THEN 'b' ELSE 'a' END, version = e.version + 1,
           updated_at = clock_timestamp(), last_transition = 'toggle', transaction_id = txid_current()
     WHERE e.id = $1
    RETURNING e.*),
v AS (
    INSERT INTO base.entity_version (entity_id, version, change_type, changed_at, changed_by, model,
                                     model_version, state, transition, transaction_id, data, started_at)
    SELECT id, version, 'UPDATE', updated_at, current_user, model, model_version, state, 'toggle',
           transaction_id, data, updated_at
      FROM u),
a AS (
    INSERT INTO base.audit_log (entity_id, at, transaction_id, event_type, transition, from_state,
                                to_state, role, detail)
    SELECT id, updated_at, transaction_id, 'TRANSITION_MAKE', 'toggle',
           CASE state WHEN 'a' THEN 'b' ELSE 'a' END, state, current_user,
           '{"manual": true, "workflow": "toggle"}'
      FROM u)
SELECT pg_notify('cyoda_wf', jsonb_build_object('id', id, 'model', model, 'state', state, 'version', version,
                                                'changeType', 'UPDATE', 'transition', 'toggle',
                                                'modelVersion', model_version)::text)
  FROM u;
SQL
cp "$WORK/base.pre" "$WORK/base_recent.pre"
awk -v t="$TX" 'BEGIN {for (i = 0; i < t; i++)
    printf "BEGIN;\nSELECT cyoda_wf.add_item(%cbench%c, 1, %c{\"n\": %d, \"pad\": \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}%c);\nROLLBACK;\n", 39, 39, 39, i, 39}' >"$WORK/add_item.sql"

# measure CALL DB N: microseconds of backend CPU per transaction
TICK_US=$((1000000 / $(getconf CLK_TCK)))
measure() {
    local call=$1 db=$2 n=$3 file
    file=$WORK/$call.sql
    [[ $call != add_item ]] && file=$WORK/$call.$db.sql
    # a warm-up of 300 statements (whole transactions) in the same session, then the measured ones
    {
        [[ -f $WORK/$call.pre ]] && cat "$WORK/$call.pre"
        head -n 300 "$file"
        echo "\\o $WORK/cpu0"
        echo "$CPU;"
        echo "\\o /dev/null"
        cat "$file"
        echo "\\o $WORK/cpu1"
        echo "$CPU;"
    } | q "$db" >/dev/null || exit 1
    echo $((($(cat "$WORK/cpu1") - $(cat "$WORK/cpu0")) * TICK_US / TX))
}
for ((r = 1; r <= ROUNDS; r++)); do
    for n in "${SIZES[@]}"; do
        for call in fire base recent base_recent add_item; do
            if ((r % 2)); then order=(v7 rnd); else order=(rnd v7); fi
            for v in "${order[@]}"; do
                [[ $v == rnd && ($call == base* || $n -gt 1000000) ]] && continue
                us=$(measure $call ${v}_$n "$n")
                echo "$us" >>"$WORK/res.$call.$v.$n"
                cw_say "round $r: $call ${v}_$n $us µs"
            done
        done
    done
    cw_say "round $r done"
done

median() { sort -n "$1" | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
med() { if [[ -f $WORK/res.$1 ]]; then median "$WORK/res.$1"; fi; }
ratio() { if [[ -n $1 && -n $2 ]]; then awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; else echo "-"; fi; }
n1=${SIZES[0]}
{
    echo "# Cost per save against the stored count (bench/ids/run.sh)"
    echo
    echo "Backend CPU per transaction (user + system, µs; median of $ROUNDS rounds of $TX transactions"
    echo "each after a warm-up of 300 statements, one session per measurement, databases alternating). \`v7\`:"
    echo "the \`new_id()\` default of \`cyoda_wf.entity.id\`; \`random\`: \`gen_random_uuid()\`. \`fire\`: the manual"
    echo "transition \`toggle\` on a random stored entity; \`baseline\`: hand-written SQL doing a fire's writes"
    echo "(UPDATE of the entity row, its version row and audit row, NOTIFY) on copies of the engine's tables"
    echo "with the same rows and indexes, same entities; \`add_item\`: one create rolled back. \`x 1k\`: ratio to"
    echo "$n1 stored entities. 10,000,000 (when measured): bulk loaded with the rows the trigger writes, v7 only."
    echo "PostgreSQL $(q postgres -c 'SHOW server_version'), shared_buffers 2GB, autovacuum off."
    echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //');"
    echo "load average before: $LOAD_BEFORE; after: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    echo "| stored entities | fire v7 (µs) | x 1k | baseline (µs) | x 1k | fire / baseline | fire random (µs) | add_item v7 (µs) | x 1k | add_item random (µs) | random / v7 | primary key v7 / random |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    f1=$(med fire.v7.$n1); b1=$(med base.v7.$n1); a1=$(med add_item.v7.$n1)
    for n in "${SIZES[@]}"; do
        f=$(med fire.v7.$n); b=$(med base.v7.$n); fr=$(med fire.rnd.$n)
        a=$(med add_item.v7.$n); ar=$(med add_item.rnd.$n)
        pk="$(cat "$WORK/pk.v7.$n") / $(cat "$WORK/pk.rnd.$n" 2>/dev/null || echo -)"
        echo "| $n | $f | $(ratio "$f" "$f1") | $b | $(ratio "$b" "$b1") | $(ratio "$f" "$b") | ${fr:--} | $a | $(ratio "$a" "$a1") | ${ar:--} | $(ratio "$ar" "$a") | $pk |"
    done
    echo
    echo "Fire on the entities created last: \`recent\` fires a random one of the $RECENT entities created"
    echo "last (all of them at $n1), \`baseline\` does the same writes by hand on the same entities."
    echo
    echo "| stored entities | recent v7 (µs) | x 1k | baseline (µs) | x 1k | recent / baseline | recent random (µs) | x 1k | random / v7 |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    f1=$(med recent.v7.$n1); b1=$(med base_recent.v7.$n1); r1=$(med recent.rnd.$n1)
    for n in "${SIZES[@]}"; do
        f=$(med recent.v7.$n); b=$(med base_recent.v7.$n); fr=$(med recent.rnd.$n)
        echo "| $n | $f | $(ratio "$f" "$f1") | $b | $(ratio "$b" "$b1") | $(ratio "$f" "$b") | ${fr:--} | $(ratio "$fr" "$r1") | $(ratio "$fr" "$f") |"
    done
} >"$OUT"
cat "$OUT"
