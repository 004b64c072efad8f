#!/usr/bin/env bash
# test/scripts/worker_db_missing.sh: static workers whose database does not
# exist (yet).
#
# Starts its own cluster with cyoda_wf.database_name = 'cw_later' (which
# does not exist) and two static workers, then:
#   - after the first failed connection of each worker, the server log gets
#     one WARNING naming the database and cyoda_wf.database_name, and then
#     nothing more: no FATAL "database ... does not exist" every 5 s (at most
#     one per worker, from its first start), no second WARNING;
#   - once the database is created the workers find it (they look again at
#     doubling intervals from 1 s) and both serve it; the log says so once.
# Environment (optional): CW_LIB (scripts/lib.sh), CW_PG_CONFIG.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CW_LIB=${CW_LIB:-$HERE/../../scripts/lib.sh}
# shellcheck source=scripts/lib.sh
source "$CW_LIB"
cw_clean_pg_env

die() {
    echo "worker_db_missing.sh: FAILED: $*"
    if [[ -n ${DIR:-} && -f $DIR/log ]]; then
        echo "---- last 30 lines of the server log ----"
        tail -n 30 "$DIR/log"
    fi
    exit 1
}
q() { psql -X -qAt -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }
count() { grep -c -- "$1" "$DIR/log" || true; }

cw_mktemp
DIR=$CW_MKTEMP/m
PORT=$(cw_free_port)
cw_start_cluster "$DIR" "$PORT" \
    "shared_preload_libraries = 'cyoda_wf'" \
    "cyoda_wf.database_name = 'cw_later'" \
    "cyoda_wf.workers = 2"
echo "cluster: $DIR port $PORT"

warning='WARNING:  database "cw_later" named in cyoda_wf.database_name does not exist'
for _ in $(seq 1 300); do
    [[ $(count "$warning") -ge 1 ]] && break
    sleep 0.2
done
[[ $(count "$warning") -ge 1 ]] || die "no WARNING about the missing database"
# the old behaviour: each worker's FATAL every 5 s; 15 s give 6 more of them
sleep 15
fatals=$(count 'FATAL:  database "cw_later" does not exist')
warnings=$(count "$warning")
echo "after 15 s: $fatals FATAL line(s), $warnings WARNING line(s)"
((fatals <= 2)) || die "$fatals FATAL lines for the missing database, want at most one per worker"
((warnings == 1)) || die "$warnings WARNING lines for the missing database, want 1"
waiting=$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cyoda_wf worker' AND datname IS NULL")
[[ $waiting == 2 ]] || die "$waiting workers wait for the database, want 2"

q postgres "CREATE DATABASE cw_later"
for _ in $(seq 1 1200); do
    n=$(q postgres "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'cyoda_wf worker' AND datname = 'cw_later'")
    [[ $n == 2 ]] && break
    sleep 0.1
done
[[ $n == 2 ]] || die "$n workers serve cw_later after it was created, want 2"
[[ $(count 'database "cw_later" named in cyoda_wf.database_name exists now') == 1 ]] ||
    die "no single line saying the database exists now"
((${fatals} == $(count 'FATAL:  database "cw_later" does not exist'))) || die "more FATAL lines after the database was created"

echo "worker_db_missing.sh: ok"
