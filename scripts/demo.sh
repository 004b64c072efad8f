#!/usr/bin/env bash
# scripts/demo.sh: the demo (README command 1).
#
# Installs the Debian packages if missing, builds and installs cyoda_wf,
# starts a throwaway cluster (temp dir, free port, our library preloaded),
# runs the optional hook examples/demo_setup.sh (with PGHOST PGPORT PGUSER
# CW_REPO CW_TMP CW_LIB set), then examples/demo.sql with psql from the repo
# root (so \i and `cat file` in it resolve against the repo), then stops the
# cluster.  CW_DEMO_KEEP=1 leaves the cluster running and prints how to
# connect.  Other knobs: see scripts/lib.sh.

set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CW_ROOT=$ROOT
# shellcheck source=scripts/lib.sh
source "$ROOT/scripts/lib.sh"
cw_clean_pg_env

cw_install_packages
cw_pg_paths
echo "== building cyoda_wf (make; make install; compiler output only on failure)..."
cw_build_install "$ROOT"
cw_mktemp
TMP=$CW_MKTEMP
CLUSTER=$TMP/cluster
PORT=$(cw_free_port)
echo "== cluster: $CLUSTER port $PORT"
cw_start_cluster "$CLUSTER" "$PORT"

if [[ -f $ROOT/examples/demo_setup.sh ]]; then
    echo "== examples/demo_setup.sh"
    mkdir -p "$TMP/demo" && chmod 755 "$TMP/demo"
    [[ $(id -u) -eq 0 ]] && chown "$CW_PG_USER": "$TMP/demo"
    (cd "$ROOT" && CW_REPO="$ROOT" CW_TMP="$TMP/demo" CW_LIB="$ROOT/scripts/lib.sh" \
        bash examples/demo_setup.sh)
fi

# The dataset goes where the server may read it: the cluster's own directory.
DATA=$TMP/data
mkdir -p "$DATA"
cp "$ROOT/examples/data_pipeline/sales.csv" "$DATA/sales.csv"
chmod 755 "$DATA"; chmod 644 "$DATA/sales.csv"
[[ $(id -u) -eq 0 ]] && chown -R "$CW_PG_USER": "$DATA"

echo "== examples/demo.sql"
cd "$ROOT"
psql -X -v ON_ERROR_STOP=1 -P pager=off -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres \
    -v dataset="$DATA/sales.csv" -f examples/demo.sql

if [[ ${CW_DEMO_KEEP:-0} == 1 ]]; then
    CW_CLUSTERS=()
    CW_TMPDIRS=()
    echo
    echo "== cluster left running:"
    echo "   $CW_BINDIR/psql -h $PGHOST -p $PGPORT -U postgres"
    echo "   stop it: runuser -u postgres -- $CW_BINDIR/pg_ctl -D $CLUSTER/data stop; rm -rf $TMP"
else
    cw_stop_all
    echo "== demo finished, cluster stopped"
fi
