#!/usr/bin/env bash
# Issue 20's federation figures with Z39.50 targets (BENCHMARKS.md, "Z39.50
# targets in a federation"): gateway's BenchmarkZ3950FederationFigures, in
# process against simulated delays (50 ms per SRU answer, a 50 ms round
# trip to the Z39.50 target), ROUNDS runs of its five alternating rounds,
# each line with its load average. Latencies, so less hurt by a loaded
# machine than throughput ratios; the load average says how loaded.
set -euo pipefail
cd "$(dirname "$0")/.."
for r in $(seq 1 "${ROUNDS:-1}"); do
  echo "run $r, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  go test -run '^$' -bench Z3950FederationFigures -benchtime 1x ./gateway 2>&1 | grep -E 'z3950_bench_test|Benchmark|^ok|FAIL'
done
