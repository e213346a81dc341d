#!/usr/bin/env bash
# "The main job" (it becomes the full demo with the server issue): build the
# release binary, start the private PostgreSQL, append a sample order's events
# to the log, verify the log's hash chain, and bring the PostgreSQL read models
# up to date from the log (migrate + rebuild, then show them).
# Everything it keeps lives in .dealerline/ in the project root.
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
mkdir -p "$data"

# Leave no server behind, whatever happens below.
trap 'dl_pg_stop "$data/pg"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

phase "PostgreSQL (durable, $data/pg, port $pg_port)"
dl_pg_start "$data/pg" "$pg_port"
psql "$DL_PG_CONNINFO" -Atc 'select version()'

phase "event log: demo"
"$bin" demo --data "$data/log"

phase "event log: audit verify"
"$bin" audit verify --data "$data/log"

phase "read models: migrate and rebuild from the log"
"$bin" projections rebuild all --data "$data/log" --postgres "$DL_PG_CONNINFO"
"$bin" projections status --data "$data/log" --postgres "$DL_PG_CONNINFO"

phase "read models: the newest orders as the portal shows them"
psql "$DL_PG_CONNINFO" -P pager=off -c "SELECT order_id, dealer_id, status, total, placed_at, delivered_at
  FROM portal.orders ORDER BY placed_position DESC LIMIT 5"
psql "$DL_PG_CONNINFO" -P pager=off -c "SELECT step, at, event, status, actor FROM portal.order_timeline
  WHERE order_id = (SELECT order_id FROM portal.orders ORDER BY placed_position DESC LIMIT 1) ORDER BY step"

phase "summary"
cat <<SUMMARY
- built the release binary $bin
- started a private PostgreSQL 15 on 127.0.0.1:$pg_port with its data in $data/pg
  (log in $data/postgres.log) and checked it answers queries
- appended the events of a sample order to the event log in $data/log and printed them
- verified the log's hash chain and printed its head position and hash
- migrated the read-model schema, rebuilt every projection from the log (shadow
  tables swapped in) and showed the newest orders and one order's timeline
- stopped PostgreSQL; the data in $data/ stays for the next run
SUMMARY
