#!/usr/bin/env bash
# The benchmark suite from a fresh Debian 12 machine: installs the
# dependencies (PostgreSQL 15 included), builds tally-bench and the servers
# it drives, runs every scenario and writes build/bench/results.json (the
# JSON), build/bench/results.txt (the table and progress) and
# build/bench/micro.json (micro-benchmarks of the commit path).
#   scripts/bench.sh                      the whole suite (about 17 minutes
#                                         on 2 cores, plus 5-10 for the
#                                         transparency log's scenario)
#   scripts/bench.sh --scenarios ingest   one scenario; any tally-bench flag
#                                         passes through (--help lists them)
#   BUILD_DIR=dir scripts/bench.sh        build somewhere else than build/
#   BENCH_NICE=19 scripts/bench.sh        run at a lower priority
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

build_dir=${BUILD_DIR:-build}
nice_level=${BENCH_NICE:-0}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
nice -n "$nice_level" cmake --build "$build_dir" -j2 \
    --target tally-bench tally-commit-path-bench

out_dir="$build_dir/bench"
mkdir -p "$out_dir"
status=0
nice -n "$nice_level" "$build_dir/clients/bench/tally-bench" \
    --bin_dir "$build_dir" --out "$out_dir/results.json" "$@" \
    2>&1 | tee "$out_dir/results.txt" || status=$?
# The commit path's hot spots in isolation (Google Benchmark), skipped
# with BENCH_MICRO=0.
if [ "${BENCH_MICRO:-1}" != "0" ]; then
  nice -n "$nice_level" "$build_dir/clients/bench/tally-commit-path-bench" \
      --benchmark_min_time=0.5 --benchmark_out="$out_dir/micro.json" \
      --benchmark_out_format=json || status=$?
fi
echo "results: $out_dir/results.json (table: $out_dir/results.txt," \
     "micro-benchmarks: $out_dir/micro.json)"
exit "$status"
