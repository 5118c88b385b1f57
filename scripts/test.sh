#!/usr/bin/env bash
# scripts/test.sh: set up, build and run every test.
#   1. gcc, warnings as errors: ctest
#   2. gcc with AddressSanitizer + UndefinedBehaviorSanitizer: ctest
#   3. clang with libFuzzer: the wire decoder fuzzed for MESH_FUZZ_SECONDS
#      (default 60) from the seed corpus
# Property tests print their seeds; MESH_SEED=<n> reruns one.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
mkdir -p build
fuzz_seconds=${MESH_FUZZ_SECONDS:-60}
passed=0

# run_ctest DIR [env...]: ctest in DIR; adds its test count to $passed.
run_ctest() {
  local dir=$1
  shift
  (cd "$dir" && env "$@" ctest --output-on-failure --no-tests=error) | tee "$dir/ctest.log"
  local n
  n=$(sed -n 's/.*tests passed, 0 tests failed out of \([0-9]*\).*/\1/p' "$dir/ctest.log")
  if [ "${n:-0}" -eq 0 ]; then
    echo "test: no tests ran in $dir"
    exit 1
  fi
  passed=$((passed + n))
  # What the property tests drew, so every run's seeds and counts are on record.
  grep -hE 'seed [0-9]+|random geometries' "$dir/Testing/Temporary/LastTest.log" || true
}

echo "== build and test: gcc, -Wall -Wextra -Werror"
scripts/build.sh build/release
run_ctest build/release

echo "== build and test: AddressSanitizer + UndefinedBehaviorSanitizer"
scripts/build.sh build/asan -DCMAKE_BUILD_TYPE=Debug -DMESH_SANITIZE=ON
run_ctest build/asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== fuzz: proto decoder, ${fuzz_seconds} s (clang libFuzzer + ASan + UBSan)"
CC=clang CXX=clang++ scripts/build.sh build/fuzz -DMESH_FUZZ=ON
rm -rf build/fuzz/corpus && cp -r tests/fuzz/corpus build/fuzz/corpus
build/fuzz/tests/fuzz/fuzz_proto -max_total_time="$fuzz_seconds" -print_final_stats=1 \
  -artifact_prefix=build/fuzz/ \
  build/fuzz/corpus >build/fuzz/fuzz.log 2>&1 || {
  tail -50 build/fuzz/fuzz.log
  echo "fuzz: FAILED (crashing input: build/fuzz/crash-*; log: build/fuzz/fuzz.log)"
  exit 1
}
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/fuzz.log)
echo "fuzz: no crash in ${fuzz_seconds} s, ${execs} executions"
passed=$((passed + 1))
echo "== all tests passed: unit tests twice (plain, sanitized) and the fuzz run"
echo "${passed} passed, 0 failed"
