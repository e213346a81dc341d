#!/usr/bin/env bash
# "The main job" (for now a smoke of the event log; it becomes the full demo
# later): build the release binary, start the private PostgreSQL, append a
# sample order's events to the log and verify the log's hash chain.
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

phase "summary"
cat <<SUMMARY
- built the release binary $bin
- started a private PostgreSQL 15 on 127.0.0.1:$pg_port with its data in $data/pg
  (log in $data/postgres.log) and checked it answers queries
- appended the events of a sample order to the event log in $data/log and printed them
- verified the log's hash chain and printed its head position and hash
- stopped PostgreSQL; the data in $data/ stays for the next run
SUMMARY
