#!/usr/bin/env bash
# Do the passes pay? Compiles each model twice — the default pipeline and
# --passes=none (only what codegen needs) — and times every bucket of both
# side by side with `bertc bench`, printing the speed-up per bucket.
# Models: all-MiniLM-L6-v2 (real weights) and a BERT-base-shaped model with
# random weights (made once with transformers into bench/cache/).
# Usage: bench/passes.sh [threads] [iters]
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
iters=${2:-20}
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target bertc >/dev/null
bertc="$build/tools/bertc"
cache=bench/cache
mkdir -p "$cache"
if [ ! -f "$cache/bert-base/config.json" ]; then
  python3 - "$cache/bert-base" <<'PY'
import sys, torch
from transformers import BertConfig, BertModel
torch.manual_seed(0)
cfg = BertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                 intermediate_size=3072, vocab_size=30522)
BertModel(cfg).eval().save_pretrained(sys.argv[1], safe_serialization=True)
PY
fi
seqs="16,32,64,128,256,512"
printf "%-12s %6s %12s %12s %8s\n" model seq "passes ms" "none ms" speedup
for model in minilm bert-base; do
  dir=$([ $model = minilm ] && scripts/minilm-dir.sh || echo "$cache/bert-base")
  s=$([ $model = minilm ] && echo 16,32,64,128,256 || echo $seqs)
  "$bertc" compile "$dir" -o "$cache/$model-passes.so" --seq-lens "$s" --threads "$threads" -q
  "$bertc" compile "$dir" -o "$cache/$model-none.so" --seq-lens "$s" --threads "$threads" --passes=none -q
  for seq in ${s//,/ }; do
    a=$("$bertc" bench "$cache/$model-passes.so" --seq "$seq" --threads "$threads" --iters "$iters" --json)
    b=$("$bertc" bench "$cache/$model-none.so" --seq "$seq" --threads "$threads" --iters "$iters" --json)
    python3 - "$model" "$seq" "$a" "$b" <<'PY'
import json, sys
a, b = json.loads(sys.argv[3]), json.loads(sys.argv[4])
print(f"{sys.argv[1]:<12} {sys.argv[2]:>6} {a['median_ms']:12.3f} {b['median_ms']:12.3f} {b['median_ms'] / a['median_ms']:7.2f}x")
PY
  done
done
