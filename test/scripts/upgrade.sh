#!/usr/bin/env bash
# test/scripts/upgrade.sh: a package upgrade from the 0.1.0 release, then
# ALTER EXTENSION cyoda_wf UPDATE.
#
# 0.1.0 is the real release, built from git history (RELEASE_0_1_0 below):
# the 0.2.0 library cannot run the 0.1.0 install script, whose functions
# name the library's old symbols (fire, add_item, ... before the cyoda_wf_
# prefix).  Isolated from the system install, in CW_TMP:
#   0. a private relocatable copy of the PostgreSQL installation (bin, lib,
#      share of CW_PG_CONFIG, the headers linked) without cyoda_wf; 0.1.0
#      from `git archive` built and installed into it, its Python package
#      into a private PYTHON_SITE (the cluster's PYTHONPATH); a cluster of
#      that copy started with the library preloaded;
#   1. a database with cyoda_wf 0.1.0 and data: workflows with processes,
#      entities moved by automatic and manual transitions, a pending async
#      task, an armed timer, a connection with a secret header, then
#      retargeted and forged by another role (as 0.1.0 let a "writer" do);
#      the server stopped, the current tree built and installed into the
#      same copy (the package upgrade), the server started: before the
#      update the 0.1.0 functions fail with "could not find function";
#   2. ALTER EXTENSION cyoda_wf UPDATE: every row that existed before is
#      still there, with the same values in the columns it had; a role
#      granted load_functions may execute its error handler;
#   3. the updated database has exactly the objects of a fresh
#      CREATE EXTENSION cyoda_wf (members, columns in order, defaults,
#      constraints, indexes, triggers, functions with their bodies,
#      settings and planner costs, privileges, comments, tables kept by pg_dump);
#   4. the updated database works: new saves, queued work runs; the
#      connection is found by ingest, with its secret and the definition the
#      extension owner saved (not the other role's).
# Needs the repository with its history (not a shallow clone or an archive).
# Environment: CW_REPO (repo root), CW_TMP (scratch), CW_LIB
# (scripts/lib.sh), CW_PG_CONFIG (the PostgreSQL to copy), CW_PRELOAD.
set -euo pipefail
# The commit the 0.1.0 release was built from.
RELEASE_0_1_0=a51bb7c
REPO=${CW_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=scripts/lib.sh
source "${CW_LIB:-$REPO/scripts/lib.sh}"
cw_clean_pg_env
if [[ -n ${CW_TMP:-} ]]; then TMPD=$CW_TMP; else cw_mktemp; TMPD=$CW_MKTEMP; fi
old=cw_upgrade_old
new=cw_upgrade_new
q() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "upgrade.sh: FAILED: $*"; exit 1; }
t0=$SECONDS

git -C "$REPO" rev-parse -q --verify "$RELEASE_0_1_0^{commit}" >/dev/null 2>&1 ||
    fail "the repository in $REPO has no commit $RELEASE_0_1_0 (the 0.1.0 release): this test builds 0.1.0 from git history; run it in a clone with full history"

# 0. a private copy of the PostgreSQL installation, at the same paths under
# $TMPD/pg (pg_config and the server find share and lib relative to bin)
sys_pg_config=$CW_PG_CONFIG
pg=$TMPD/pg
export PYTHON_SITE=$TMPD/python
rm -rf "$pg" "$PYTHON_SITE" "$TMPD/src-0.1.0" "$TMPD/cl"
for d in bindir pkglibdir sharedir; do
    src=$("$sys_pg_config" --$d)
    mkdir -p "$(dirname "$pg$src")"
    cp -a "$src" "$pg$src"
done
for d in includedir pkgincludedir includedir-server; do
    src=$("$sys_pg_config" --$d)
    if [[ ! -e $pg$src ]]; then
        mkdir -p "$(dirname "$pg$src")"
        ln -s "$src" "$pg$src"
    fi
done
CW_PG_CONFIG=$pg$("$sys_pg_config" --bindir)/pg_config
[[ $("$CW_PG_CONFIG" --sharedir) == "$pg$("$sys_pg_config" --sharedir)" ]] ||
    fail "the copied pg_config does not relocate: its sharedir is $("$CW_PG_CONFIG" --sharedir)"
# A machine without cyoda_wf, then with the 0.1.0 package.
rm -rf "$pg$("$sys_pg_config" --pkglibdir)"/cyoda_wf.so "$pg$("$sys_pg_config" --pkglibdir)"/bitcode/cyoda_wf* \
       "$pg$("$sys_pg_config" --sharedir)"/extension/cyoda_wf[.-]*
mkdir -p "$PYTHON_SITE" "$TMPD/src-0.1.0"
git -C "$REPO" archive "$RELEASE_0_1_0" | tar -x -C "$TMPD/src-0.1.0"
cw_build_install "$TMPD/src-0.1.0" || fail "the 0.1.0 release does not build"
chmod -R a+rX "$pg" "$PYTHON_SITE"
cw_start_cluster "$TMPD/cl" "$(cw_free_port)" || fail "the cluster of the 0.1.0 copy does not start"
echo "ok    0.1.0 built from $RELEASE_0_1_0 and running ($((SECONDS - t0)) s)"
q -d postgres -c "CREATE DATABASE $old" -c "CREATE DATABASE $new"

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
-- saved by the extension owner, secret keyed by name), written directly.
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
-- A role that may read the audit table.
DROP ROLE IF EXISTS cw_upgrade_reader;
CREATE ROLE cw_upgrade_reader;
GRANT USAGE ON SCHEMA cyoda_wf TO cw_upgrade_reader;
GRANT SELECT ON cyoda_wf.audit TO cw_upgrade_reader;
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

# The package upgrade: the server stopped, the current tree built and
# installed into the same copy, the server started.
cw_as_pg pg_ctl -D "$TMPD/cl/data" -m fast -w -t 60 stop >/dev/null || fail "the server does not stop"
cw_build_install "$REPO" || fail "the current tree does not build"
chmod -R a+rX "$pg" "$PYTHON_SITE"
cw_as_pg pg_ctl -D "$TMPD/cl/data" -l "$TMPD/cl/log" -w -t 120 start >/dev/null ||
    fail "the server does not start with the new package"
echo "ok    the current tree installed over 0.1.0 ($((SECONDS - t0)) s)"

# Before ALTER EXTENSION UPDATE the 0.1.0 functions name symbols the new
# library does not have: each call fails, nothing is written.
got=$(q -d $old <<'SQL'
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SELECT pg_temp.try($$SELECT cyoda_wf.add_item('doc', 1, '{"n": 101}')$$);
SELECT pg_temp.try($$UPDATE cyoda_wf.entity SET data = data WHERE data->>'n' = '2'$$);
SQL
)
lib=$("$CW_PG_CONFIG" --pkglibdir)/cyoda_wf.so
want="42883 could not find function \"add_item\" in file \"$lib\""
want+=$'\n'"42883 could not find function \"entity_trigger\" in file \"$lib\""
[[ $got == "$want" ]] || fail "before the update, 0.1.0 functions: got '$got', want '$want'"
echo "ok    before the update a 0.1.0 function fails: ${got%%$'\n'*}"

# 2. the update keeps every row
q -d $old -c "ALTER EXTENSION cyoda_wf UPDATE" >/dev/null

# load_functions' error handler (raise_python_error) is executable by the
# roles that could run load_functions; then their grants go, for step 3.
[[ $(q -d $old -c "SELECT has_function_privilege('cw_upgrade_loader',
        'cyoda_wf_internal.raise_python_error(text, text, text, text)', 'EXECUTE')") == t ]] ||
    fail "a role granted load_functions under 0.1.0 may not execute raise_python_error"
[[ $(q -d $old -c "SELECT has_schema_privilege('cw_upgrade_loader', 'cyoda_wf_internal', 'USAGE')") == t ]] ||
    fail "a role granted load_functions under 0.1.0 may not use schema cyoda_wf_internal"
# The role granted search under 0.1.0 may run the new search.
[[ $(q -d $old -c "SELECT has_function_privilege('cw_upgrade_loader',
        'cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer)', 'EXECUTE')") == t ]] ||
    fail "a role granted search under 0.1.0 may not execute the new search"
q -d $old -c "REVOKE ALL ON FUNCTION cyoda_wf.load_functions(text, text),
                  cyoda_wf_internal.load_functions_py(text, text),
                  cyoda_wf_internal.raise_python_error(text, text, text, text),
                  cyoda_wf.search(text, integer, jsonb, timestamptz, text[], integer, integer)
                  FROM cw_upgrade_loader" -c "REVOKE USAGE ON SCHEMA cyoda_wf_internal FROM cw_upgrade_loader" >/dev/null
v=$(q -d $old -c "SELECT extversion FROM pg_extension WHERE extname = 'cyoda_wf'")
want=$(sed -n "s/^default_version = '\(.*\)'/\1/p" cyoda_wf.control)
[[ $v == "$want" ]] || fail "after ALTER EXTENSION UPDATE the version is $v, want $want"
# The 0.1.0 table audit is audit_log now (cyoda_wf.audit is a view).
after=$(q -d $old -c "${snapshot_sql//FROM cyoda_wf.audit)/FROM cyoda_wf.audit_log)}")
if [[ $before != "$after" ]]; then
    diff <(echo "$before") <(echo "$after") || true
    fail "rows changed by the update (table | md5 of rows | count)"
fi
echo "ok    data kept by the update: $(echo "$before" | wc -l) tables"

# The role that could read the audit table reads the audit view (its
# derived rows included: version rows of 0.1.0 start when they end).
got=$(q -d $old <<'SQL'
SELECT has_table_privilege('cw_upgrade_reader', 'cyoda_wf.audit', 'SELECT');
SET ROLE cw_upgrade_reader;
SELECT count(*) FILTER (WHERE event_type = 'STATE_MACHINE_START') = count(*) FILTER (WHERE event_type = 'STATE_MACHINE_FINISH')
   AND count(*) FILTER (WHERE event_type = 'STATE_MACHINE_START') > 0
   AND count(*) FILTER (WHERE event_type = 'TRANSITION_MAKE') > 0
  FROM cyoda_wf.audit;
RESET ROLE;
SELECT count(*) FROM cyoda_wf.entity_version WHERE started_at IS DISTINCT FROM changed_at;
SQL
)
[[ $got == $'t
t
0' ]] ||
    fail "after the update, the 0.1.0 audit reader: got '$got', want 't t 0' (SELECT on the view; START/FINISH and stored rows; started_at = changed_at)"
q -d $old -c "REVOKE ALL ON cyoda_wf.audit, cyoda_wf.audit_log FROM cw_upgrade_reader" \
    -c "REVOKE USAGE ON SCHEMA cyoda_wf FROM cw_upgrade_reader" >/dev/null
echo "ok    the 0.1.0 audit reader reads the audit view"

# 3. same objects as a fresh install
q -d $new -c "SET client_min_messages = warning" -c "CREATE EXTENSION cyoda_wf CASCADE" >/dev/null
describe=$(cat <<'SQL'
WITH ext AS (SELECT oid, extconfig FROM pg_extension WHERE extname = 'cyoda_wf'),
     nsp AS (SELECT oid FROM pg_namespace WHERE nspname IN ('cyoda_wf', 'cyoda_wf_internal'))
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
SELECT format('function %s returns %s secdef=%s volatile=%s strict=%s parallel=%s config=%s acl=%s lang=%s src=%s cost=%s rows=%s comment=%s',
              p.oid::regprocedure, pg_get_function_result(p.oid), p.prosecdef, p.provolatile,
              p.proisstrict, p.proparallel, p.proconfig, p.proacl, l.lanname, md5(p.prosrc),
              p.procost, p.prorows, obj_description(p.oid, 'pg_proc'))
  FROM pg_proc p JOIN nsp ON p.pronamespace = nsp.oid JOIN pg_language l ON l.oid = p.prolang
UNION ALL
SELECT format('function %s args %s', p.oid::regprocedure, pg_get_function_arguments(p.oid))
  FROM pg_proc p JOIN nsp ON p.pronamespace = nsp.oid
UNION ALL
SELECT format('type %s', t.oid::regtype) FROM pg_type t JOIN nsp ON t.typnamespace = nsp.oid
UNION ALL
SELECT format('schema %s acl=%s comment=%s', n.nspname, n.nspacl, obj_description(n.oid, 'pg_namespace'))
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
echo "upgrade: ok ($((SECONDS - t0)) s)"
