#!/usr/bin/env bash
# test/scripts/upgrade.sh: ALTER EXTENSION cyoda_wf UPDATE from 0.1.0.
#
# In the running cluster:
#   1. a database with cyoda_wf 0.1.0 (the frozen install script) and data:
#      workflows with processes, entities moved by automatic and manual
#      transitions, a pending async task, an armed timer, a connection with
#      a secret header, then retargeted and forged by another role (as 0.1.0
#      let a "writer" do);
#   2. ALTER EXTENSION cyoda_wf UPDATE: every row that existed before is
#      still there, with the same values in the columns it had; a role
#      granted load_functions may execute its error handler;
#   3. the updated database has exactly the objects of a fresh
#      CREATE EXTENSION cyoda_wf (members, columns in order, defaults,
#      constraints, indexes, triggers, functions with their bodies and
#      settings, privileges, comments, tables kept by pg_dump);
#   4. the updated database works: new saves, queued work runs; the
#      connection is found by ingest, with its secret and the definition the
#      extension owner saved (not the other role's).
# Environment: PGHOST, PGPORT (the test cluster), CW_TMP (scratch).
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}"
export PGUSER=${PGUSER:-postgres}
TMPD=${CW_TMP:-$(mktemp -d)}
old=cw_upgrade_old
new=cw_upgrade_new
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "upgrade.sh: FAILED: $*"; exit 1; }

q -d postgres -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS $old" -c "DROP DATABASE IF EXISTS $new" \
  -c "CREATE DATABASE $old" -c "CREATE DATABASE $new"
trap 'q -d postgres -c "DROP DATABASE IF EXISTS $old" -c "DROP DATABASE IF EXISTS $new" \
        -c "DROP ROLE IF EXISTS cw_upgrade_other" -c "DROP ROLE IF EXISTS cw_upgrade_loader" >/dev/null 2>&1 || true' EXIT

# 1. 0.1.0 with data
q -d $old >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION cyoda_wf VERSION '0.1.0' CASCADE;
CREATE FUNCTION public.stamp(meta jsonb, data jsonb) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT data || jsonb_build_object('stamped', meta->>'transition') $$;
SELECT cyoda_wf.import_workflows('doc', 1, '{"workflows": [{"name": "w", "initialState": "draft",
  "states": {"draft": {"transitions": [
                 {"name": "auto", "next": "review", "processors": [{"name": "stamp"}]}]},
             "review": {"transitions": [
                 {"name": "publish", "next": "published", "manual": true,
                  "processors": [{"name": "stamp"}]},
                 {"name": "later", "next": "published", "processors": [{"name": "stamp",
                  "executionMode": "ASYNC_NEW_TX"}],
                  "criterion": {"type": "simple", "jsonPath": "$.async", "operation": "EQUALS", "value": true}},
                 {"name": "expire", "next": "archived", "schedule": {"delayMs": 3600000}}]},
             "published": {"transitions": [{"name": "archive", "next": "archived", "manual": true}]},
             "archived": {}}}]}');
SELECT cyoda_wf.add_item('doc', 1, jsonb_build_object('n', g)) FROM generate_series(1, 20) g;
SELECT cyoda_wf.add_item('doc', 1, '{"n": 99, "async": true}');
SELECT cyoda_wf.fire(id, 'publish') FROM cyoda_wf.entity
 WHERE model = 'doc' AND (data->>'n')::int <= 10;
SELECT cyoda_wf.update_item(id, data || '{"edited": true}') FROM cyoda_wf.entity
 WHERE model = 'doc' AND (data->>'n')::int = 11;
SELECT cyoda_wf.add_item('note', 1, '{"text": "default workflow"}');
-- A connection as 0.1.0's create_connection stored it (model row, entity
-- saved by the extension owner, secret keyed by name), written directly: the
-- Python package installed is the new one, which needs the updated schema.
INSERT INTO cyoda_wf.model (name, version, entity_type, sources)
VALUES ('connection', 1, 'CONFIG', ARRAY['API_REQUEST']);
INSERT INTO cyoda_wf.entity (model, data) VALUES ('connection', '{"name": "upg_source",
  "url": "http://127.0.0.1:1/data.json", "method": "GET", "format": "json", "timeout_ms": 2000,
  "max_bytes": 10485760, "headers": {"Authorization": "***"}}');
INSERT INTO cyoda_wf.connection_secret (connection, kind, key, value)
VALUES ('upg_source', 'header', 'authorization', 'Bearer upgrade-secret-4711');
-- Then another role retargets it and adds a newer one of the same name
-- (0.1.0 let a writer do both).
DROP ROLE IF EXISTS cw_upgrade_other;
CREATE ROLE cw_upgrade_other SUPERUSER;
SET ROLE cw_upgrade_other;
UPDATE cyoda_wf.entity SET data = data || '{"url": "http://127.0.0.1:2/elsewhere.json"}'
 WHERE model = 'connection';
INSERT INTO cyoda_wf.entity (model, data) VALUES ('connection', '{"name": "upg_source",
  "url": "http://127.0.0.1:3/forged.json", "headers": {"Authorization": "***"}}');
RESET ROLE;
-- A role that may run load_functions.
DROP ROLE IF EXISTS cw_upgrade_loader;
CREATE ROLE cw_upgrade_loader;
GRANT EXECUTE ON FUNCTION cyoda_wf.load_functions(text, text), cyoda_wf.load_functions_py(text, text)
   TO cw_upgrade_loader;
-- ... and search, whose 4-argument form 0.2.0 replaces
GRANT EXECUTE ON FUNCTION cyoda_wf.search(text, integer, jsonb, timestamptz) TO cw_upgrade_loader;
SQL
[[ $(q -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'cyoda_wf'") == 0.1.0 ]] ||
    fail "CREATE EXTENSION cyoda_wf VERSION '0.1.0' did not install 0.1.0"

# The rows of every table of the extension, in the columns 0.1.0 has, as text.
snapshot_sql=$(q -d $old <<'SQL'
SELECT string_agg(format(
         'SELECT %L, md5(coalesce(string_agg(r::text, %L ORDER BY r::text), %L)), count(*) FROM (SELECT %s FROM %I.%I) r',
         c.relname, E'\n', '', cols, n.nspname, c.relname), ' UNION ALL ' ORDER BY c.relname) || ' ORDER BY 1'
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN LATERAL (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) cols
                  FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) a ON true
 WHERE n.nspname = 'cyoda_wf' AND c.relkind = 'r';
SQL
)
before=$(q -d $old -c "$snapshot_sql")
[[ $before == *"|21"* || $before == *"entity|"* ]] || fail "no data snapshot: $before"

# 2. the update keeps every row
q -d $old -c "ALTER EXTENSION cyoda_wf UPDATE" >/dev/null

# load_functions' error handler (raise_python_error) is executable by the
# roles that could run load_functions; then their grants go, for step 3.
[[ $(q -d $old -c "SELECT has_function_privilege('cw_upgrade_loader',
        'cyoda_wf.raise_python_error(text, text, text, text)', 'EXECUTE')") == t ]] ||
    fail "a role granted load_functions under 0.1.0 may not execute raise_python_error"
# The role granted search under 0.1.0 may run the new search.
[[ $(q -d $old -c "SELECT has_function_privilege('cw_upgrade_loader',
        'cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer)', 'EXECUTE')") == t ]] ||
    fail "a role granted search under 0.1.0 may not execute the new search"
q -d $old -c "REVOKE ALL ON FUNCTION cyoda_wf.load_functions(text, text),
                  cyoda_wf.load_functions_py(text, text),
                  cyoda_wf.raise_python_error(text, text, text, text),
                  cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer)
                  FROM cw_upgrade_loader" >/dev/null
v=$(q -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'cyoda_wf'")
want=$(sed -n "s/^default_version = '\(.*\)'/\1/p" cyoda_wf.control)
[[ $v == "$want" ]] || fail "after ALTER EXTENSION UPDATE the version is $v, want $want"
after=$(q -d $old -c "$snapshot_sql")
if [[ $before != "$after" ]]; then
    diff <(echo "$before") <(echo "$after") || true
    fail "rows changed by the update (table | md5 of rows | count)"
fi
echo "ok    data kept by the update: $(echo "$before" | wc -l) tables"

# 3. same objects as a fresh install
q -d $new -c "SET client_min_messages = warning" -c "CREATE EXTENSION cyoda_wf CASCADE" >/dev/null
describe=$(cat <<'SQL'
WITH ext AS (SELECT oid, extconfig FROM pg_extension WHERE extname = 'cyoda_wf'),
     nsp AS (SELECT oid FROM pg_namespace WHERE nspname = 'cyoda_wf')
SELECT 'member ' || pg_describe_object(d.classid, d.objid, 0)
  FROM pg_depend d, ext
 WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
UNION ALL
SELECT format('column %s.%s #%s %s notnull=%s default=%s identity=%s generated=%s acl=%s',
              c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), a.attnotnull,
              pg_get_expr(ad.adbin, ad.adrelid), a.attidentity, a.attgenerated, a.attacl)
  FROM pg_class c JOIN nsp ON c.relnamespace = nsp.oid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
UNION ALL
SELECT format('relation %s kind=%s acl=%s options=%s comment=%s', c.relname, c.relkind, c.relacl,
              c.reloptions, obj_description(c.oid, 'pg_class'))
  FROM pg_class c JOIN nsp ON c.relnamespace = nsp.oid
UNION ALL
SELECT format('constraint %s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN nsp ON c.relnamespace = nsp.oid
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN nsp ON c.relnamespace = nsp.oid
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN nsp ON c.relnamespace = nsp.oid
 WHERE NOT t.tgisinternal
UNION ALL
SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid))
  FROM pg_class c JOIN nsp ON c.relnamespace = nsp.oid WHERE c.relkind IN ('v', 'm')
UNION ALL
SELECT format('function %s returns %s secdef=%s volatile=%s strict=%s parallel=%s config=%s acl=%s lang=%s src=%s comment=%s',
              p.oid::regprocedure, pg_get_function_result(p.oid), p.prosecdef, p.provolatile,
              p.proisstrict, p.proparallel, p.proconfig, p.proacl, l.lanname, md5(p.prosrc),
              obj_description(p.oid, 'pg_proc'))
  FROM pg_proc p JOIN nsp ON p.pronamespace = nsp.oid JOIN pg_language l ON l.oid = p.prolang
UNION ALL
SELECT format('function %s args %s', p.oid::regprocedure, pg_get_function_arguments(p.oid))
  FROM pg_proc p JOIN nsp ON p.pronamespace = nsp.oid
UNION ALL
SELECT format('type %s', t.oid::regtype) FROM pg_type t JOIN nsp ON t.typnamespace = nsp.oid
UNION ALL
SELECT format('schema acl=%s comment=%s', n.nspacl, obj_description(n.oid, 'pg_namespace'))
  FROM pg_namespace n JOIN nsp ON n.oid = nsp.oid
UNION ALL
SELECT 'dumped table ' || x::regclass FROM ext, unnest(ext.extconfig) x
ORDER BY 1;
SQL
)
q -d $old -c "$describe" >"$TMPD/upgraded.txt"
q -d $new -c "$describe" >"$TMPD/fresh.txt"
if ! diff -u "$TMPD/fresh.txt" "$TMPD/upgraded.txt" >"$TMPD/schema.diff"; then
    echo "---- fresh install (-) vs 0.1.0 updated (+) ----"
    cat "$TMPD/schema.diff"
    fail "ALTER EXTENSION UPDATE does not give the objects of a fresh install"
fi
echo "ok    updated schema = fresh install: $(wc -l <"$TMPD/fresh.txt") catalog lines"

# 4. the updated database works
got=$(q -d $old <<'SQL'
SELECT cyoda_wf.fire(id, 'archive') FROM cyoda_wf.entity
 WHERE model = 'doc' AND (data->>'n')::int = 1;
CALL cyoda_wf.run_tasks();
SELECT state FROM cyoda_wf.entity WHERE data->>'n' = '99';
SELECT cyoda_wf.add_item('doc', 1, '{"n": 100}') IS NOT NULL;
SELECT state || ':' || version FROM cyoda_wf.entity WHERE data->>'n' = '100';
SQL
)
want=$'archived\npublished\nt\nreview:1'
[[ $got == "$want" ]] || fail "the updated database does not work: got '$got', want '$want'"
echo "ok    the updated database saves, fires and runs queued work"
got=$(q -d $old <<'SQL'
SELECT d.entity_id = e.id, d.definition ->> 'url', d.definition -> 'headers' ->> 'Authorization',
       (SELECT pg_catalog.string_agg(s.kind || ':' || s.key || '=' || s.value, ',')
          FROM cyoda_wf.connection_secret s WHERE s.connection_id = d.entity_id)
  FROM cyoda_wf.connection_definition d JOIN cyoda_wf.entity e ON e.id = d.entity_id
 WHERE d.name = 'upg_source';
CREATE FUNCTION pg_temp.try_ingest() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cyoda_wf.ingest('upg_source', NULL, 'raw_data');
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLERRM;
END $$;
SELECT pg_temp.try_ingest();
SQL
)
want_def='t|http://127.0.0.1:1/data.json|***|header:authorization=Bearer upgrade-secret-4711'
[[ $got == "$want_def"$'\n''connection "upg_source": GET http://127.0.0.1:1/data.json '* ]] ||
    fail "the 0.1.0 connection is not what ingest uses after the update: got '$got'"
echo "ok    the 0.1.0 connection keeps its definition and secret; ingest finds it"
echo "upgrade: ok"
