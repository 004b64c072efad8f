#!/usr/bin/env bash
# scripts/test.sh: THE test command of cyoda_wf.
#
# Installs the Debian packages if missing, builds and installs the
# extension, starts a throwaway cluster (temp dir, free port, our library
# preloaded) and runs, counting every test on its own:
#   a) pg_regress            sql/*.sql         (expected: expected/*.out)
#   b) pg_isolation_regress  test/isolation/specs/*.spec
#                            (expected: test/isolation/expected/*.out)
#   c) pgTAP                 test/pgtap/*.sql, each in a fresh database; every
#                            assertion counts (psql + TAP parsing)
#   d) scripts               executable test/scripts/*.sh; exit 0 = passed
#   plus one check that the server log shows no crash after a) to c)
#   (counted only when a) to c) ran something).
# The last line printed is exactly "N passed, N failed"; the exit status is
# non-zero iff something failed, nothing ran, or the build failed.
#
# Environment knobs (optional): CW_PRELOAD, CW_PG_CONFIG, PYTHON_SITE,
# CW_EXTRA_CONF (see scripts/lib.sh); CW_REGRESS_OPTS (extra pg_regress and
# pg_isolation_regress options); CW_SUITE_TIMEOUT (s, default 3600);
# CW_SCRIPT_TIMEOUT (s per test script, default 1800); CW_PG_PROVE=1 (also
# run pg_prove on test/pgtap for its summary; not counted); CW_KEEP_TMP=1.
#
# A test script (d) gets PGHOST PGPORT PGUSER of the running cluster,
# CW_REPO (repo root, also its working directory), CW_TMP (a scratch
# directory of its own, owned by postgres) and CW_LIB (this repo's
# scripts/lib.sh; `source "$CW_LIB"` to start clusters of its own).

set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CW_ROOT=$ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env
# Tests run from the repo root: relative paths in them resolve from there.
cd "$ROOT" || exit 1

SUITE_TIMEOUT=${CW_SUITE_TIMEOUT:-3600}
SCRIPT_TIMEOUT=${CW_SCRIPT_TIMEOUT:-1800}
PASSED=0
FAILED=0
SUMMARY=()
RESTARTS=0

# Stop everything and print the final line.
finish() {
    local s
    cw_stop_all >/dev/null 2>&1
    echo
    echo "== summary"
    for s in "${SUMMARY[@]}"; do echo "  $s"; done
    if ((PASSED + FAILED == 0)); then
        echo "nothing ran: no tests found"
        echo "0 passed, 0 failed"
        exit 1
    fi
    echo "$PASSED passed, $FAILED failed"
    ((FAILED == 0))
    exit $?
}

# A setup step failed before any test could run.
setup_failed() {
    cw_say "SETUP FAILED: $1"
    cw_stop_all >/dev/null 2>&1
    echo "0 passed, 1 failed"
    exit 1
}

# Milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Make sure the main cluster accepts connections; restart it if it died.
ensure_cluster() {
    local i
    # After a backend crash the postmaster recovers by itself: wait for it.
    for ((i = 0; i < 60; i++)); do
        cw_cluster_ready "$CLUSTER" && return 0
        cw_as_pg pg_ctl -D "$CLUSTER/data" status >/dev/null 2>&1 || break
        sleep 0.5
    done
    cw_say "!! cluster not accepting connections; last server log lines:"
    tail -n 30 "$CLUSTER/log" 2>/dev/null | sed 's/^/   /'
    cw_say "!! restarting it"
    RESTARTS=$((RESTARTS + 1))
    cw_as_pg pg_ctl -D "$CLUSTER/data" -m immediate -w -t 60 stop >/dev/null 2>&1
    cw_as_pg pg_ctl -D "$CLUSTER/data" -l "$CLUSTER/log" -w -t 120 start >/dev/null 2>&1
    cw_cluster_ready "$CLUSTER"
}

# Add a suite's result.
record() {
    local label=$1 p=$2 f=$3
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    SUMMARY+=("$(printf '%-10s %4d passed, %4d failed' "$label:" "$p" "$f")")
}

# run_regress LABEL RUNNER DB DIR SUBDIR EXT: pg_regress-style suite over
# DIR/SUBDIR/*.EXT (DIR relative to the repo root, "." for the root itself)
# with expected outputs in DIR/expected, one result line per test.
run_regress() {
    local label=$1 runner=$2 db=$3 dir=$4 subdir=$5 ext=$6
    local out=$TMP/$label tests=() f t log rc p n missing inputdir src where pid tpid
    src=$ROOT/$dir where=$dir/
    [[ $dir == . ]] && src=$ROOT where=
    for f in "$src/$subdir"/*."$ext"; do
        [[ -e $f ]] && tests+=("$(basename "$f" ".$ext")")
    done
    echo
    echo "== $label: ${#tests[@]} test(s) in $where$subdir"
    ((${#tests[@]})) || { record "$label" 0 0; return; }
    if ! ensure_cluster; then
        record "$label" 0 "${#tests[@]}"
        return
    fi
    mkdir -p "$out"
    log=$out/output.log
    # pg_regress stops the whole suite at a test without an expected file:
    # then run from a copy of the inputs where such files are empty, so that the
    # test fails alone and its diff shows everything it printed.
    inputdir=$src
    for t in "${tests[@]}"; do
        if [[ ! -e $src/expected/$t.out ]]; then
            if [[ $inputdir == "$src" ]]; then
                inputdir=$out/input
                mkdir -p "$inputdir/expected"
                cp -a "$src/$subdir" "$inputdir/"
                [[ -d $src/expected ]] && cp -a "$src/expected/." "$inputdir/expected/"
            fi
            echo "!! $label: ${where}expected/$t.out is missing: $t will fail"
            : >"$inputdir/expected/$t.out"
        fi
    done
    # In the background (see cw_run), its output followed live from the log.
    # shellcheck disable=SC2086
    timeout -k 30 "$SUITE_TIMEOUT" "$runner" \
        --bindir="$CW_BINDIR" --inputdir="$inputdir" --outputdir="$out" \
        --host="$PGHOST" --port="$PGPORT" --user=postgres --dbname="$db" \
        ${CW_REGRESS_OPTS:-} "${tests[@]}" >"$log" 2>&1 &
    pid=$!
    CW_CHILDREN+=("$pid")
    tail -n +1 -s 0.2 -f --pid="$pid" "$log" 2>/dev/null |
        grep --line-buffered -vE '^(SET|(DROP|CREATE|ALTER) DATABASE)$' &
    tpid=$!
    wait "$pid"
    rc=$?
    cw_forget_child "$pid"
    wait "$tpid"
    # PG15: "test name ... ok  12 ms" / "     name ... FAILED"; PG16+ TAP style.
    p=$(grep -cE '\.\.\. +(ok|failed \(ignored\))( |$)|^ok [0-9]+ ' "$log")
    f=$(grep -cE '\.\.\. +FAILED|^not ok [0-9]+ ' "$log")
    n=${#tests[@]}
    missing=$((n - p - f))
    if ((rc == 124)); then
        echo "!! $label: timed out after ${SUITE_TIMEOUT}s"
    fi
    if ((missing > 0)); then
        echo "!! $label: $missing test(s) reported no result (exit code $rc)"
        f=$((f + missing))
    elif ((rc != 0 && f == 0)); then
        echo "!! $label: $runner exited with code $rc"
        f=1
    fi
    if ((f > 0)) && [[ -s $out/regression.diffs ]]; then
        echo "---- $label: regression.diffs ----"
        cat "$out/regression.diffs"
        echo "---- end of regression.diffs ----"
    fi
    record "$label" "$p" "$f"
}

# pgTAP: each test/pgtap/*.sql runs with psql in a fresh database; every "ok" and
# "not ok" line is one test.  A psql error, a missing plan or a plan that
# does not match the number of assertions adds one failure.
run_tap() {
    local files=() f name db=cw_tap out=$TMP/tap rc t0 ms plan ok nok todo extra
    local p_all=0 f_all=0
    for f in "$ROOT"/test/pgtap/*.sql; do [[ -e $f ]] && files+=("$f"); done
    echo
    echo "== pgtap: ${#files[@]} file(s) in test/pgtap"
    ((${#files[@]})) || { record pgtap 0 0; return; }
    mkdir -p "$out"
    for f in "${files[@]}"; do
        name=$(basename "$f")
        if ! ensure_cluster; then
            echo "tap $name ... FAILED (cluster down)"
            f_all=$((f_all + 1))
            continue
        fi
        t0=$(now_ms)
        if ! psql -X -q -d postgres -v ON_ERROR_STOP=1 \
                -c "DROP DATABASE IF EXISTS $db" \
                -c "CREATE DATABASE $db TEMPLATE template0" >"$out/$name.createdb" 2>&1; then
            echo "tap $name ... FAILED (could not create database)"
            cat "$out/$name.createdb"
            f_all=$((f_all + 1))
            continue
        fi
        cw_run timeout -k 30 "$SUITE_TIMEOUT" \
            psql -X -q -At -P pager=off -v ON_ERROR_STOP=1 -d "$db" -f "$f" \
            >"$out/$name.out" 2>"$out/$name.err"
        rc=$?
        ms=$(($(now_ms) - t0))
        plan=$(grep -m1 -oE '^1\.\.[0-9]+' "$out/$name.out" | cut -d. -f3)
        ok=$(grep -cE '^ok [0-9]+' "$out/$name.out")
        todo=$(grep -cE '^not ok [0-9]+.*# *TODO' "$out/$name.out")
        nok=$(($(grep -cE '^not ok [0-9]+' "$out/$name.out") - todo))
        ok=$((ok + todo))
        extra=0
        local why=()
        if ((rc != 0)); then
            why+=("psql exit code $rc"); extra=1
        elif [[ -z $plan ]]; then
            why+=("no plan"); extra=1
        elif ((plan != ok + nok)); then
            why+=("planned $plan, ran $((ok + nok))"); extra=1
        fi
        ((nok > 0)) && why+=("$nok of $((ok + nok)) assertions failed")
        p_all=$((p_all + ok))
        f_all=$((f_all + nok + extra))
        if ((nok + extra == 0)); then
            printf 'tap %-40s ... ok  %d assertions  %d ms\n' "$name" "$ok" "$ms"
        else
            printf 'tap %-40s ... FAILED (%s)  %d ms\n' "$name" "$(IFS=';'; echo "${why[*]}")" "$ms"
            echo "---- $name: failed assertions and diagnostics ----"
            grep -E '^(not ok|#)' "$out/$name.out" | grep -vE '^not ok [0-9]+.*# *TODO' | head -n 200
            if [[ -s $out/$name.err ]]; then
                echo "---- $name: psql stderr ----"
                head -n 100 "$out/$name.err"
            fi
            echo "---- end of $name ----"
        fi
    done
    psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
    if [[ ${CW_PG_PROVE:-0} == 1 ]] && [[ -x /usr/bin/pg_prove ]]; then
        echo "-- pg_prove (summary only, not counted)"
        psql -X -q -d postgres -c "CREATE DATABASE cw_prove TEMPLATE template0" >/dev/null 2>&1
        cw_run timeout -k 30 "$SUITE_TIMEOUT" /usr/bin/pg_prove --psql-bin "$CW_BINDIR/psql" \
            -h "$PGHOST" -p "$PGPORT" -U postgres -d cw_prove "${files[@]}" >"$out/pg_prove.log" 2>&1
        tail -n 20 "$out/pg_prove.log"
        psql -X -q -d postgres -c "DROP DATABASE IF EXISTS cw_prove" >/dev/null 2>&1
    fi
    record pgtap "$p_all" "$f_all"
}

# The server log of the main cluster must show no crash, and the server
# must not have needed a restart.
run_health() {
    echo
    echo "== server health"
    local hits
    hits=$(grep -E 'terminated by signal|PANIC:|TRAP:|server process .* was terminated' "$CLUSTER/log" 2>/dev/null | head -n 20)
    if [[ -z $hits ]] && ((RESTARTS == 0)) && cw_cluster_ready "$CLUSTER"; then
        echo "check server_log_no_crash ... ok"
        record health 1 0
    else
        echo "check server_log_no_crash ... FAILED"
        ((RESTARTS > 0)) && echo "the server went down and was restarted $RESTARTS time(s)"
        [[ -n $hits ]] && printf '%s\n' "$hits"
        echo "---- last 60 lines of the server log ----"
        tail -n 60 "$CLUSTER/log" 2>/dev/null
        record health 0 1
    fi
}

# Executable test/scripts/*.sh; exit 0 = 1 passed, anything else = 1 failed.
run_scripts() {
    local files=() s name sdir rc t0 ms p=0 f=0
    for s in "$ROOT"/test/scripts/*.sh; do [[ -e $s ]] && files+=("$s"); done
    echo
    echo "== scripts: ${#files[@]} file(s) in test/scripts"
    ((${#files[@]})) || { record scripts 0 0; return; }
    for s in "${files[@]}"; do
        name=$(basename "$s")
        if [[ ! -x $s ]]; then
            printf 'script %-37s ... SKIPPED (not executable: chmod +x)\n' "$name"
            continue
        fi
        ensure_cluster
        sdir=$TMP/scripts/${name%.sh}
        mkdir -p "$sdir"
        chmod 755 "$TMP/scripts" "$sdir"
        [[ $(id -u) -eq 0 ]] && chown "$CW_PG_USER": "$sdir"
        t0=$(now_ms)
        cw_run env PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER=postgres \
            CW_REPO="$ROOT" CW_TMP="$sdir" CW_LIB="$ROOT/scripts/lib.sh" \
            CW_PG_CONFIG="$CW_PG_CONFIG" CW_PRELOAD="$CW_PRELOAD" \
            timeout -k 30 "$SCRIPT_TIMEOUT" "$s" </dev/null >"$sdir.log" 2>&1
        rc=$?
        ms=$(($(now_ms) - t0))
        if ((rc == 0)); then
            printf 'script %-37s ... ok  %d ms\n' "$name" "$ms"
            p=$((p + 1))
        else
            printf 'script %-37s ... FAILED (exit code %d%s)  %d ms\n' "$name" "$rc" \
                "$( ((rc == 124)) && echo ", timed out after ${SCRIPT_TIMEOUT}s")" "$ms"
            echo "---- $name: last 100 lines of output ----"
            tail -n 100 "$sdir.log"
            echo "---- end of $name ----"
            f=$((f + 1))
        fi
    done
    record scripts "$p" "$f"
}

echo "== cyoda_wf tests in $ROOT"
cw_install_packages || setup_failed "package installation"
cw_pg_paths || setup_failed "pg_config"
cw_build_install "$ROOT" || setup_failed "build"
cw_mktemp || setup_failed "temporary directory"
TMP=$CW_MKTEMP
CLUSTER=$TMP/cluster
started=0
for _ in 1 2 3; do
    PORT=$(cw_free_port) || break
    echo "== cluster: $CLUSTER port $PORT (shared_preload_libraries='$CW_PRELOAD')"
    if cw_start_cluster "$CLUSTER" "$PORT"; then
        started=1
        break
    fi
    cw_stop_cluster "$CLUSTER"
    # Retry on another port only when this one was taken meanwhile.
    grep -qE 'could not bind|Address already in use' "$CLUSTER/log" 2>/dev/null || break
    rm -rf "$CLUSTER"
done
((started)) || setup_failed "cluster did not start"

run_regress regress "$CW_PG_REGRESS" contrib_regression . sql sql
run_regress isolation "$CW_PG_ISOLATION_REGRESS" isolation_regression test/isolation specs spec
run_tap
# The crash check only counts when some test exercised the cluster.
((PASSED + FAILED > 0)) && run_health
run_scripts
finish
