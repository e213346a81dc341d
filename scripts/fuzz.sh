#!/usr/bin/env bash
# Fuzzes every libFuzzer target (tests/fuzz/) for SECONDS each (default 60), starting from its
# corpus in tests/corpus/<target>/. Builds the `fuzz` preset (clang, ASan + UBSan) first.
# A crash stops that target: its input is kept in build/fuzz/crashes/ and the script fails;
# add the input to tests/corpus/<target>/ (ctest then replays it in every build) and fix the bug.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DL_ROOT"

seconds=${1:-60}
shift || true
targets=("$@")
((${#targets[@]} > 0)) || targets=(command live_message query token record event_codec)

dl_build fuzz "${targets[@]/#/fuzz_}"

crashes=build/fuzz/crashes
mkdir -p "$crashes"
work=$(mktemp -d /tmp/dealerline-fuzz.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
for t in "${targets[@]}"; do
  echo "== fuzz_$t for ${seconds}s"
  mkdir -p "$work/$t"
  # New inputs go to the scratch folder (the first); the committed corpus is only read.
  if ! "build/fuzz/tests/fuzz/fuzz_$t" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$crashes/$t-" -print_final_stats=1 "$work/$t" "tests/corpus/$t" 2>"$work/$t.log"; then
    tail -n 40 "$work/$t.log"
    failed+=("$t")
    continue
  fi
  grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)' "$work/$t.log" | tr '\n' ' '
  echo
done

if ((${#failed[@]} > 0)); then
  echo "fuzz: crashes in ${failed[*]}; inputs in $crashes/ (add each to tests/corpus/<target>/)" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each, no crash"
