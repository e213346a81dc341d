# shellcheck shell=bash
# Helpers sourced by scripts/test.sh and scripts/run.sh: build, free ports,
# and private (throwaway or per-checkout) PostgreSQL and NATS servers.
# Callers run with `set -euo pipefail`; the functions return non-zero with a
# message on stderr instead of exiting, so callers decide what a failure means.

[[ -n ${DL_LIB_SOURCED:-} ]] && return 0
DL_LIB_SOURCED=1

# Project root = parent of scripts/.
DL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# PostgreSQL 15 server binaries are not on PATH on Debian.
DL_PG_BIN=${DL_PG_BIN:-/usr/lib/postgresql/15/bin}

_dl_err() { echo "dealerline: $*" >&2; }

# --- build -------------------------------------------------------------------

# dl_build PRESET [targets...]
# Configure is always run: it is cheap when nothing changed and catches
# CMakeLists edits without any staleness logic here.
dl_build() {
  local preset=$1
  shift
  local target_args=()
  (($# > 0)) && target_args=(--target "$@")
  (cd "$DL_ROOT" && cmake --preset "$preset" &&
    cmake --build --preset "$preset" --parallel 2 "${target_args[@]}")
}

# --- ports -------------------------------------------------------------------

# True when something accepts TCP connections on 127.0.0.1:PORT.
_dl_port_open() {
  (: </dev/tcp/127.0.0.1/"$1") 2>/dev/null
}

# dl_free_port: print a TCP port on 127.0.0.1 that nobody listens on right now.
dl_free_port() {
  if command -v python3 >/dev/null 2>&1; then
    # Let the kernel pick: bind port 0 and report what we got.
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()' &&
      return 0
  fi
  local port i
  for ((i = 0; i < 200; i++)); do
    port=$((20000 + RANDOM % 40001))
    if [[ -z $(ss -Htln "( sport = :$port )" 2>/dev/null) ]]; then
      echo "$port"
      return 0
    fi
  done
  _dl_err "could not find a free TCP port"
  return 1
}

# True when PID exists and is not a zombie (kill -0 succeeds on zombies).
_dl_alive() {
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ -n $stat && $stat != Z* ]]
}

# --- PostgreSQL ----------------------------------------------------------------

# Run a PostgreSQL binary. initdb and pg_ctl refuse to run as root, so as root
# they run as the `postgres` OS user (created by the postgresql package); cd /
# so that user never trips over an unreadable working directory.
_dl_pg() {
  local bin=$DL_PG_BIN/$1
  shift
  if ((EUID == 0)); then
    (cd / && runuser -u postgres -- "$bin" "$@")
  else
    "$bin" "$@"
  fi
}

# dl_pg_start DATADIR PORT [fast]
# Starts a private PostgreSQL 15 on 127.0.0.1:PORT with its cluster in DATADIR
# (initdb on first use). "fast" turns durability off: for throwaway test
# servers only. Exports DL_PG_CONNINFO.
dl_pg_start() {
  local datadir=$1 port=$2 mode=${3:-}
  mkdir -p "$datadir"
  datadir=$(cd "$datadir" && pwd) # absolute: pg_ctl runs from /
  local base
  base=$(dirname "$datadir")
  local log=$base/postgres.log
  local sockdir=$base/pg-socket

  # Unix socket paths are limited (~107 bytes); keep well under.
  if ((${#sockdir} + ${#port} + 10 >= 100)); then
    sockdir=$(mktemp -d /tmp/dl-pg.XXXXXX)
    echo "$sockdir" >"$base/pg-socket.path" # so dl_pg_stop can remove it
  fi
  mkdir -p "$sockdir"
  touch "$log"

  if ((EUID == 0)); then
    chown postgres: "$datadir" "$sockdir" "$log"
    if ! runuser -u postgres -- test -x "$datadir"; then
      _dl_err "user postgres cannot reach $datadir; make its parent directories traversable (chmod o+x)"
      return 1
    fi
  fi
  chmod 700 "$datadir"

  if [[ ! -f $datadir/PG_VERSION ]]; then
    echo "postgres: initdb $datadir"
    _dl_pg initdb -D "$datadir" -U postgres -A trust --encoding=UTF8 --no-locale >>"$log" 2>&1 || {
      _dl_err "initdb failed, see $log"
      tail -n 20 "$log" >&2
      return 1
    }
  fi

  # A server left running from an earlier (killed) run of this cluster: stop it
  # so the settings below apply.
  if _dl_pg pg_ctl -D "$datadir" status >/dev/null 2>&1; then
    echo "postgres: stopping a server left running in $datadir"
    _dl_pg pg_ctl -D "$datadir" -m fast -w stop >/dev/null 2>&1 || true
  fi
  # Otherwise pg_isready below would happily report someone else's server.
  if _dl_port_open "$port"; then
    _dl_err "port $port on 127.0.0.1 is already in use"
    return 1
  fi

  local opts="-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$sockdir'"
  if [[ $mode == fast ]]; then
    opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  fi
  # -W: don't let pg_ctl wait; we poll readiness ourselves with a deadline.
  _dl_pg pg_ctl -D "$datadir" -l "$log" -W -o "$opts" start >/dev/null || {
    _dl_err "pg_ctl start failed, see $log"
    return 1
  }

  local deadline=$((SECONDS + 30))
  until _dl_pg pg_ctl -D "$datadir" status >/dev/null 2>&1 &&
    "$DL_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; do
    if ((SECONDS >= deadline)); then
      _dl_err "PostgreSQL did not become ready on port $port within 30s; last log lines:"
      tail -n 20 "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  export DL_PG_CONNINFO="host=127.0.0.1 port=$port user=postgres dbname=postgres"
  echo "postgres: ready on 127.0.0.1:$port (data $datadir, log $log)"
}

# dl_pg_stop DATADIR: stop the server if it runs; never fails.
dl_pg_stop() {
  local datadir=$1
  [[ -d $datadir ]] || return 0
  datadir=$(cd "$datadir" && pwd)
  local base
  base=$(dirname "$datadir")
  if [[ -f $datadir/postmaster.pid ]]; then
    _dl_pg pg_ctl -D "$datadir" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  fi
  if [[ -f $base/pg-socket.path ]]; then
    rm -rf -- "$(cat "$base/pg-socket.path")" "$base/pg-socket.path" || true
  fi
  return 0
}

# --- NATS ----------------------------------------------------------------------

# dl_nats_start DIR PORT: nats-server with JetStream (store in DIR/js) on
# 127.0.0.1:PORT; log DIR/nats.log, pid DIR/nats.pid. Exports DL_NATS_URL.
dl_nats_start() {
  local dir=$1 port=$2
  mkdir -p "$dir/js"
  if _dl_port_open "$port"; then
    _dl_err "port $port on 127.0.0.1 is already in use"
    return 1
  fi
  nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/js" >>"$dir/nats.log" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$dir/nats.pid"

  local deadline=$((SECONDS + 30))
  until _dl_port_open "$port"; do
    if ! _dl_alive "$pid"; then
      _dl_err "nats-server exited during startup; last log lines:"
      tail -n 20 "$dir/nats.log" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      _dl_err "nats-server did not open port $port within 30s"
      tail -n 20 "$dir/nats.log" >&2
      return 1
    fi
    sleep 0.1
  done
  export DL_NATS_URL="nats://127.0.0.1:$port"
  echo "nats: ready on $DL_NATS_URL (pid $pid, log $dir/nats.log)"
}

# dl_nats_stop DIR: stop the server started by dl_nats_start; never fails.
dl_nats_stop() {
  local pidfile=$1/nats.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if _dl_alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + 10))
    while _dl_alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    # Still there after 10s: don't leave it behind.
    _dl_alive "$pid" && kill -KILL "$pid" 2>/dev/null
  fi
  # Reap it if it is our child, so no zombie is left.
  wait "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  return 0
}
