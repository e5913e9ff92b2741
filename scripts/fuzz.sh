#!/usr/bin/env bash
# Fuzzes the readers of untrusted input: builds the libFuzzer targets of
# fuzz/ with clang-19, ASan and UBSan in their own build directory and runs
# each for SECONDS seconds (default 30), starting from its seed corpus
# fuzz/corpus/<target>. New corpus entries and logs go to
# <build>/fuzz-out/<target>/, not to the source tree.
#
#   scripts/fuzz.sh [SECONDS]      FUZZ_BUILD_DIR (default build-fuzz)
#
# Exits non-zero when a target crashes, trips a sanitizer, leaks, breaks an
# invariant or hangs (-timeout). The input is then saved as
# <build>/fuzz-out/<target>/crash-* (or leak-*, timeout-*): copy it into
# tests/reliability/regressions/<target>/ and fix the bug
# (docs/reliability.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
build=${FUZZ_BUILD_DIR:-build-fuzz}
CC=clang-19 CXX=clang++-19 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DBERTC_FUZZ=ON -DBERTC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target fuzzers >/dev/null
mkdir -p "$build/fuzz-out"
out=$(cd "$build/fuzz-out" && pwd)
# The targets write each input to a file; tmpfs keeps that from being the
# bottleneck (ext4 flushes a rewritten file on close).
if [ -w /dev/shm ]; then scratch=$(mktemp -d /dev/shm/bertc-fuzz.XXXXXX); else scratch=$(mktemp -d); fi
trap 'rm -rf "$scratch"' EXIT
status=0
for t in safetensors config spec tokenizer ir_parse charsmap spm_model; do
  mkdir -p "$out/$t/corpus"
  log=$out/$t/log
  if TMPDIR=$scratch "$build/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout=20 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/$t/" \
      "$out/$t/corpus" "fuzz/corpus/$t" >"$log" 2>&1; then
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    echo "fuzz_$t: ok, ${execs:-?} inputs in ${seconds} s"
  else
    echo "fuzz_$t: FAILED (log: $log)"
    grep -E 'ERROR|SUMMARY|invariant|Test unit written' "$log" | head -20 || true
    status=1
  fi
done
exit $status
