#!/usr/bin/env bash
# "The main job": the full demo. Builds the release binary, starts a private
# PostgreSQL and `dealerline serve` (log, commands, projections and the API in
# one process), then a simulated plant producing live traffic, and prints the
# portal URL and tokens. Ctrl-C stops everything it started (the server stops
# gracefully: acknowledged commands are durable, projections at a checkpoint).
# Everything it keeps lives in .dealerline/ in the project root.
#
# Environment: DEALERLINE_PORT (default 8080), DEALERLINE_PG_PORT (55432),
# DEALERLINE_SIM_RATE (changes per second, 20), DEALERLINE_DEMO_SECONDS (stop
# by itself after that many seconds; default: run until Ctrl-C).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DL_ROOT"

phase() { echo; echo "== $*"; }

phase "dependencies"
bash scripts/install-deps.sh

phase "build (release, dealerline)"
dl_build release dealerline
bin=build/release/tools/dealerline

data=.dealerline
pg_port=${DEALERLINE_PG_PORT:-55432}
port=${DEALERLINE_PORT:-8080}
rate=${DEALERLINE_SIM_RATE:-20}
mkdir -p "$data"

serve_pid="" sim_pid=""
cleanup() {
  # Every step runs whatever the one before returned. A terminal's Ctrl-C reaches the whole
  # process group, so the simulator and the server may be stopping or gone already: signal what
  # is left, then wait for both, and verify the log once the server has let go of it.
  set +e
  # The simulator first (no traffic into a stopping server), then the server (SIGTERM: graceful).
  if [[ -n $sim_pid ]]; then
    kill -TERM "$sim_pid" 2>/dev/null
    wait "$sim_pid" 2>/dev/null
  fi
  if [[ -n $serve_pid ]]; then
    kill -TERM "$serve_pid" 2>/dev/null
    wait "$serve_pid" 2>/dev/null
    echo "dealerline: server stopped"
    "$bin" audit verify --data "$data/log"
  fi
  dl_pg_stop "$data/pg"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

phase "PostgreSQL (durable, $data/pg, port $pg_port)"
dl_pg_start "$data/pg" "$pg_port"
psql "$DL_PG_CONNINFO" -Atc 'select version()'

# This checkout's own token secret, made once and kept private.
if [[ ! -s $data/jwt-secret ]]; then
  (umask 077 && openssl rand -hex 32 >"$data/jwt-secret")
fi
secret=$(cat "$data/jwt-secret")

if _dl_port_open "$port"; then
  port=$(dl_free_port)
  echo "dealerline: port ${DEALERLINE_PORT:-8080} is taken; using $port"
fi
url="http://127.0.0.1:$port"

phase "server ($url, log in $data/log, output in $data/serve.log)"
# Billing every minute (not the hourly default) so the demo's subscriptions are invoiced soon.
DEALERLINE_JWT_SECRET=$secret "$bin" serve --data "$data/log" --postgres "$DL_PG_CONNINFO" \
  --listen "127.0.0.1:$port" --billing-interval "${DEALERLINE_BILLING_INTERVAL:-60}" >"$data/serve.log" 2>&1 &
serve_pid=$!
for ((i = 0; i < 600; i++)); do
  curl -fsS "$url/readyz" >/dev/null 2>&1 && break
  _dl_alive "$serve_pid" || { tail -20 "$data/serve.log"; echo "dealerline: the server did not start" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "$url/readyz" >/dev/null || { tail -20 "$data/serve.log"; echo "dealerline: the server is not ready" >&2; exit 1; }

phase "plant simulator ($rate changes/s, output in $data/simulate.log)"
DEALERLINE_JWT_SECRET=$secret "$bin" simulate --url "$url" --rate "$rate" >"$data/simulate.log" 2>&1 &
sim_pid=$!

dealer_token=$("$bin" token --jwt-secret "$secret" --role dealer --dealer D-0001 --sub demo-dealer --ttl 86400)
staff_token=$("$bin" token --jwt-secret "$secret" --role engineer --sub demo-engineer --ttl 86400)
auditor_token=$("$bin" token --jwt-secret "$secret" --role auditor --sub demo-auditor --ttl 86400)

phase "ready"
cat <<READY
Portal (dealer D-0001, live order status):
  $url/#token=$dealer_token

Dealer token (D-0001):  $dealer_token
Staff token (engineer): $staff_token
Auditor token:          $auditor_token

Try:
  curl -s $url/api/orders?limit=3 -H "Authorization: Bearer \$DEALER_TOKEN"
  curl -s $url/api/dealers/D-0001/account -H "Authorization: Bearer \$DEALER_TOKEN"
  curl -s $url/api/events?limit=3 -H "Authorization: Bearer \$AUDITOR_TOKEN"
  curl -s $url/metrics | grep ^dealerline_
Live feed: ws://127.0.0.1:$port/api/live?from_position=0 with the token as Bearer or ?access_token=
Analytics (docs/analytics.md): psql "$DL_PG_CONNINFO" -c 'SELECT * FROM analytics.mrr_monthly'

Ctrl-C stops the simulator, the server and PostgreSQL; the data in $data/ stays.
READY

if [[ -n ${DEALERLINE_DEMO_SECONDS:-} ]]; then
  sleep "$DEALERLINE_DEMO_SECONDS"
  curl -s "$url/api/orders?limit=3" -H "Authorization: Bearer $dealer_token"
  echo
else
  wait "$serve_pid"
fi
