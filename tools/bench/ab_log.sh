#!/usr/bin/env bash
# Compares two builds of bench_log on the issue #2 target shapes, in alternating runs: the disk's
# fsync latency drifts by up to half within minutes, so two builds measured minutes apart cannot
# be compared, and one pair of runs says little. Prints each run's row and the medians per build.
#
#   tools/bench/ab_log.sh RUNS OLD/bench_log NEW/bench_log [--dir /var/tmp/bl] [other bench_log flags]
set -euo pipefail
runs=$1 a=$2 b=$3
shift 3
rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
for ((i = 1; i <= runs; i++)); do
    for side in A B; do
        bin=$a
        [[ $side == B ]] && bin=$b
        row=$("$bin" --seconds 2 --writers 64 --events 1 --scan-events 0 --target-rounds 1 "$@" | grep -E '^\| 1 \|')
        echo "$side $row" | tee -a "$rows"
    done
done
# Columns of a target row: round, raw writers, raw batch, threads, async, then the four ratios.
awk -F'|' '
    function median(list, n,   i, j, t) {
        for (i = 2; i <= n; i++) for (j = i; j > 1 && list[j-1] > list[j]; j--) { t = list[j]; list[j] = list[j-1]; list[j-1] = t }
        return n % 2 ? list[(n+1)/2] : (list[n/2] + list[n/2+1]) / 2
    }
    { side = substr($1, 1, 1); n[side]++; for (c = 7; c <= 10; c++) { v = $c; gsub(/[^0-9.]/, "", v); r[side, c, n[side]] = v } }
    END {
        split("threads÷raw-writers async÷raw-writers threads÷raw-batch async÷raw-batch", name, " ")
        for (s = 0; s < 2; s++) {
            side = s ? "B" : "A"; line = side " (" n[side] " runs), medians:"
            for (c = 7; c <= 10; c++) { delete l; for (k = 1; k <= n[side]; k++) l[k] = r[side, c, k]; line = line sprintf("  %s %.2f", name[c-6], median(l, n[side])) }
            print line
        }
    }' "$rows"
