#!/usr/bin/env bash
# Runs every test on a fresh Debian 12 machine: installs what is missing,
# builds bertc (warnings are errors), runs ctest. With BERTC_SANITIZE=1 the
# build uses AddressSanitizer + UndefinedBehaviorSanitizer (in build-asan,
# leaks and UB reports fail the tests). BUILD_DIR overrides the directory;
# arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${BUILD_DIR:-build}
werror=ON
extra=()
if [ "${BERTC_SANITIZE:-0}" = 1 ]; then
  build=${BUILD_DIR:-build-asan}
  # GCC's flow warnings are unreliable under -fsanitize (false use-after-free
  # and overread reports); the normal build already makes warnings errors.
  werror=OFF
  extra+=(-DBERTC_SANITIZE=ON)
  # Leaks fail a run, and so does the first UBSan report (with its stack).
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTC_WERROR=$werror "${extra[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" "$@"
