#!/usr/bin/env bash
# bench/callgrind.sh: instructions per save, counted by callgrind.
#
# A single-user backend (postgres --single, no other process, no client
# round trips) runs N add_item of a model whose workflow cascades through 5
# automatic transitions, then N fire of a manual transition.  It runs with
# N = 200 and N = 1200 (or the two counts given); the difference of the two
# totals divided by their difference in N is the cost of one create +
# cascade and one fire, without start-up, extension creation and import.
# Instruction counts do not depend on other load on the machine.
#
# Usage: bench/callgrind.sh [N_SMALL N_LARGE]
# Environment: CW_PG_CONFIG (the PostgreSQL whose installed cyoda_wf is
# measured; default pg_config on PATH), CW_KEEP_TMP=1 (keep the data
# directories and callgrind outputs).  Needs valgrind.  As root, the server
# runs as the postgres user.
set -euo pipefail
small=${1:-200} large=${2:-1200}
PGC=${CW_PG_CONFIG:-pg_config}
BIN=$("$PGC" --bindir)
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
TMP=$(mktemp -d /tmp/cw_callgrind.XXXXXX)
[[ ${CW_KEEP_TMP:-0} == 1 ]] || trap 'rm -rf "$TMP"' EXIT
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[[ $(id -u) == 0 ]] && chown postgres: "$TMP"

as_pg "$BIN/initdb" -D "$TMP/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 -N >/dev/null
echo "shared_preload_libraries = 'cyoda_wf'" >>"$TMP/data/postgresql.conf"
cat >"$TMP/setup.sql" <<'SQL'
CREATE EXTENSION cyoda_wf CASCADE;
SELECT cyoda_wf.import_workflows('cg', 1, '{"importMode": "REPLACE", "workflows": [{"name": "chain", "initialState": "s0", "states": {"s0": {"transitions": [{"name": "t1", "next": "s1", "manual": false}]}, "s1": {"transitions": [{"name": "t2", "next": "s2", "manual": false}]}, "s2": {"transitions": [{"name": "t3", "next": "s3", "manual": false}]}, "s3": {"transitions": [{"name": "t4", "next": "s4", "manual": false}]}, "s4": {"transitions": [{"name": "t5", "next": "s5", "manual": false}]}, "s5": {"transitions": [{"name": "toggle", "next": "s6", "manual": true}]}, "s6": {"transitions": [{"name": "toggle", "next": "s5", "manual": true}]}}}]}'::jsonb);
CREATE TABLE ids (n int PRIMARY KEY, id uuid);
SQL
(cd / && as_pg "$BIN/postgres" --single -D "$TMP/data" postgres <"$TMP/setup.sql" >"$TMP/setup.log" 2>&1)
grep -q 'import_workflows = ' "$TMP/setup.log" || { cat "$TMP/setup.log" >&2; exit 1; }

total() {
    local n=$1 d=$TMP/data_$1
    cp -a "$TMP/data" "$d"
    {
        for ((i = 1; i <= n; i++)); do
            echo "INSERT INTO ids VALUES ($i, cyoda_wf.add_item('cg', 1, '{\"amount\": $i, \"country\": \"NL\"}'::jsonb));"
        done
        for ((i = 1; i <= n; i++)); do
            echo "SELECT cyoda_wf.fire(id, 'toggle') FROM ids WHERE n = $i;"
        done
    } >"$TMP/work_$n.sql"
    (cd / && as_pg valgrind --tool=callgrind --callgrind-out-file="$TMP/cg_$n.out" \
        "$BIN/postgres" --single -D "$d" postgres <"$TMP/work_$n.sql" >"$TMP/work_$n.log" 2>&1)
    if [[ $(grep -c 'fire = "s6"' "$TMP/work_$n.log") != "$n" ]]; then
        echo "callgrind.sh: the run with N = $n did not fire $n times; see $TMP/work_$n.log" >&2
        exit 1
    fi
    sed -n 's/^summary: \([0-9]*\).*/\1/p' "$TMP/cg_$n.out"
}

a=$(total "$small")
b=$(total "$large")
echo "N=$small: $a instructions; N=$large: $b instructions"
echo "instructions per add_item + fire: $(((b - a) / (large - small)))"
