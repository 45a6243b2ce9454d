#!/usr/bin/env bash
# The whole test suite from a fresh Debian 12 machine: installs the
# dependencies, builds everything and runs every test.
#   scripts/test.sh              release build with assertions (GCC), in build/
#   scripts/test.sh --sanitize   AddressSanitizer + UBSan build (GCC), in build-asan/
#   scripts/test.sh --tsan       ThreadSanitizer build (Clang), in build-tsan/
# The sanitizer runs leave out the ctest label `containers`: the container
# test builds its own image from the sources with the image's compiler, so
# running it from a sanitizer build would test nothing more.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

mode=${1:-}
build_dir=build
tsan_reports=""
# Line tables only (-g1), not full debug info: every backtrace, sanitizer
# report and profile still names file and line, and the suite's builds
# compile about a third faster and link far smaller objects. Configure a
# build of your own for a debugger that shows variables.
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTALLY_WERROR=ON
            "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG")
ctest_args=()
run=()
case "$mode" in
  "") ;;
  --sanitize)
    build_dir=build-asan
    # No micro-benchmarks: their figures mean nothing under a sanitizer
    # and no test runs them.
    cmake_args+=(-DTALLY_SANITIZE=ON -DTALLY_BUILD_MICROBENCHMARKS=OFF)
    ctest_args+=(-LE containers)
    ;;
  --tsan)
    build_dir=build-tsan
    # Clang: its ThreadSanitizer runtime (libclang-rt-14-dev), and the
    # suite's Clang build in CI.
    export CC=clang CXX=clang++
    cmake_args+=(-DTALLY_TSAN=ON -DTALLY_BUILD_MICROBENCHMARKS=OFF)
    ctest_args+=(-LE containers)
    # Races in our code fail the test; suppressions are only for the
    # uninstrumented third-party libraries (see the file).
    # Every process of the suite (servers started by the tests too, whose
    # end a test may expect) writes its reports under tsan-reports/: any
    # report there fails the run, even from a test that passed.
    tsan_reports=$PWD/$build_dir/tsan-reports
    rm -rf "$tsan_reports"
    mkdir -p "$tsan_reports"
    export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$PWD/tests/tsan/suppressions.txt:log_path=$tsan_reports/report}
    # Clang 14's ThreadSanitizer cannot map its shadow memory when the
    # kernel randomises mmap with more than 28 bits (newer kernels' default
    # vm.mmap_rnd_bits): run the suite with address randomisation off for
    # it and its children (setarch -R is inherited across exec).
    rnd_bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 28)
    if [ "$rnd_bits" -gt 28 ]; then
      run=(setarch "$(uname -m)" -R)
    fi
    ;;
  *)
    echo "usage: scripts/test.sh [--sanitize|--tsan]" >&2
    exit 2
    ;;
esac
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

cmake -S . -B "$build_dir" -G Ninja "${cmake_args[@]}" >/dev/null
cmake --build "$build_dir" -j2
status=0
"${run[@]}" ctest --test-dir "$build_dir" --output-on-failure -j2 \
  --timeout 900 "${ctest_args[@]}" || status=$?
if [ -n "${tsan_reports:-}" ] && [ -n "$(ls -A "$tsan_reports")" ]; then
  echo "ThreadSanitizer reports (in $tsan_reports):" >&2
  for report in "$tsan_reports"/*; do head -n 80 "$report" >&2; done
  status=1
fi
exit "$status"
