#!/usr/bin/env bash
# test/scripts/cluster.sh: the router (cyoda_wf_router) in front of four
# shard databases on two PostgreSQL servers.
#
# Two clusters of its own on loopback ports: A holds shards 0 and 2, the
# router database and a single-server database (the reference for errors),
# B holds shards 1 and 3.  As role alice (user mappings: her own role on the
# shards) the seed's data pipeline (examples/designs/data_pipeline.json and
# examples/data_pipeline/processes.py, as in sql/pipeline.sql) runs through
# the router: definitions on every shard (cluster_check in step), 1,000 jobs
# (CW_CLUSTER_JOBS) made in one statement and spread round robin, every
# job's children on its shard, add_report fired on every job, get_item / get_entity /
# transitions / fire / changes through the router equal to the shard's own
# answers for every entity, changed_by alice; search and stats equal the
# union of the shards (also sorted by a data path, and paged); errors (P0002, 55000, 22023, 40001 and a process's
# own SQLSTATE) carry the same SQLSTATE, message, detail and hint as on one
# server.  Then cluster B stops: calls for its ids fail with 08006 naming the
# shard, the others go on; after B restarts nothing is lost.  Last, shard 2
# is dumped with pg_dump and restored into a new database, which keeps
# shard number 2, mints ids of shard 2 without a call and, put in the old
# one's place by configure_shards, serves the router: the same reads of
# every entity, add_item's turn, saves.
set -euo pipefail

NJOBS=${CW_CLUSTER_JOBS:-1000}   # pipeline jobs through the router (a multiple of 4)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CW_LIB=${CW_LIB:-$HERE/../../scripts/lib.sh}
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source=scripts/lib.sh
source "$CW_LIB"
cw_clean_pg_env
cw_mktemp
FAILED=0

die() { echo "cluster.sh: FAILED: $*"; exit 1; }

# start_cluster NAME: a cluster in $CW_MKTEMP/NAME; sets NAME_DIR, NAME_PORT.
start_cluster() {
    local name=$1 dir port
    dir=$CW_MKTEMP/$name
    port=$(cw_free_port)
    cw_start_cluster "$dir" "$port" "cyoda_wf.workers = 0" || die "cluster $name did not start"
    printf -v "${name}_DIR" '%s' "$dir"
    printf -v "${name}_PORT" '%s' "$port"
}
# q CLUSTER DB SQL [ROLE]: one query, unaligned tuples.
q() {
    local dir=${1}_DIR port=${1}_PORT
    PGHOST=${!dir} PGPORT=${!port} PGUSER=${4:-postgres} \
        psql -X -qAt -v ON_ERROR_STOP=1 -d "$2" -c "$3"
}
# psql_on CLUSTER DB [psql args...]: a psql as postgres reading stdin.
psql_on() {
    local dir=${1}_DIR port=${1}_PORT db=$2
    shift 2
    PGHOST=${!dir} PGPORT=${!port} PGUSER=postgres psql -X -q -v ON_ERROR_STOP=1 -d "$db" "$@"
}
# The shards: SHARD_CLUSTER[k] holds database sk.
SHARD_CLUSTER=(A B A B)
qs() { q "${SHARD_CLUSTER[$1]}" "s$1" "$2" "${3:-postgres}"; }   # qs K SQL [ROLE]
qr() { q A router "$1" "${2:-alice}"; }                            # qr SQL [ROLE]

start_cluster A
start_cluster B

# A small extra model whose process fails with its own SQLSTATE, detail, hint.
BOOM_PY='
import plpy

def explode(meta, data):
    plpy.error("boom %s" % data.get("n"), sqlstate="CW042", detail="the detail", hint="the hint")
'
BOOM_WF='{"workflows": [{"name": "boom_wf", "initialState": "new", "states": {
  "new": {"transitions": [{"name": "explode", "next": "done", "manual": true,
                           "processors": [{"name": "explode"}]},
                          {"name": "later", "next": "done", "manual": true,
                           "processors": [{"name": "explode", "executionMode": "ASYNC_NEW_TX",
                                           "config": {"retryPolicy": "NONE"}}]}]},
  "done": {"transitions": []}}}]}'

# Shard databases (and the single server): cyoda_wf, role alice with the
# rights the README names; the shards numbered.
for c in A B; do
    q $c postgres "CREATE ROLE alice LOGIN"
done
setup_engine() {   # setup_engine CLUSTER DB
    psql_on "$1" postgres -c "CREATE DATABASE $2" >/dev/null
    psql_on "$1" "$2" >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
CREATE SCHEMA cw_pipeline;
GRANT USAGE ON SCHEMA cyoda_wf TO alice;
GRANT EXECUTE ON FUNCTION cyoda_wf.remote_call(text, text[], boolean),
    cyoda_wf.add_item(text, integer, jsonb), cyoda_wf.update_item(uuid, jsonb, text, bigint),
    cyoda_wf.fire(uuid, text), cyoda_wf.delete_item(uuid),
    cyoda_wf.patch_item(uuid, jsonb, text, bigint),
    cyoda_wf.get_item(uuid, timestamptz, bigint), cyoda_wf.get_entity(uuid, timestamptz, bigint),
    cyoda_wf.transitions(uuid), cyoda_wf.changes(uuid, timestamptz),
    cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer), cyoda_wf.stats(text),
    cyoda_wf.stats_by(text, integer, text, jsonb),
    cyoda_wf.shard(), cyoda_wf.definition_digest(), cyoda_wf.export_workflows(text, integer),
    cyoda_wf.retry_task(bigint), cyoda_wf.retry_failed(text, timestamptz), cyoda_wf.metrics(),
    cyoda_wf.explain(uuid)
  TO alice;
SQL
}
for k in 0 1 2 3; do
    setup_engine "${SHARD_CLUSTER[$k]}" "s$k"
    qs $k "SELECT cyoda_wf.set_shard($k)" >/dev/null
done
setup_engine A single

# The router database, without cyoda_wf.
psql_on A postgres -c "CREATE DATABASE router" >/dev/null
psql_on A router >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf_router CASCADE;
SQL
cw_check "the router database has no cyoda_wf" \
    "$(q A router "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension")" \
    "cyoda_wf_router,plpgsql,plproxy"

# err_of(query): 'SQLSTATE | message | detail | hint' of the error a query
# raises, in the router and the single-server database alike.
for db in router single; do
    psql_on A $db >/dev/null <<'SQL'
CREATE FUNCTION public.err_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE s text; m text; d text; h text;
BEGIN
    EXECUTE q;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT,
                            d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN concat_ws(' | ', s, m, d, h);
END $$;
SQL
done

# ---------------------------------------------------------------------------
# configure_shards and shards()
# ---------------------------------------------------------------------------
conn() { local c=${SHARD_CLUSTER[$1]}_PORT; echo "host=127.0.0.1 port=${!c} dbname=s$1"; }
CONNS="ARRAY['$(conn 0)', '$(conn 1)', '$(conn 2)', '$(conn 3)']"
SWAPPED="ARRAY['$(conn 1)', '$(conn 0)', '$(conn 2)', '$(conn 3)']"
cw_check "add_item before configure_shards: 55000" \
    "$(q A router "SELECT split_part(err_of(\$q\$SELECT cyoda_wf.add_item('boom', 1, '{}')\$q\$), ' | ', 1) || ' ' || split_part(err_of(\$q\$SELECT cyoda_wf.add_item('boom', 1, '{}')\$q\$), ' | ', 2)")" \
    "55000 no shards are configured"
cw_check "call_shard without a function: 22004" \
    "$(q A router "SELECT split_part(err_of(\$q\$SELECT cyoda_wf.call_shard(0, NULL, NULL)\$q\$), ' | ', 1)")" \
    "22004"
cw_check "three shards: 22023" \
    "$(q A router "SELECT split_part(err_of(\$q\$SELECT cyoda_wf.configure_shards(ARRAY['a', 'b', 'c'])\$q\$), ' | ', 1)")" \
    "22023"
cw_check "shard 0 that is shard 1: 55000" \
    "$(q A router "SELECT split_part(err_of(\$q\$SELECT cyoda_wf.configure_shards($SWAPPED)\$q\$), ' | ', 2)")" \
    "shard 0 says it is shard 1"
cw_check "configure_shards" "$(q A router "SELECT cyoda_wf.configure_shards($CONNS)")" "4"
cw_check "configure_shards again (replaces)" "$(q A router "SELECT cyoda_wf.configure_shards($CONNS)")" "4"
# alice on the router: the README's grants
psql_on A router >/dev/null <<'SQL'
GRANT USAGE ON SCHEMA cyoda_wf TO alice;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA cyoda_wf TO alice;
REVOKE EXECUTE ON FUNCTION cyoda_wf.configure_shards(text[]) FROM alice;
GRANT USAGE ON FOREIGN SERVER cyoda_wf TO alice;
SQL
cw_check "shards()" "$(qr "SELECT string_agg(shard || ':' || reachable || ':' || entities, ' ' ORDER BY shard) FROM cyoda_wf.shards()")" \
    "0:true:0 1:true:0 2:true:0 3:true:0"
cw_check "nothing for PUBLIC on the router" \
    "$(q A router "SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'cyoda_wf'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')")" "0"

# ---------------------------------------------------------------------------
# The data pipeline through the router (definitions as postgres, entities as alice)
# ---------------------------------------------------------------------------
DESIGN=$(cat "$REPO/examples/designs/data_pipeline.json")
PROCESSES=$(cat "$REPO/examples/data_pipeline/processes.py")
for db in router single; do
    psql_on A $db -v design="$DESIGN" -v processes="$PROCESSES" -v boom_py="$BOOM_PY" \
        -v boom_wf="$BOOM_WF" >/dev/null 2>"$CW_MKTEMP/defs_$db.err" <<'SQL' || { cat "$CW_MKTEMP/defs_$db.err"; die "definitions in $db"; }
SELECT cyoda_wf.import_design(:'design'::jsonb, 'cw_pipeline');
SELECT cyoda_wf.load_functions(:'processes', 'cw_pipeline');
SELECT cyoda_wf.import_design(:'design'::jsonb, 'cw_pipeline');
SELECT cyoda_wf.load_functions(:'boom_py', 'public');
SELECT cyoda_wf.import_workflows('boom', 1, :'boom_wf'::jsonb);
SQL
done
cw_check "cluster_check: in step" "$(qr "SELECT count(*) FROM cyoda_wf.cluster_check()")" "0"
cw_check "export_workflows as on one server" \
    "$(qr "SELECT md5(cyoda_wf.export_workflows('data_ingestion_job', 1)::text)")" \
    "$(q A single "SELECT md5(cyoda_wf.export_workflows('data_ingestion_job', 1)::text)" alice)"
for k in 0 1 2 3; do
    cw_check "shard $k: criterion has_connection made by load_functions" \
        "$(qs $k "SELECT format_type(prorettype, NULL) FROM pg_proc WHERE proname = 'has_connection'")" "boolean"
done

CSV=$'region,product,units,unit_price,date\nNA,Widget,10,12.50,2024-01-05\nEU,Widget,4,11.60,2024-01-06\n eu ,gadget,2,37.00,2024-01-07\nUK,Gadget,1,32.00,2024-01-08\nNA,Gizmo,3,74.00,2024-01-09\nAPAC,Widget,20,16.90,2024-01-10\nNA,Widget,,12.50,2024-01-11\nEU,Gizmo,1,68.80,2024-02-30\n'
ADD_JOB="SELECT cyoda_wf.add_item('data_ingestion_job', 1, jsonb_build_object('name', 'job ' || g, 'source', jsonb_build_object('inline_csv', \$csv\$$CSV\$csv\$)))"
T0=$SECONDS
JOBS=$(qr "$ADD_JOB FROM generate_series(1, $NJOBS) g")
echo "time: $NJOBS jobs through the router in one statement: $((SECONDS - T0)) s"
SINGLE_JOB=$(q A single "$ADD_JOB FROM generate_series(1, 1) g" alice)
[[ $(wc -l <<<"$JOBS") == "$NJOBS" ]] || die "$NJOBS jobs through the router: $(wc -l <<<"$JOBS") ids"
JOB_ARRAY="'{$(paste -sd, <<<"$JOBS")}'::uuid[]"
cw_check "jobs round robin: $((NJOBS / 4)) on each shard" \
    "$(qr "SELECT string_agg(n::text, ' ' ORDER BY s) FROM (SELECT cyoda_wf.shard_of(j) s, count(*) n FROM unnest($JOB_ARRAY) j GROUP BY 1) x")" \
    "$((NJOBS / 4)) $((NJOBS / 4)) $((NJOBS / 4)) $((NJOBS / 4))"
STATE_SINGLE=$(q A single "SELECT state FROM cyoda_wf.entity WHERE id = '$SINGLE_JOB'")
cw_check "jobs reach the state of one server" \
    "$(qr "SELECT string_agg(DISTINCT cyoda_wf.get_entity(j) #>> '{meta,state}', ',') FROM unnest($JOB_ARRAY) j")" \
    "$STATE_SINGLE"
for k in 0 1 2 3; do
    cw_check "shard $k: every id of its own shard" \
        "$(qs $k "SELECT bool_and(cyoda_wf.shard_of(id) = $k) FROM cyoda_wf.entity")" "t"
    cw_check "shard $k: children of its jobs sit there" \
        "$(qs $k "SELECT count(*) FILTER (WHERE p.id IS NULL) || ' ' || (count(*) > 0)
                    FROM cyoda_wf.entity c LEFT JOIN cyoda_wf.entity p ON p.id = c.parent_id
                   WHERE c.parent_id IS NOT NULL")" "0 true"
    cw_check "shard $k: ids a job remembers are on its shard" \
        "$(qs $k "SELECT bool_and(EXISTS (SELECT FROM cyoda_wf.entity c WHERE c.id = (v #>> '{}')::uuid))
                    FROM cyoda_wf.entity e, jsonb_each(e.data) AS kv(key, v)
                   WHERE e.model = 'data_ingestion_job' AND kv.key LIKE '%\_id'")" "t"
done

# add_report (manual) through the router, for every job
REPORT_SINGLE=$(q A single "SELECT cyoda_wf.fire('$SINGLE_JOB', 'add_report')" alice)
T0=$SECONDS
cw_check "fire add_report through the router" \
    "$(qr "SELECT string_agg(DISTINCT cyoda_wf.fire(j, 'add_report'), ',') FROM unnest($JOB_ARRAY) j")" \
    "$REPORT_SINGLE"
echo "time: add_report fired on $NJOBS jobs through the router: $((SECONDS - T0)) s"
cw_check "changed_by names the caller" \
    "$(qr "SELECT string_agg(DISTINCT c.changed_by, ',') FROM unnest($JOB_ARRAY) j, cyoda_wf.changes(j) c")" \
    "alice"
cw_check "audit role names the caller" \
    "$(qs 1 "SELECT string_agg(DISTINCT role, ',') FROM cyoda_wf.audit a JOIN cyoda_wf.entity e ON e.id = a.entity_id WHERE e.model = 'data_ingestion_job'")" \
    "alice"

# Every entity through the router equals the shard's own answers.
READS="md5(string_agg(i::text || cyoda_wf.get_item(i)::text || cyoda_wf.get_entity(i)::text
          || (SELECT string_agg(c::text, ';') FROM cyoda_wf.changes(i) c)
          || coalesce((SELECT string_agg(t::text, ';') FROM cyoda_wf.transitions(i) t), ''), ',' ORDER BY i))"
T0=$SECONDS
for k in 0 1 2 3; do
    IDS=$(qs $k "SELECT quote_literal('{' || string_agg(id::text, ',') || '}') || '::uuid[]' FROM cyoda_wf.entity")
    cw_check "shard $k: get_item, get_entity, changes, transitions of every entity ($(qs $k "SELECT count(*) FROM cyoda_wf.entity"))" \
        "$(qr "SELECT $READS FROM unnest($IDS) i")" \
        "$(qs $k "SELECT $READS FROM unnest($IDS) i" alice)"
done
echo "time: reads of every entity through the router and on its shard: $((SECONDS - T0)) s"

# search and stats: the union of the shards
ENT="to_char(e.created_at, 'YYYY-MM-DD HH24:MI:SS.US') || ' ' || to_jsonb(e)::text"
for m in data_ingestion_job report_entity; do
    union=$(for k in 0 1 2 3; do qs $k "SELECT $ENT FROM cyoda_wf.search('$m', 1, NULL) e" alice; done | LC_ALL=C sort)
    cw_check "search $m: the union of the shards in order" \
        "$(qr "SELECT $ENT FROM cyoda_wf.search('$m', 1, NULL) e" | md5sum)" "$(md5sum <<<"$union")"
done
COND='{"type": "simple", "jsonPath": "$.name", "operatorType": "EQUALS", "value": "job 3"}'
cw_check "search with a condition" \
    "$(qr "SELECT count(*) || ' ' || bool_and(e.id = ANY($JOB_ARRAY)) FROM cyoda_wf.search('data_ingestion_job', 1, '$COND') e")" "1 true"
union=$(for k in 0 1 2 3; do qs $k "SELECT model || ' ' || model_version || ' ' || state || ' ' || count FROM cyoda_wf.stats()"; done |
        awk '{n[$1" "$2" "$3] += $4} END {for (k in n) print k, n[k]}' | LC_ALL=C sort)
cw_check "stats: summed over the shards" \
    "$(qr "SELECT model || ' ' || model_version || ' ' || state || ' ' || count FROM cyoda_wf.stats()" | LC_ALL=C sort)" "$union"
cw_check "stats(model)" "$(qr "SELECT count || ' ' || state FROM cyoda_wf.stats('data_ingestion_job')")" \
    "$NJOBS $REPORT_SINGLE"

# Paging: the pages through the router are the merged result cut in pages
ALLJ=$(qr "SELECT string_agg(id::text, ',' ORDER BY created_at, id) FROM (SELECT e.id, e.created_at
            FROM cyoda_wf.search('data_ingestion_job', 1, NULL) e ORDER BY e.created_at, e.id LIMIT 12) f")
PAGED=$(qr "SELECT string_agg(e.id::text, ',' ORDER BY n, e.created_at, e.id) FROM generate_series(0, 3) n,
                   cyoda_wf.search('data_ingestion_job', 1, NULL, NULL, NULL, 3, n) e")
cw_check "search pages of 3 through the router: the first 12 of the merged result in order" "$PAGED" "$ALLJ"
# Sort keys: the router orders the merged rows as one server would
NAMES=$(for k in 0 1 2 3; do qs $k "SELECT e.data->>'name' FROM cyoda_wf.search('data_ingestion_job', 1, NULL) e" alice; done |
        LC_ALL=C sort -r | tr '\n' ',')
cw_check "search sorted by a data path through the router: the union of the shards in that order" \
    "$(qr "SELECT string_agg(e.data->>'name', ',') || ',' FROM cyoda_wf.search('data_ingestion_job', 1, NULL, NULL, ARRAY['name:desc']) e")" \
    "$NAMES"
cw_check "search sorted and paged through the router: page 2 of 5" \
    "$(qr "SELECT string_agg(e.data->>'name', ',') || ',' FROM cyoda_wf.search('data_ingestion_job', 1, NULL, NULL, ARRAY['@state', 'name:desc'], 5, 2) e")" \
    "$(tr ',' '\n' <<<"$NAMES" | sed -n '11,15p' | tr '\n' ',')"
union=$(for k in 0 1 2 3; do qs $k "SELECT coalesce(value::text, 'NULL') || ' ' || count FROM cyoda_wf.stats_by('report_entity', 1, '\$.job_state')" alice; done |
        awk '{n[$1] += $2} END {for (k in n) print k, n[k]}' | LC_ALL=C sort)
cw_check "stats_by: summed over the shards" \
    "$(qr "SELECT coalesce(value::text, 'NULL') || ' ' || count FROM cyoda_wf.stats_by('report_entity', 1, '\$.job_state')" | LC_ALL=C sort)" "$union"
# Reads by transaction and up to a time go to the entity's shard
J1=$(head -1 <<<"$JOBS")
TX=$(qr "SELECT transaction_id FROM cyoda_wf.changes('$J1') ORDER BY version LIMIT 1")
cw_check "get_item by transaction_id through the router" \
    "$(qr "SELECT cyoda_wf.get_item('$J1', NULL, $TX)::text")" \
    "$(qs "$(qr "SELECT cyoda_wf.shard_of('$J1')")" "SELECT cyoda_wf.get_item('$J1', NULL, $TX)::text" alice)"
cw_check "changes up to a time through the router" \
    "$(qr "SELECT count(*) FROM cyoda_wf.changes('$J1', '-infinity')")" "0"

# ---------------------------------------------------------------------------
# Errors: as on one server
# ---------------------------------------------------------------------------
JOB0=$(head -1 <<<"$JOBS")
NO_SUCH=01a24245-0433-7001-9ed5-17a1f8609cd5
errs() {   # errs NAME ROLE QUERY-WITH-@JOB@
    local name=$1 role=$2 sql=$3 got want
    got=$(q A router "SELECT err_of(\$q\$${sql//@JOB@/$JOB0}\$q\$)" "$role" | sed "s/$JOB0/ID/g")
    want=$(q A single "SELECT err_of(\$q\$${sql//@JOB@/$SINGLE_JOB}\$q\$)" "$role" | sed "s/$SINGLE_JOB/ID/g")
    cw_check "error as on one server: $name ($(cut -d' ' -f1 <<<"$want"))" "$got" "$want"
    [[ $want != "no error" ]] || { echo "FAIL  $name raised no error"; FAILED=1; }
}
errs "get_item of no entity" alice "SELECT cyoda_wf.get_item('$NO_SUCH')"
errs "get_item of a random uuid" alice "SELECT cyoda_wf.get_item('8d2f6a1e-3b1c-4c2d-9e8f-0a1b2c3d4e5f')"
errs "get_entity before creation" alice "SELECT cyoda_wf.get_entity('@JOB@', '2000-01-01')"
errs "fire an unknown transition" alice "SELECT cyoda_wf.fire('@JOB@', 'no_such_transition')"
errs "model not creatable by clients" alice "SELECT cyoda_wf.add_item('raw_data_entity', 1, '{}')"
errs "update_item if_match" alice "SELECT cyoda_wf.update_item('@JOB@', NULL, NULL, 999)"
errs "search with a bad sort key" alice "SELECT count(*) FROM cyoda_wf.search('data_ingestion_job', 1, NULL, NULL, ARRAY['name:up'])"
errs "move_entity without the right" alice "SELECT cyoda_wf.move_entity('@JOB@', 'x', 'no')"
cw_check "a REPLACE that strands entities through the router: 55000, no shard changed" \
    "$(qr "SELECT split_part(err_of(\$q\$SELECT cyoda_wf.import_workflows('data_ingestion_job', 1, '{\"importMode\": \"REPLACE\", \"workflows\": []}', '{}')\$q\$), ' ', 1)" postgres) $(qr "SELECT count(*) FROM cyoda_wf.cluster_check()")" \
    "55000 0"
errs "search with a bad condition" alice "SELECT count(*) FROM cyoda_wf.search('data_ingestion_job', 1, '{\"type\": \"bogus\"}')"
errs "import_workflows of a bad body" postgres "SELECT cyoda_wf.import_workflows('bad', 1, '{\"workflows\": [{\"name\": 1}]}')"
errs "a process's own SQLSTATE" alice "SELECT cyoda_wf.fire(cyoda_wf.add_item('boom', 1, '{\"n\": 7}'), 'explode')"
errs "import_workflows without the right" alice "SELECT cyoda_wf.import_workflows('bad', 1, '{\"workflows\": []}')"
cw_check "a bad import changed no shard" "$(qr "SELECT count(*) FROM cyoda_wf.cluster_check()")" "0"

# A shard out of step (here: changed behind the router's back) is listed by
# cluster_check, and the same import through the router brings it back.
qs 3 "SELECT cyoda_wf.import_workflows('boom', 1, '{\"importMode\": \"REPLACE\", \"workflows\": []}')" >/dev/null
cw_check "cluster_check: a shard out of step" "$(qr "SELECT string_agg(shard || ' ' || difference, ',') FROM cyoda_wf.cluster_check()")" \
    "3 model boom version 1: differs"
q A router "SELECT cyoda_wf.import_workflows('boom', 1, \$j\$$BOOM_WF\$j\$)" >/dev/null
cw_check "cluster_check: the import run again repairs it" "$(qr "SELECT count(*) FROM cyoda_wf.cluster_check()")" "0"

# retry_task: a failed async task, retried through the router on its shard
BOOM=$(qr "SELECT cyoda_wf.add_item('boom', 1, '{\"n\": 8}')")
BOOM_SHARD=$(qr "SELECT cyoda_wf.shard_of('$BOOM')")
FIRED=$(qr "SELECT cyoda_wf.fire('$BOOM', 'later')" 2>&1)
cw_check "an async fire's NOTICE and WARNING through the router, as the shard raised them" \
    "$(grep -c "^NOTICE:  transition \"later\" of entity $BOOM queued as task" <<<"$FIRED") $(grep -c '^WARNING:  no cyoda_wf worker serves database' <<<"$FIRED") $(grep -c 'REMOTE' <<<"$FIRED")" \
    "1 1 0"
qs "$BOOM_SHARD" "CALL cyoda_wf.run_tasks()" >/dev/null
TASK=$(qs "$BOOM_SHARD" "SELECT id FROM cyoda_wf.task WHERE entity_id = '$BOOM' AND state = 'failed'")
cw_check "retry_task of a failed task of shard $BOOM_SHARD" "$(qr "SELECT cyoda_wf.retry_task($TASK)")" "t"
cw_check "the task is pending again on its shard" \
    "$(qs "$BOOM_SHARD" "SELECT state FROM cyoda_wf.task WHERE id = $TASK")" "pending"
cw_check "explain through the router: the shard's own answer" \
    "$(qr "SELECT jsonb_agg(to_jsonb(x)) FROM cyoda_wf.explain('$BOOM') x")" \
    "$(qs "$BOOM_SHARD" "SELECT jsonb_agg(to_jsonb(x)) FROM cyoda_wf.explain('$BOOM') x" alice)"
qs "$BOOM_SHARD" "CALL cyoda_wf.run_tasks()" >/dev/null
SUMS=$(for k in 0 1 2 3; do qs $k "SELECT coalesce(sum(pending), 0) || ' ' || coalesce(sum(failed), 0) FROM cyoda_wf.metrics() WHERE model = 'boom'" alice; done |
       awk '{p += $1; f += $2} END {print p " " f}')
cw_check "metrics through the router: the shards' counts summed" \
    "$(qr "SELECT pending || ' ' || failed FROM cyoda_wf.metrics() WHERE model = 'boom'")" "$SUMS"
cw_check "metrics through the router: the total row" \
    "$(qr "SELECT failed FROM cyoda_wf.metrics() WHERE model IS NULL")" \
    "$(for k in 0 1 2 3; do qs $k "SELECT failed FROM cyoda_wf.metrics() WHERE model IS NULL" alice; done | awk '{f += $1} END {print f}')"
cw_check "retry_failed through the router: the failed task re-queued" \
    "$(qr "SELECT cyoda_wf.retry_failed('boom')")" "1"
cw_check "... pending again on its shard" \
    "$(qs "$BOOM_SHARD" "SELECT state FROM cyoda_wf.task WHERE id = $TASK")" "pending"
cw_check "move_entity through the router, by a role granted it on the shards" \
    "$(qr "SELECT cyoda_wf.move_entity('$BOOM', 'done', 'closed by hand')" postgres)" "done"
cw_check "... audited on its shard" \
    "$(qs "$BOOM_SHARD" "SELECT count(*) FROM cyoda_wf.audit WHERE entity_id = '$BOOM' AND event_type = 'STATE_MOVED'")" "1"
cw_check "import_workflows with options through the router: a dry run stores nothing" \
    "$(qr "SELECT (cyoda_wf.import_workflows('boom', 1, '{\"importMode\": \"REPLACE\", \"workflows\": []}', '{\"dryRun\": true}') ->> 'stranded')::int > 0" postgres) $(qr "SELECT count(*) FROM cyoda_wf.cluster_check()")" \
    "t 0"
cw_check "delete_item of no entity" "$(qr "SELECT cyoda_wf.delete_item('$NO_SUCH')")" "f"
cw_check "retry_task of no task" "$(qr "SELECT cyoda_wf.retry_task(123456)")" "f"

# ---------------------------------------------------------------------------
# Cluster B (shards 1 and 3) stops
# ---------------------------------------------------------------------------
ON_B=$(qr "SELECT j FROM unnest($JOB_ARRAY) j WHERE cyoda_wf.shard_of(j) = 1 LIMIT 1")
ON_A=$(qr "SELECT j FROM unnest($JOB_ARRAY) j WHERE cyoda_wf.shard_of(j) = 2 LIMIT 1")
BEFORE=$(qr "SELECT md5(cyoda_wf.get_entity('$ON_B')::text)")
TOTAL=$(qr "SELECT sum(count) FROM cyoda_wf.stats()")
cw_as_pg pg_ctl -D "$B_DIR/data" -m fast -w -t 60 stop >/dev/null || die "cluster B did not stop"
cw_check "B stopped: a call for shard 1 fails naming it" \
    "$(qr "SELECT split_part(err_of(\$q\$SELECT cyoda_wf.get_item('$ON_B')\$q\$), ' | ', 1) || ' | ' || split_part(err_of(\$q\$SELECT cyoda_wf.get_item('$ON_B')\$q\$), ' | ', 2)")" \
    "08006 | shard 1 cannot be reached"
cw_check "B stopped: calls for shard 2 go on" \
    "$(qr "SELECT cyoda_wf.update_item('$ON_A', cyoda_wf.get_item('$ON_A') || '{\"note\": 1}')")" "$REPORT_SINGLE"
cw_check "B stopped: add_item goes on to the shards that answer" \
    "$(qr "SELECT string_agg(DISTINCT cyoda_wf.shard_of(cyoda_wf.add_item('boom', 1, '{\"n\": 10}'))::text, ',')
             FROM generate_series(1, 4)")" "0,2"
TOTAL=$((TOTAL + 4))
cw_check "B stopped: the skipped shards are in the router's log" \
    "$(grep -c 'shard [13] cannot be reached, the call goes to the next shard' "$A_DIR/log")" "2"
cw_check "B stopped: shards()" \
    "$(qr "SELECT string_agg(shard || ':' || reachable, ' ' ORDER BY shard) FROM cyoda_wf.shards()")" \
    "0:true 1:false 2:true 3:false"
cw_check "B stopped: search needs every shard" \
    "$(qr "SELECT split_part(err_of(\$q\$SELECT count(*) FROM cyoda_wf.search('boom', 1, NULL)\$q\$), ' | ', 1)")" "08006"
cw_as_pg pg_ctl -D "$B_DIR/data" -l "$B_DIR/log" -w -t 120 start >/dev/null || die "cluster B did not restart"
cw_check "B back: its entity as it was" "$(qr "SELECT md5(cyoda_wf.get_entity('$ON_B')::text)")" "$BEFORE"
cw_check "B back: nothing lost" "$(qr "SELECT sum(count) FROM cyoda_wf.stats()")" "$TOTAL"
cw_check "B back: a save on shard 1" \
    "$(qr "SELECT cyoda_wf.update_item('$ON_B', NULL, NULL)")" "$REPORT_SINGLE"

# ---------------------------------------------------------------------------
# Shard 2 restored from pg_dump into a new database and put in its place
# ---------------------------------------------------------------------------
IDS2=$(qs 2 "SELECT quote_literal('{' || string_agg(id::text, ',') || '}') || '::uuid[]' FROM cyoda_wf.entity")
READS2=$(qr "SELECT $READS FROM unnest($IDS2) i")
COUNT2=$(qs 2 "SELECT count(*) FROM cyoda_wf.entity")
PGHOST=$A_DIR PGPORT=$A_PORT PGUSER=postgres pg_dump -Fc -d s2 -f "$CW_MKTEMP/s2.dump" || die "pg_dump of shard 2"
psql_on A postgres -c "CREATE DATABASE s2r" >/dev/null
PGHOST=$A_DIR PGPORT=$A_PORT PGUSER=postgres pg_restore --exit-on-error -d s2r "$CW_MKTEMP/s2.dump" ||
    die "pg_restore of shard 2"
cw_check "restored shard: shard() is 2 without set_shard" "$(q A s2r "SELECT cyoda_wf.shard()")" "2"
MINTED=$(q A s2r "SELECT cyoda_wf.add_item('boom', 1, '{\"n\": 9}')" alice)
cw_check "restored shard: mints ids of shard 2" "$(q A s2r "SELECT cyoda_wf.shard_of('$MINTED')")" "2"
CONNS_R="ARRAY['$(conn 0)', '$(conn 1)', 'host=127.0.0.1 port=$A_PORT dbname=s2r', '$(conn 3)']"
cw_check "configure_shards with the restored shard" "$(q A router "SELECT cyoda_wf.configure_shards($CONNS_R)")" "4"
cw_check "restored shard: shards() counts its entities" \
    "$(qr "SELECT entities FROM cyoda_wf.shards() WHERE shard = 2")" "$((COUNT2 + 1))"
cw_check "restored shard: every entity read through the router as before the dump" \
    "$(qr "SELECT $READS FROM unnest($IDS2) i")" "$READS2"
NEW4=$(qr "SELECT cyoda_wf.add_item('boom', 1, jsonb_build_object('n', g)) FROM generate_series(1, 4) g")
NEW2=$(qr "SELECT j FROM unnest('{$(paste -sd, <<<"$NEW4")}'::uuid[]) j WHERE cyoda_wf.shard_of(j) = 2")
cw_check "restored shard: add_item through the router lands in it" \
    "$(q A s2r "SELECT count(*) FROM cyoda_wf.entity WHERE id = '$NEW2'")/$(qs 2 "SELECT count(*) FROM cyoda_wf.entity WHERE id = '$NEW2'")" "1/0"
V=$(qs 2 "SELECT version FROM cyoda_wf.entity WHERE id = '$ON_A'")
cw_check "restored shard: update_item through the router" \
    "$(qr "SELECT cyoda_wf.update_item('$ON_A', NULL, NULL)")" "$REPORT_SINGLE"
cw_check "restored shard: fire through the router" "$(qr "SELECT cyoda_wf.fire('$NEW2', 'later')")" "new"
cw_check "restored shard: the saves are in it, not in the old database" \
    "$(q A s2r "SELECT version FROM cyoda_wf.entity WHERE id = '$ON_A'") $(qs 2 "SELECT version FROM cyoda_wf.entity WHERE id = '$ON_A'") $(q A s2r "SELECT count(*) FROM cyoda_wf.task WHERE entity_id = '$NEW2'")" \
    "$((V + 1)) $V 1"
cw_check "restored shard: cluster_check in step" "$(qr "SELECT count(*) FROM cyoda_wf.cluster_check()")" "0"

if ((FAILED)); then
    echo "cluster.sh: FAILED"
    exit 1
fi
echo "cluster.sh: all checks passed"
