#!/usr/bin/env bash
# Data ingestion (issue 8) against real HTTP servers on 127.0.0.1: runs
# test/ingest/ingest.sql in a database of its own and compares its output
# (ports and paths normalized) with test/ingest/expected.out; checks that
# the secrets never show up in that output.  Nothing but 127.0.0.1 is
# contacted.  Needs PGHOST PGPORT (PGUSER) of a running cluster with
# cyoda_wf installed; CW_REPO (default: this repo) and CW_TMP (scratch
# directory, default: a new one under /tmp).
# CW_INGEST_ACCEPT=1 writes the normalized output to expected.out instead.
set -euo pipefail
: "${PGHOST:?}" "${PGPORT:?}"
export PGUSER=${PGUSER:-postgres}
REPO=${CW_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
own_tmp=
if [[ -z ${CW_TMP:-} ]]; then CW_TMP=$(mktemp -d /tmp/cw_ingest.XXXXXX); own_tmp=$CW_TMP; fi
DB=cw_ingest_test
SECRET=S3cr3t-T0ken-4711
QSECRET=Qk-9f8e7d6c5b
q() { psql -X -q -At -v ON_ERROR_STOP=1 -d postgres "$@"; }

SERVER_PID=
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    set +e
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
    q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
    [[ -n $own_tmp ]] && rm -rf "$own_tmp"
}
trap cleanup EXIT

# Files for file:// (read by the server's OS user).
chmod 755 "$CW_TMP"
FILES=$CW_TMP/files
rm -rf "$FILES"
mkdir -p "$FILES/subdir"
printf 'region,units\nNA,3\nEU,4.5\n' >"$FILES/sales.csv"
printf '{"small": true}' >"$FILES/small.json"
printf '{"pad": "%0200d"}' 0 >"$FILES/big.json"
printf '{"outside": true}' >"$CW_TMP/outside.json"
ln -s ../outside.json "$FILES/link.json"
chmod -R a+rX "$FILES" "$CW_TMP/outside.json"
FILES=$(cd "$FILES" && pwd -P)

# The HTTP servers (A and B) on free ports of 127.0.0.1.
rm -f "$CW_TMP/ports"
python3 -I "$REPO/test/ingest/server.py" "$CW_TMP/ports" "$SECRET" "$QSECRET" &
SERVER_PID=$!
for _ in $(seq 100); do [[ -s $CW_TMP/ports ]] && break; sleep 0.1; done
read -r PORT_A PORT_B <"$CW_TMP/ports"
# A port nobody listens on (bound, then closed).
REFUSED=$(python3 -I -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

q -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
out=$CW_TMP/ingest.out
psql -X -a -d $DB -v A="$PORT_A" -v B="$PORT_B" -v refused="$REFUSED" -v filedir="$FILES" \
     -v secret="$SECRET" -v qsecret="$QSECRET" -f "$REPO/test/ingest/ingest.sql" >"$out" 2>&1 || true

status=0
if grep -n -e "$SECRET" -e "$QSECRET" "$out"; then
    echo "FAIL: a secret appears in the output (lines above)"
    status=1
fi
norm=$CW_TMP/ingest.norm
sed -e "s/127\.0\.0\.1:$PORT_A\b/127.0.0.1:PORT_A/g" -e "s/127\.0\.0\.1:$PORT_B\b/127.0.0.1:PORT_B/g" \
    -e "s/127\.0\.0\.1:$REFUSED\b/127.0.0.1:PORT_REFUSED/g" -e "s#$FILES#FILEDIR#g" -e "s#$CW_TMP#TMPDIR#g" \
    "$out" >"$norm"
if [[ ${CW_INGEST_ACCEPT:-0} == 1 ]]; then
    cp "$norm" "$REPO/test/ingest/expected.out"
    echo "wrote $REPO/test/ingest/expected.out"
elif ! diff -u "$REPO/test/ingest/expected.out" "$norm" >"$CW_TMP/ingest.diff"; then
    echo "FAIL: output differs from test/ingest/expected.out:"
    cat "$CW_TMP/ingest.diff"
    status=1
fi
((status == 0)) && echo "ingest: ok"
exit $status
