#!/usr/bin/env bash
# A hostile-client soak (docs/operations.md, "Soak"): a real `dealerline serve` on a fresh log and a
# fresh PostgreSQL database, the plant simulator's traffic, and tests/soak/soak_client's attacks
# (malformed requests, oversized headers and bodies, slowloris, upgrade floods, clients that never
# read, expired and forged tokens) for MINUTES. It passes when the server answered the probe all
# along and never with a 5xx, its RSS stayed under the cap, it stopped cleanly on SIGTERM, every
# command acknowledged to the simulator is in the log, and `audit verify` passes.
#
#   scripts/soak.sh [--minutes N | --long] [--max-rss-mb MB]     (default 2 minutes; --long: 30)
#
# Uses a fresh database in DEALERLINE_TEST_POSTGRES when set (scripts/test.sh), else a throwaway
# PostgreSQL of its own. Builds the `dev` preset's `dealerline` and `soak_client` first.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DL_ROOT"

minutes=2 max_rss=1024
while (($# > 0)); do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --long) minutes=30; shift ;;
    --max-rss-mb) max_rss=$2; shift 2 ;;
    *) echo "usage: scripts/soak.sh [--minutes N | --long] [--max-rss-mb MB]" >&2; exit 2 ;;
  esac
done
seconds=$((minutes * 60))

dl_build dev dealerline soak_client
bin=$DL_ROOT/build/dev/tools/dealerline
client=$DL_ROOT/build/dev/tests/soak_client

tmp=$(mktemp -d /tmp/dealerline-soak.XXXXXX)
chmod 755 "$tmp"  # as root, the throwaway server's `postgres` user must get inside
serve_pid="" sim_pid="" own_pg=0 db="" pg_base=""

cleanup() {
  local rc=$?
  # `if` rather than `&&`: a child's non-zero status must not trip `set -e` inside the trap.
  if [[ -n $sim_pid ]]; then kill -TERM "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  if [[ -n $serve_pid ]]; then kill -KILL "$serve_pid" 2>/dev/null || true; wait "$serve_pid" 2>/dev/null || true; fi
  if [[ -n $db ]]; then
    psql "$pg_base" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  ((own_pg)) && dl_pg_stop "$tmp/pg"
  if ((rc != 0)); then
    echo "soak: the server's last words ($tmp/serve.log):" >&2
    tail -n 30 "$tmp/serve.log" >&2 2>/dev/null || true
  fi
  rm -rf -- "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n ${DEALERLINE_TEST_POSTGRES:-} ]]; then
  pg_base=$DEALERLINE_TEST_POSTGRES
  db=dealerline_soak_$$
  psql "$pg_base" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $db" >/dev/null
  conninfo="$pg_base dbname=$db"  # libpq: the last dbname wins
else
  own_pg=1
  dl_pg_start "$tmp/pg" "$(dl_free_port)" fast
  conninfo=$DL_PG_CONNINFO
fi

DEALERLINE_JWT_SECRET=$(openssl rand -hex 32)
export DEALERLINE_JWT_SECRET
port=$(dl_free_port)
url="http://127.0.0.1:$port"

# A low free-space floor: /tmp on a CI machine may hold less than the default 1 GiB.
"$bin" serve --data "$tmp/log" --postgres "$conninfo" --listen "127.0.0.1:$port" --min-free-bytes $((64 << 20)) \
  --billing-interval 20 >"$tmp/serve.log" 2>&1 &
serve_pid=$!
deadline=$((SECONDS + 60))
# Ready, not just up: the probe's first orders query needs the read models.
until curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; do
  _dl_alive "$serve_pid" || { echo "soak: the server did not start" >&2; exit 1; }
  ((SECONDS < deadline)) || { echo "soak: the server was not ready within 60 s" >&2; exit 1; }
  sleep 0.2
done

echo "soak: server pid $serve_pid on $url; simulator and hostile clients for ${minutes} min"
"$bin" simulate --url "$url" --rate 40 --connections 4 --duration "$seconds" --seed 7 --acked "$tmp/acked.txt" \
  >"$tmp/simulate.log" 2>&1 &
sim_pid=$!

failed=()
"$client" attack --port "$port" --seconds "$seconds" --server-pid "$serve_pid" --max-rss-mb "$max_rss" || failed+=("attacks")

if ! wait "$sim_pid"; then
  failed+=("simulator")
  tail -n 20 "$tmp/simulate.log" >&2
fi
sim_pid=""
tail -n 1 "$tmp/simulate.log"

# A graceful stop after the soak (a stop in the middle of a command burst is ServeCli's test):
# exit 0 within 60 s, nothing acknowledged lost.
if _dl_alive "$serve_pid"; then
  kill -TERM "$serve_pid"
  deadline=$((SECONDS + 60))
  while _dl_alive "$serve_pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if _dl_alive "$serve_pid"; then
    kill -KILL "$serve_pid" || true
    failed+=("the server did not stop within 60 s of SIGTERM")
    wait "$serve_pid" || true
  elif wait "$serve_pid"; then
    echo "soak: the server stopped cleanly"
  else
    failed+=("server exit status $?")
  fi
else
  wait "$serve_pid" || true
  failed+=("server died")
fi
serve_pid=""

"$client" check --data "$tmp/log" "$tmp/acked.txt" || failed+=("acknowledged commands")
"$bin" audit verify --data "$tmp/log" || failed+=("audit verify")

if ((${#failed[@]} > 0)); then
  echo "soak: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "soak: passed (${minutes} min)"
