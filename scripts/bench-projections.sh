#!/usr/bin/env bash
# Projection rebuild throughput vs a raw COPY (docs/benchmarks.md): builds the release preset,
# starts a private PostgreSQL with its default (durable) settings in a temporary folder, runs
# bench_projections against it, and stops it again.
#   scripts/bench-projections.sh [--events N] [--batch N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source scripts/lib.sh

dl_build release bench_projections
tmp=$(mktemp -d /var/tmp/dl-bench-pg.XXXXXX)
chmod o+x "$tmp"
trap 'dl_pg_stop "$tmp/pg"; rm -rf "$tmp"' EXIT
dl_pg_start "$tmp/pg" "$(dl_free_port)"
build/release/tools/bench/bench_projections --postgres "$DL_PG_CONNINFO" "$@"
