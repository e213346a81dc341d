#!/usr/bin/env bash
# "The tests": install deps, build (dev), run every test against a throwaway
# PostgreSQL and nats-server, then the storage, domain and command tests under ASan/UBSan.
# Extra arguments go to the dev ctest run, e.g. `scripts/test.sh -L unit`.
# Set DEALERLINE_SKIP_ASAN=1 to skip the sanitizer phase, DEALERLINE_SOAK_MINUTES=0 to skip the
# hostile-client soak (default 2 minutes), DEALERLINE_FUZZ_SECONDS=0 to skip fuzzing (default: 10 s
# per libFuzzer target).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DL_ROOT"

phase() { echo; echo "== $*"; }

phase "dependencies"
bash scripts/install-deps.sh

phase "build (dev)"
dl_build dev

tmp=$(mktemp -d /tmp/dealerline-test.XXXXXX)
# mktemp makes it 0700; as root the servers' `postgres` user must get inside.
chmod 755 "$tmp"

# Always stop what we started and remove the temp dir, keeping the exit status.
cleanup() {
  local rc=$?
  dl_pg_stop "$tmp/pg"
  dl_nats_stop "$tmp/nats"
  rm -rf -- "$tmp"
  echo
  echo "== done in ${SECONDS}s (exit status $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

phase "services (throwaway PostgreSQL and nats-server)"
pg_port=$(dl_free_port)
nats_port=$(dl_free_port)
while [[ $nats_port == "$pg_port" ]]; do nats_port=$(dl_free_port); done
dl_pg_start "$tmp/pg" "$pg_port" fast
dl_nats_start "$tmp/nats" "$nats_port"
export DEALERLINE_TEST_POSTGRES="$DL_PG_CONNINFO"
export DEALERLINE_TEST_NATS="$DL_NATS_URL"

phase "tests (dev)"
ctest --preset dev --output-on-failure --no-tests=error -j2 "$@"

# With a selection of tests (`scripts/test.sh -L unit`) the soak and the fuzzing are skipped unless
# asked for; the whole run (CI) does both.
extra_default=2 fuzz_default=10
if (($# > 0)); then extra_default=0 fuzz_default=0; fi
soak_minutes=${DEALERLINE_SOAK_MINUTES:-$extra_default}
if ((soak_minutes > 0)); then
  phase "soak (${soak_minutes} min of the simulator and hostile clients against a real server)"
  bash scripts/soak.sh --minutes "$soak_minutes"
else
  phase "soak skipped (DEALERLINE_SOAK_MINUTES=0)"
fi

if [[ ${DEALERLINE_SKIP_ASAN:-0} == 1 ]]; then
  phase "asan skipped (DEALERLINE_SKIP_ASAN=1)"
else
  phase "build (asan: storage, domain, command, projection and api tests)"
  dl_build asan storage_tests storage_fault_tests storage_crash_child domain_tests commands_tests projections_tests \
    fuzz_command fuzz_live_message fuzz_query fuzz_token fuzz_record fuzz_event_codec \
    api_tests api_server_tests
  phase "tests (asan: storage, domain, commands, projections, api)"
  # Full stack traces for UBSan reports unless the caller chose otherwise.
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
  # Known leaks inside libpq/libpqxx when a connection is killed (tests/lsan.supp says which).
  export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$DL_ROOT/tests/lsan.supp}
  # The dev phase ran the power-loss test's 200 rounds; under ASan a few dozen keep CI short.
  export DEALERLINE_FAULT_ROUNDS=${DEALERLINE_FAULT_ROUNDS:-40}
  ctest --preset asan --output-on-failure --no-tests=error -L "storage|domain|commands|projections|api"
fi

fuzz_seconds=${DEALERLINE_FUZZ_SECONDS:-$fuzz_default}
if ((fuzz_seconds > 0)); then
  phase "fuzz (${fuzz_seconds}s per target, from tests/corpus)"
  bash scripts/fuzz.sh "$fuzz_seconds"
else
  phase "fuzz skipped (DEALERLINE_FUZZ_SECONDS=0)"
fi
