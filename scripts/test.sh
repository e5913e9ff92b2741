#!/usr/bin/env bash
# Runs every test on a fresh Debian 12 machine: installs what is missing,
# builds bertc (warnings are errors), runs ctest. With BERTC_SANITIZE=1 the
# build uses AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${BUILD_DIR:-build}
extra=()
if [ "${BERTC_SANITIZE:-0}" = 1 ]; then build=${BUILD_DIR:-build-asan}; extra+=(-DBERTC_SANITIZE=ON); fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBERTC_WERROR=ON "${extra[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
ctest --output-on-failure -j"$(nproc)" "$@"
