#!/usr/bin/env bash
# test/scripts/fuzz.sh: feed generated hostile inputs to cyoda_wf's JSON entry
# points and check that the server survives and every error is a clean one.
#
# test/fuzz/gen.py (python3 standard library) writes CW_FUZZ_COUNT inputs
# (default 12000) for check_condition and import_workflows (each successful
# import is then exercised: add_item runs workflow criteria and the initial
# cascade, and up to five transitions are fired), plus inputs for
# validate_design / import_design and search (recorded as SKIP while those
# functions are not installed): mutations of examples/workflows/order.json,
# examples/designs/*.json and seed conditions, generated documents,
# nesting up to 100000 levels, multi-megabyte strings, wrong types, odd
# Unicode, lone surrogates and \u0000 escapes, truncated and trailing-garbage
# JSON text.  Each input runs as its own statement (statement_timeout 30 s)
# in a cluster of its own; test/fuzz/fuzz.sql records each call's SQLSTATE.
#
# Fails when: the server restarted or logged a crash; an input got no result
# (connection lost); an error has SQLSTATE class XX (internal error), 58
# (system error) or 53 (out of resources), or an empty message; or fewer than
# CW_FUZZ_COUNT calls ran.  Timeouts (57014) are listed, not failed.
#
# Settings: CW_FUZZ_COUNT (default 12000), CW_FUZZ_SEED (default 7; "random"
# for a new one), CW_FUZZ_BIG (multi-megabyte inputs, default 12).
# Long run:  CW_FUZZ_COUNT=200000 CW_FUZZ_SEED=random test/scripts/fuzz.sh
set -uo pipefail
REPO=${CW_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=/dev/null
source "${CW_LIB:-$REPO/scripts/lib.sh}"
cw_pg_paths || exit 1

COUNT=${CW_FUZZ_COUNT:-12000}
SEED=${CW_FUZZ_SEED:-7}
[[ $SEED == random ]] && SEED=$((RANDOM * 32768 + RANDOM))
BIG=${CW_FUZZ_BIG:-12}
DESIGN_COUNT=$((COUNT / 6))
SEARCH_COUNT=$((COUNT / 6))

fail() { echo "FUZZ FAILED: $*"; exit 1; }

if [[ -n ${CW_TMP:-} ]]; then
    WORK=$CW_TMP
else
    cw_mktemp || exit 1
    WORK=$CW_MKTEMP
fi
CL=$WORK/c
PORT=$(cw_free_port) || fail "no free port"
# synchronous_commit on: the results of inputs before a crash must survive it
cw_start_cluster "$CL" "$PORT" "synchronous_commit = on" || fail "could not start a cluster"
DB=cw_fuzz
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d "$DB")

psql -X -q -d postgres -c "CREATE DATABASE $DB TEMPLATE template0" || fail "createdb"
"${PSQL[@]}" -f "$REPO/test/fuzz/fuzz.sql" >/dev/null || fail "fuzz.sql"

t0=$(date +%s)
/usr/bin/python3 -I "$REPO/test/fuzz/gen.py" --count "$COUNT" --design-count "$DESIGN_COUNT" \
    --search-count "$SEARCH_COUNT" --big "$BIG" --seed "$SEED" \
    --order "$REPO/examples/workflows/order.json" \
    --design "$REPO/examples/designs/data_pipeline.json" --design "$REPO/examples/designs/seed_example.json" \
    >"$WORK/inputs.csv" || fail "gen.py"
"${PSQL[@]}" -c "\\copy fuzz.input FROM '$WORK/inputs.csv' WITH (FORMAT csv)" || fail "COPY of the inputs"
N=$("${PSQL[@]}" -At -c "SELECT max(id) FROM fuzz.input")
echo "fuzz: $N inputs (seed $SEED, $(du -h "$WORK/inputs.csv" | cut -f1)B), generated in $(($(date +%s) - t0)) s"
rm -f "$WORK/inputs.csv"

START=$("${PSQL[@]}" -At -c "SELECT pg_postmaster_start_time()")
# Run the inputs one statement each; after a crash, wait for the server to
# recover and go on with the next input (at most 5 crashes).
CRASHED=()
FROM=1
t0=$(date +%s)
: >"$WORK/run.err"
while ((FROM <= N)); do
    LOGPOS=$(wc -l <"$CL/log")
    seq "$FROM" "$N" | sed 's/.*/SELECT fuzz.run(&);/' >"$WORK/run.sql"
    PGOPTIONS="-c statement_timeout=30s" cw_run psql -X -q -d "$DB" -f "$WORK/run.sql" \
        >"$WORK/run.out" 2>>"$WORK/run.err"
    if ! grep -qE 'connection to server was lost|server closed the connection' "$WORK/run.err"; then
        break
    fi
    ID=$(tail -n +"$((LOGPOS + 1))" "$CL/log" | grep -oE 'Failed process was running: SELECT fuzz.run\([0-9]+\)' |
         head -n 1 | grep -oE '[0-9]+')
    [[ -z $ID ]] && { echo "!! lost the connection, but no crashed input in the log"; break; }
    CRASHED+=("$ID")
    echo "!! input $ID crashed the server; waiting for recovery"
    for _ in $(seq 1 240); do cw_cluster_ready "$CL" && break; sleep 0.5; done
    sed -i 's/connection to server was lost/connection lost (crash, handled)/; s/server closed the connection/server closed (crash, handled)/' "$WORK/run.err"
    ((${#CRASHED[@]} >= 5)) && { echo "!! 5 crashes: stopping"; break; }
    FROM=$((ID + 1))
done
echo "fuzz: ran in $(($(date +%s) - t0)) s"

# --- checks ---------------------------------------------------------------
BAD=0
NOW=$("${PSQL[@]}" -At -c "SELECT pg_postmaster_start_time()" 2>/dev/null) || { NOW=down; }
if [[ $NOW != "$START" ]]; then
    echo "!! the server restarted or is down ($START -> $NOW)"
    BAD=1
fi
if grep -qE 'terminated by signal|PANIC:|TRAP:|was terminated' "$CL/log"; then
    echo "!! crash in the server log:"
    grep -E 'terminated by signal|PANIC:|TRAP:|was terminated|Failed process was running' "$CL/log" | head -n 20
    BAD=1
fi
if ((${#CRASHED[@]} > 0)); then
    echo "!! ${#CRASHED[@]} input(s) crashed the server; reproducers (input text cut at 3000 characters):"
    for ID in "${CRASHED[@]}"; do
        "${PSQL[@]}" -At -c "SELECT format(E'-- input %s, target %s, b=%s, c=%s\\n%s', id, target, b, left(c, 300), left(a, 3000))
                              FROM fuzz.input WHERE id = $ID"
    done
    BAD=1
fi

echo "-- calls per function and outcome (00000 = accepted)"
"${PSQL[@]}" -c "SELECT call, sqlstate, count(*), round(avg(ms), 2) AS avg_ms, max(ms) AS max_ms
                   FROM fuzz.result GROUP BY 1, 2 ORDER BY 1, 2"
SKIPPED=$("${PSQL[@]}" -At -c "SELECT string_agg(DISTINCT call, ', ') FROM fuzz.result WHERE sqlstate = 'SKIP'")
[[ -n $SKIPPED ]] && echo "fuzz: SKIPPED (function not installed yet): $SKIPPED"
CALLS=$("${PSQL[@]}" -At -c "SELECT count(*) FROM fuzz.result WHERE sqlstate <> 'SKIP'")
echo "fuzz: $CALLS calls made"

CRASHLIST=$(IFS=,; echo "${CRASHED[*]:-0}")
MISSING=$("${PSQL[@]}" -At -c "SELECT count(*) FROM fuzz.input i WHERE NOT EXISTS (SELECT 1 FROM fuzz.result r WHERE r.id = i.id)
                                 AND i.id NOT IN ($CRASHLIST) AND i.id <= (SELECT max(id) FROM fuzz.result)")
TIMEOUTS=$(grep -c 'canceling statement due to statement timeout' "$WORK/run.err")
if ((MISSING > TIMEOUTS)); then
    echo "!! $MISSING input(s) without a result ($TIMEOUTS timed out): the statement died"
    "${PSQL[@]}" -At -c "SELECT id, target, left(a, 200) FROM fuzz.input i
                          WHERE NOT EXISTS (SELECT 1 FROM fuzz.result r WHERE r.id = i.id)
                            AND i.id NOT IN ($CRASHLIST) ORDER BY id LIMIT 10"
    BAD=1
fi
if ((TIMEOUTS > 0)); then
    echo "fuzz: $TIMEOUTS input(s) hit the 30 s statement timeout (not failed, listed):"
    "${PSQL[@]}" -At -c "SELECT id, target, length(a), left(a, 120) FROM fuzz.input i
                          WHERE NOT EXISTS (SELECT 1 FROM fuzz.result r WHERE r.id = i.id)
                            AND i.id NOT IN ($CRASHLIST) ORDER BY id LIMIT 10"
fi
OTHER=$(grep -vE 'canceling statement due to statement timeout|^CONTEXT:|^PL/pgSQL|^SQL statement|^psql:.*(ERROR|STATEMENT)|crash, handled|This probably means|before or while processing' "$WORK/run.err" | head -n 20)
[[ -n $OTHER ]] && { echo "-- psql stderr:"; echo "$OTHER"; }

INTERNAL=$("${PSQL[@]}" -At -c "SELECT count(*) FROM fuzz.result
                                 WHERE sqlstate ~ '^(XX|58|53)' OR (sqlstate NOT IN ('00000', 'SKIP') AND coalesce(message, '') = '')")
if ((INTERNAL > 0)); then
    echo "!! $INTERNAL call(s) failed with an internal/system error or an empty message; reproducers:"
    "${PSQL[@]}" -At -c "SELECT r.id, r.call, r.sqlstate, r.message, left(i.a, 300), left(i.b, 100)
                           FROM fuzz.result r JOIN fuzz.input i USING (id)
                          WHERE r.sqlstate ~ '^(XX|58|53)' OR (r.sqlstate NOT IN ('00000', 'SKIP') AND coalesce(r.message, '') = '')
                          ORDER BY r.id LIMIT 20"
    BAD=1
fi
if ((CALLS < COUNT)); then
    echo "!! only $CALLS calls ran, fewer than CW_FUZZ_COUNT=$COUNT"
    BAD=1
fi
((BAD == 0)) || fail "see above"
echo "fuzz: ok"
