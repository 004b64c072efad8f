# shellcheck shell=bash
# scripts/lib.sh: shared bash functions for cyoda_wf's test and demo scripts.
#
# Source it from bash:  source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# It assumes a Debian 12 machine and root (clusters run as the `postgres`
# user through runuser); as a non-root user it runs clusters as that user
# and never calls apt.
#
# Settings (environment variables, all optional):
#   CW_PG_CONFIG   pg_config to build and run with (falls back to PG_CONFIG,
#                  then /usr/lib/postgresql/15/bin/pg_config)
#   PYTHON_SITE    where `make install` puts the python package; when set it
#                  is also put on the server's PYTHONPATH
#   CW_PRELOAD     shared_preload_libraries (default "pg_cron,cyoda_wf";
#                  set it to "pg_cron" to start without our library)
#   CW_EXTRA_CONF  extra postgresql.conf lines for every cluster started
#   CW_KEEP_TMP=1  keep the temporary directories (printed at exit)
#
# Sourcing installs an EXIT trap (cw_cleanup) that stops every cluster
# started with cw_start_cluster and removes every directory made with
# cw_mktemp.  A caller that needs its own EXIT trap must call cw_cleanup
# from it.

if [[ -n "${CW_LIB_LOADED:-}" ]]; then return 0; fi
CW_LIB_LOADED=1

CW_ROOT=${CW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
CW_PG_CONFIG=${CW_PG_CONFIG:-${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}}
CW_PRELOAD=${CW_PRELOAD-pg_cron,cyoda_wf}
CW_PG_USER=postgres
CW_PYTHON=/usr/bin/python3

# A fresh-machine PATH: nothing from the caller's environment (pyenv, cargo,
# ...) may influence the build or the tests.
CW_BASE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH=$CW_BASE_PATH
export LANG=C.UTF-8
unset LC_ALL LANGUAGE PYTHONPATH PYTHONHOME PYTHONSTARTUP

CW_CLUSTERS=()     # cluster directories to stop at exit
CW_TMPDIRS=()      # temporary directories to remove at exit
CW_CHILDREN=()     # background commands (cw_run) to end at exit

# Print a progress message.
cw_say() { printf '%s\n' "$*"; }

# A test script's assertion: cw_check NAME GOT WANT prints "ok    NAME", or
# "FAIL  NAME: got '...', want '...'" and sets FAILED=1 (the script exits
# non-zero at its end when FAILED is set).
cw_check() {
    if [[ $2 == "$3" ]]; then
        echo "ok    $1"
    else
        echo "FAIL  $1: got '$2', want '$3'"
        FAILED=1
    fi
}

# Remove PG* variables inherited from the caller (PGDATABASE, PGOPTIONS, ...)
# so that only the connection settings the scripts choose apply.
cw_clean_pg_env() {
    local v
    for v in $(compgen -e); do
        case $v in PG[A-Z]*) unset "$v" ;; esac
    done
}

# Set CW_BINDIR and put it first on PATH (needs pg_config to exist).
cw_pg_paths() {
    if [[ ! -x $CW_PG_CONFIG ]]; then
        cw_say "pg_config not found at $CW_PG_CONFIG"
        return 1
    fi
    CW_BINDIR=$("$CW_PG_CONFIG" --bindir)
    CW_PKGLIBDIR=$("$CW_PG_CONFIG" --pkglibdir)
    # shellcheck disable=SC2034  # used by scripts/test.sh
    CW_PG_REGRESS=$CW_PKGLIBDIR/pgxs/src/test/regress/pg_regress
    # shellcheck disable=SC2034
    CW_PG_ISOLATION_REGRESS=$CW_PKGLIBDIR/pgxs/src/test/isolation/pg_isolation_regress
    export PATH=$CW_BINDIR:$CW_BASE_PATH
}

# Install the Debian packages the build and the tests need.  Does nothing
# (no apt call) when they are all installed already.
cw_install_packages() {
    local pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-plpython3-15
                postgresql-15-cron postgresql-15-pgtap postgresql-15-plproxy
                libtap-parser-sourcehandler-pgtap-perl python3 gdb)
    local missing=() p log
    # shellcheck disable=SC2206
    pkgs+=(${CW_EXTRA_PACKAGES:-})
    if ! command -v gcc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
        pkgs+=(build-essential)
    fi
    for p in "${pkgs[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        cw_say "packages: all installed"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        cw_say "packages missing (${missing[*]}) and not root: cannot install"
        return 1
    fi
    cw_say "packages: installing ${missing[*]}"
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get -o DPkg::Lock::Timeout=300 update -qq >"$log" 2>&1 ||
       ! apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
             -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
             "${missing[@]}" </dev/null >>"$log" 2>&1; then
        cat "$log"
        rm -f "$log"
        cw_say "packages: apt-get failed"
        return 1
    fi
    rm -f "$log"
    cw_say "packages: installed"
}

# Build and install the extension found in directory $1 (default: the repo).
# On failure print the whole compiler output and return 1; on success print
# the compiler warnings, if any.
cw_build_install() {
    local dir=${1:-$CW_ROOT} log rc=0
    local args=(PG_CONFIG="$CW_PG_CONFIG")
    [[ -n ${PYTHON_SITE:-} ]] && args+=(PYTHON_SITE="$PYTHON_SITE")
    cw_pg_paths || return 1
    log=$(mktemp)
    cw_say "build: make in $dir"
    (cd "$dir" && make -j"$(nproc)" "${args[@]}") >"$log" 2>&1 || rc=1
    if [[ $rc -eq 0 ]]; then
        cw_say "build: make install"
        (cd "$dir" && make install "${args[@]}") >>"$log" 2>&1 || rc=1
    fi
    if [[ $rc -ne 0 ]]; then
        cw_say "======== BUILD FAILED: compiler/make output ========"
        cat "$log"
        cw_say "======== end of build output ========"
    elif grep -q 'warning:' "$log"; then
        cw_say "build: ok, with warnings:"
        grep -A3 'warning:' "$log"
    else
        cw_say "build: ok"
    fi
    rm -f "$log"
    return $rc
}

# Make a temporary directory (under /tmp) that the postgres user can
# traverse; its path is left in CW_MKTEMP and it is removed at exit.  Call
# it in the main shell, not in $(...), so that the cleanup knows it.
cw_mktemp() {
    CW_MKTEMP=$(mktemp -d /tmp/cyoda_wf.XXXXXX) || return 1
    chmod 755 "$CW_MKTEMP"
    CW_TMPDIRS+=("$CW_MKTEMP")
}

# cw_run CMD...: run CMD and return its exit status.  CMD runs in the
# background while this shell waits, so that a signal (Ctrl-C, CI cancel)
# is handled at once: the EXIT trap sends SIGTERM to CMD (a `timeout`
# passes it on to everything it started) and stops the clusters.  Plain
# foreground commands would delay the trap until they end.
cw_run() {
    local pid rc
    "$@" &
    pid=$!
    CW_CHILDREN+=("$pid")
    wait "$pid"
    rc=$?
    cw_forget_child "$pid"
    return $rc
}

# Drop PID from CW_CHILDREN.
cw_forget_child() {
    local p keep=()
    for p in "${CW_CHILDREN[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    CW_CHILDREN=("${keep[@]}")
}

# Is something listening on 127.0.0.1:$1?
cw_port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Can we bind 127.0.0.1:$1?
cw_port_bindable() {
    [[ -x $CW_PYTHON ]] || return 0
    "$CW_PYTHON" -I -S -c '
import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()' "$1" 2>/dev/null
}

# Print a free TCP port on 127.0.0.1.  Ports are picked at random in
# 20000..32767, below Linux's ephemeral range, never 5432 or 5543x.
cw_free_port() {
    local i p
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + RANDOM % 12768))
        case $p in 5432 | 5543?) continue ;; esac
        cw_port_in_use "$p" && continue
        cw_port_bindable "$p" || continue
        printf '%s\n' "$p"
        return 0
    done
    cw_say "cw_free_port: no free port found" >&2
    return 1
}

# Run a command as the postgres user with a minimal, fixed environment,
# from / (the repo may not be readable by postgres).
cw_as_pg() {
    local envs=(PATH="${CW_BINDIR:+$CW_BINDIR:}$CW_BASE_PATH" LANG=C.UTF-8 TZ=UTC)
    [[ -n ${PYTHON_SITE:-} ]] && envs+=(PYTHONPATH="$PYTHON_SITE")
    if [[ $(id -u) -eq 0 ]]; then
        (cd / && runuser -u "$CW_PG_USER" -- env -i "${envs[@]}" HOME=/var/lib/postgresql "$@")
    else
        (cd / && env -i "${envs[@]}" HOME="$HOME" "$@")
    fi
}

# cw_bench_cluster BUILD [name=value ...]
# The throwaway cluster of a benchmark: the PostgreSQL paths, a build and
# install first when BUILD is 1, a work directory (WORK) and a cluster in
# WORK/cluster on a free port (PORT) started with the settings given.
cw_bench_cluster() {
    local build=$1
    shift
    cw_pg_paths || return 1
    if ((build)); then
        cw_build_install "$CW_ROOT" || return 1
    fi
    cw_mktemp || return 1
    WORK=$CW_MKTEMP
    PORT=$(cw_free_port) || return 1
    cw_say "cluster: $WORK/cluster port $PORT"
    cw_start_cluster "$WORK/cluster" "$PORT" "$@"
}

# cw_start_cluster DIR PORT [name=value ...]
# initdb a new cluster in DIR/data (socket in DIR, server log in DIR/log),
# configure it for the tests, start it and wait until it accepts
# connections.  Extra arguments are postgresql.conf settings (they win over
# the defaults here), e.g. cw_start_cluster "$d" "$p" "cyoda_wf.workers=4".
# The cluster is stopped at exit.  Sets PGHOST/PGPORT/PGUSER for it.
cw_start_cluster() {
    local dir=$1 port=$2 loc s i
    shift 2
    cw_pg_paths || return 1
    if [[ ${#dir} -gt 90 ]]; then
        cw_say "cw_start_cluster: path too long for a unix socket: $dir"
        return 1
    fi
    mkdir -p "$dir" && chmod 755 "$dir" || return 1
    [[ $(id -u) -eq 0 ]] && chown "$CW_PG_USER": "$dir"
    loc=C
    if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then loc=C.UTF-8; fi
    if ! cw_as_pg initdb -D "$dir/data" -U postgres -A trust -E UTF8 --locale="$loc" -N \
            >"$dir/initdb.log" 2>&1; then
        if [[ $loc != C ]]; then
            rm -rf "$dir/data"
            cw_as_pg initdb -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C -N \
                >>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log"; return 1; }
        else
            cat "$dir/initdb.log"
            return 1
        fi
    fi
    {
        echo
        echo "# added by scripts/lib.sh for tests"
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = '$CW_PRELOAD'"
        echo "cron.database_name = 'postgres'"
        echo "cyoda_wf.database_name = 'postgres'"
        echo "max_worker_processes = 16"
        echo "max_connections = 100"
        echo "fsync = off"
        echo "synchronous_commit = off"
        echo "full_page_writes = off"
        echo "log_line_prefix = '%m [%p] %q%a '"
        echo "timezone = 'UTC'"
        echo "log_timezone = 'UTC'"
        [[ -n ${CW_EXTRA_CONF:-} ]] && printf '%s\n' "$CW_EXTRA_CONF"
        for s in "$@"; do printf '%s\n' "$s"; done
    } >>"$dir/data/postgresql.conf"
    echo "$port" >"$dir/port"
    CW_CLUSTERS+=("$dir")
    if ! cw_as_pg pg_ctl -D "$dir/data" -l "$dir/log" -w -t 120 start >"$dir/pg_ctl.log" 2>&1; then
        cw_say "cw_start_cluster: server did not start; pg_ctl said:"
        cat "$dir/pg_ctl.log"
        cw_say "---- server log $dir/log ----"
        tail -n 50 "$dir/log" 2>/dev/null
        return 1
    fi
    for ((i = 0; i < 120; i++)); do
        if "$CW_BINDIR/pg_isready" -q -h "$dir" -p "$port" -U postgres -d postgres; then
            export PGHOST=$dir PGPORT=$port PGUSER=postgres
            return 0
        fi
        sleep 0.5
    done
    cw_say "cw_start_cluster: server not ready after 60 s"
    tail -n 50 "$dir/log" 2>/dev/null
    return 1
}

# Is the cluster in DIR accepting connections?
cw_cluster_ready() {
    local dir=$1
    [[ -f $dir/port ]] && "$CW_BINDIR/pg_isready" -q -h "$dir" -p "$(cat "$dir/port")" -U postgres -d postgres
}

# cw_stop_cluster DIR: stop the cluster in DIR (fast, then immediate).
cw_stop_cluster() {
    local dir=$1 d keep=()
    if [[ -f $dir/data/postmaster.pid ]]; then
        cw_as_pg pg_ctl -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            cw_as_pg pg_ctl -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1
    fi
    for d in "${CW_CLUSTERS[@]}"; do [[ $d == "$dir" ]] || keep+=("$d"); done
    CW_CLUSTERS=("${keep[@]}")
}

# Stop every cluster started by this shell.
cw_stop_all() {
    local i
    for ((i = ${#CW_CLUSTERS[@]} - 1; i >= 0; i--)); do
        cw_stop_cluster "${CW_CLUSTERS[i]}"
    done
}

# EXIT trap: stop clusters, remove temporary directories.  Prints nothing
# (the last line of a test run must stay the summary) unless CW_KEEP_TMP=1.
cw_cleanup() {
    local d p i
    if ((${#CW_CHILDREN[@]})); then
        kill -TERM "${CW_CHILDREN[@]}" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
            for p in "${CW_CHILDREN[@]}"; do
                kill -0 "$p" 2>/dev/null && break
                cw_forget_child "$p"
            done
            ((${#CW_CHILDREN[@]})) || break
            sleep 0.1
        done
        CW_CHILDREN=()
    fi
    cw_stop_all >/dev/null 2>&1
    for d in "${CW_TMPDIRS[@]}"; do
        if [[ ${CW_KEEP_TMP:-0} == 1 ]]; then
            echo "kept $d" >&2
        else
            rm -rf "$d"
        fi
    done
    CW_TMPDIRS=()
}

trap cw_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
