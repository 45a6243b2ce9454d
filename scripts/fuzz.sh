#!/usr/bin/env bash
# Fuzzes every decoder of outside input (tests/fuzz) with libFuzzer under
# AddressSanitizer + UBSan, SECONDS each (default 60), one target at a time.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Builds with Clang into build-fuzz/. Seeds come from tests/fuzz/corpus/<target>
# (read only); what the fuzzer finds goes to build-fuzz/corpus/<target> and
# carries over to the next run. A crash, a hang (-timeout) or running out of
# memory stops the script with the input saved in build-fuzz/artifacts/:
# make it a unit test and add the input to tests/fuzz/corpus/<target>.
# Prints libFuzzer's closing figures per target (executions, cov, ft).
# FUZZ_JOBS=N runs N targets at a time (default 1).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
fi

scripts/install-deps.sh

build_dir=build-fuzz
# Line tables (-g1) are all a crash report needs (see scripts/test.sh).
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" \
  -DTALLY_WERROR=ON -DTALLY_SANITIZE=ON \
  -DTALLY_FUZZ=ON -DTALLY_BUILD_TESTS=OFF -DTALLY_BUILD_MICROBENCHMARKS=OFF \
  >/dev/null
cmake --build "$build_dir" -j2 --target tally_fuzz_targets

if [ $# -gt 0 ]; then
  targets=("$@")
else
  IFS=';' read -r -a targets <"$build_dir/tests/fuzz/targets.txt" || true
fi

# The ingest target keeps a RocksDB store under $TMPDIR and syncs it on
# every commit: on /dev/shm that costs nothing.
tmp_parent=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmp_parent=/dev/shm
fuzz_tmp=$(mktemp -d "$tmp_parent/tally-fuzz.XXXXXX")
trap 'rm -rf "$fuzz_tmp"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# One target: its figures (or FAILED) in $build_dir/logs/<target>.result.
fuzz_one() {
  local target=$1
  local seeds=tests/fuzz/corpus/$target
  local corpus=$build_dir/corpus/$target
  local artifacts=$build_dir/artifacts/$target/
  local log=$build_dir/logs/$target.log
  local result=$build_dir/logs/$target.result
  mkdir -p "$corpus" "$artifacts"
  local dict=()
  [ -f "tests/fuzz/dict/$target.dict" ] &&
    dict=(-dict="tests/fuzz/dict/$target.dict")
  local status=0
  TMPDIR=$fuzz_tmp "$build_dir/tests/fuzz/$target" \
    -max_total_time="$seconds" -timeout=30 -rss_limit_mb=3072 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$artifacts" \
    "${dict[@]}" "$corpus" "$seeds" >"$log" 2>&1 || status=$?
  local runs done_line cov ft
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$done_line")
  local line="$target: ${runs:-?} executions in ${seconds}s, cov ${cov:-?}, ft ${ft:-?}"
  if [ "$status" -ne 0 ]; then
    echo "FAILED $line (exit $status; input in $artifacts, log $log)" >"$result"
  else
    echo "$line" >"$result"
  fi
}

# FUZZ_JOBS targets at a time (CI: 2, one per core).
jobs=${FUZZ_JOBS:-1}
mkdir -p "$build_dir/logs"
for target in "${targets[@]}"; do
  rm -f "$build_dir/logs/$target.result"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  echo "fuzzing $target for ${seconds}s"
  fuzz_one "$target" &
done
wait

failed=0
echo "fuzzing figures:"
for target in "${targets[@]}"; do
  result=$build_dir/logs/$target.result
  if [ ! -f "$result" ] || grep -q '^FAILED' "$result"; then
    failed=1
    cat "$result" 2>/dev/null || echo "FAILED $target: no result"
    tail -n 60 "$build_dir/logs/$target.log" >&2 || true
  else
    echo "  $(cat "$result")"
  fi
done
if [ "$failed" -ne 0 ]; then
  echo "fuzzing found a crash, hang or leak: make the input a unit test and" \
    "add it to tests/fuzz/corpus/<target>" >&2
  exit 1
fi
echo "fuzzing done: no crash, hang or leak"
