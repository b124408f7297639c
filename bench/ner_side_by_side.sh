#!/usr/bin/env bash
# BertSharp's token-classification recipe and its PyTorch peer (bench/ner_pytorch_peer.py) on the same CoNLL-2003
# sentences from the same initial weights, started together with one thread each so both meet the same load.
#   bench/ner_side_by_side.sh OUT [SELECT]      (SELECT: training sentences, default 1000; 0 = all of eng.train)
# Needs: bertsharp on PATH (or BERTSHARP=…), Debian's python3-torch with libopenblas0-pthread.
set -euo pipefail
out=${1:?usage: ner_side_by_side.sh OUT [SELECT]}
select=${2:-1000}
bertsharp=${BERTSHARP:-bertsharp}
here=$(cd "$(dirname "$0")" && pwd)
data=$here/../../shared/data/conll2003
subset=(); [ "$select" -gt 0 ] && subset=(--select "$select")
mkdir -p "$out"
# The initial weights both start from: minilm-l6 with the seeded new classifier, saved before any update.
"$bertsharp" train --task token-classification --data "$data/eng.train" --select 8 --epochs 1 --lr 1e-30 \
  --validation-split 0 -o "$out/init" --overwrite-output-dir > "$out/init.log" 2>&1
DOTNET_PROCESSOR_COUNT=1 "$bertsharp" train --task token-classification --data "$data/eng.train" --eval "$data/eng.testa" \
  "${subset[@]}" --epochs 3 --lr 5e-5 --batch-size 8 --max-length 128 --model minilm-l6 -o "$out/bertsharp" \
  --overwrite-output-dir > "$out/bertsharp.log" 2>&1 &
OMP_NUM_THREADS=1 /usr/bin/python3 "$here/ner_pytorch_peer.py" --init "$out/init" --bertsharp "$bertsharp" \
  --train "$data/eng.train" --eval "$data/eng.testa" "${subset[@]}" > "$out/peer.log" 2>&1 &
wait
grep -E "^eval  step|model saved" "$out/bertsharp.log"
tail -1 "$out/peer.log"
