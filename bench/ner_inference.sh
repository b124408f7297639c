#!/usr/bin/env bash
# Token-classification inference over all of eng.testa, one engine after another on the same threads: BertSharp's
# managed fp32 and bf16 runtimes, ONNX Runtime on the model's export, and the PyTorch peer (bench/ner_pytorch_peer.py
# --epochs 0) on the same weights. Prints sentences/s per engine and each engine's entity F1 (all four should agree).
#   bench/ner_inference.sh MODEL OUT [THREADS]     (MODEL: a directory `bertsharp train --task token-classification` wrote)
# BertSharp's figure is the wall time of the whole `eval` command (start-up, load, tokenizing, scoring); the peer's
# is its scoring loop alone, so the ratio is conservative for BertSharp.
set -euo pipefail
model=${1:?usage: ner_inference.sh MODEL OUT [THREADS]}
out=${2:?usage: ner_inference.sh MODEL OUT [THREADS]}
threads=${3:-1}
bertsharp=${BERTSHARP:-bertsharp}
here=$(cd "$(dirname "$0")" && pwd)
testa=$here/../../shared/data/conll2003/eng.testa
mkdir -p "$out"
rm -rf "$out/onnx" && cp -r "$model" "$out/onnx"
"$bertsharp" export-onnx --model "$out/onnx" > /dev/null
OMP_NUM_THREADS=$threads /usr/bin/python3 "$here/ner_pytorch_peer.py" --init "$model" --bertsharp "$bertsharp" \
  --train "$testa" --eval "$testa" --epochs 0 | tail -1 > "$out/pytorch.json"
sentences=$(python3 -c "import json; print(json.load(open('$out/pytorch.json'))['eval_sentences'])")
python3 -c "import json; r=json.load(open('$out/pytorch.json'))['history'][-1]; print(f'pytorch: {r[\"eval_seconds\"]:.1f} s scoring, {r[\"eval_sentences_per_second\"]:.1f} sentences/s, f1 {r[\"f1\"]:.4f}')"
run() { # name, then the eval arguments
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  DOTNET_PROCESSOR_COUNT=$threads "$bertsharp" eval --data "$testa" --json "$@" > "$out/$name.json"
  t1=$(date +%s.%N)
  python3 -c "import json,sys; r=json.load(open('$out/$name.json')); s=$t1-$t0; print(f'$name: {s:.1f} s wall, {$sentences/s:.1f} sentences/s, f1 {r[\"micro avg\"][\"f1-score\"]:.4f}')"
}
run managed --model "$model"
run managed-bf16 --model "$model" --bf16
run onnx --model "$out/onnx" --runtime onnx
