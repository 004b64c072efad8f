#!/usr/bin/env bash
# pg_dump keeps definitions, entities, history and audit; a restore with
# session_replication_role = replica (so the engine's triggers stay quiet)
# gives a database where the entities go on moving.
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}"
export PGUSER=${PGUSER:-postgres}
BIN=$(dirname "$(command -v pg_dump)")
[[ -x /usr/lib/postgresql/15/bin/pg_dump ]] && BIN=/usr/lib/postgresql/15/bin
src=cw_dump_src; dst=cw_dump_dst
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $src" \
  -c "DROP DATABASE IF EXISTS $dst" -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
trap 'q -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" >/dev/null 2>&1 || true' EXIT

q -d $src >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf CASCADE;
CREATE FUNCTION public.stamp(meta jsonb, data jsonb) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT data || jsonb_build_object('stamped', meta->>'transition') $$;
SELECT cyoda_wf.import_workflows('doc', 1, '{"workflows": [{"name": "w", "initialState": "draft",
  "states": {"draft": {"transitions": [{"name": "publish", "next": "published", "manual": true,
                                        "processors": [{"name": "stamp"}]}]},
             "published": {"transitions": [{"name": "archive", "next": "archived", "manual": true}]},
             "archived": {}}}]}');
SELECT cyoda_wf.add_item('doc', 1, jsonb_build_object('n', g)) FROM generate_series(1, 20) g;
SELECT cyoda_wf.fire(id, 'publish') FROM cyoda_wf.entity WHERE (data->>'n')::int <= 10;
SQL

"$BIN/pg_dump" -d $src -f "${CW_TMP:-/tmp}/cw_dump.sql"
PGOPTIONS='-c session_replication_role=replica' q -d $dst -f "${CW_TMP:-/tmp}/cw_dump.sql" >/dev/null 2>&1 \
  || PGOPTIONS='-c session_replication_role=replica' q -d $dst -f "${CW_TMP:-/tmp}/cw_dump.sql"

summary="SELECT (SELECT string_agg(state || ':' || n, ',' ORDER BY state) FROM (SELECT state, count(*) n FROM cyoda_wf.entity GROUP BY state) s)
         || ' versions=' || (SELECT count(*) FROM cyoda_wf.entity_version)
         || ' audit=' || (SELECT count(*) FROM cyoda_wf.audit)
         || ' workflows=' || (SELECT count(*) FROM cyoda_wf.workflow)"
a=$(q -d $src -c "$summary"); b=$(q -d $dst -c "$summary")
echo "source:   $a"; echo "restored: $b"
[[ "$a" == "$b" ]] || { echo "FAIL: restored database differs"; exit 1; }

# the restored engine works: new saves, new audit ids, definitions cached afresh
q -d $dst -c "SELECT count(*) FROM (SELECT cyoda_wf.fire(id, 'archive') FROM cyoda_wf.entity WHERE state = 'published') f" >/dev/null
n_arch=$(q -d $dst -c "SELECT count(*) FROM cyoda_wf.entity WHERE state = 'archived'")
n_audit=$(q -d $dst -c "SELECT count(*) FROM cyoda_wf.audit WHERE transition = 'archive'")
[[ "$n_arch" == 10 && "$n_audit" == 10 ]] || { echo "FAIL: after restore: $n_arch archived, $n_audit audit rows (want 10, 10)"; exit 1; }
new=$(q -d $dst -c "SELECT cyoda_wf.add_item('doc', 1, '{}')")
st=$(q -d $dst -c "SELECT state FROM cyoda_wf.entity WHERE id = '$new'")
[[ "$st" == draft ]] || { echo "FAIL: new entity after restore is '$st'"; exit 1; }
echo "dump and restore: ok"
