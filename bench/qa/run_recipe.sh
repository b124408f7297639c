#!/bin/sh
# run_qa.py's recipe (lr 3e-5, batch 12, 384/128, minilm-l6) on an article split of SQuAD v1.1 dev-part1.json.
# bertsharp (fp32, then bf16, then inference on three runtimes) and the PyTorch peer (fp32; PEER_BF16=1 adds bf16
# after it) start together with ONE thread each, from the same windows and initial weights, so both meet the same
# machine at the same time. Usage (from the repository root, after a Release build of the CLI and bench/):
#   bench/qa/run_recipe.sh OUT [split options for squad_split.py] ; EPOCHS=2 by default
set -eu
OUT=$1; shift
EPOCHS=${EPOCHS:-2}
BS=src/BertSharp.Cli/bin/Release/net10.0/BertSharp.Cli
BENCH="dotnet bench/BertSharp.Bench/bin/Release/net10.0/BertSharp.Bench.dll"
mkdir -p "$OUT"
/usr/bin/python3 bench/qa/squad_split.py ../shared/data/squad-v1.1/dev-part1.json "$OUT/data" "$@"
$BENCH qa-features "$OUT/data/train.json" "$OUT/data/train.features.jsonl"
$BENCH qa-features "$OUT/data/eval.json" "$OUT/data/eval.features.jsonl"
# The starting point both sides share: minilm-l6 with qa_outputs from seed 42, saved by a run that cannot move it.
echo '{"question":"Who?","context":"Ada wrote it.","answers":[{"text":"Ada","answer_start":0}]}' > "$OUT/one.jsonl"
$BS train --task question-answering --data "$OUT/one.jsonl" --validation-split 0 --epochs 1 --lr 1e-30 -o "$OUT/init" --overwrite-output-dir > "$OUT/init.log"

peer() {
  for p in fp32 ${PEER_BF16:+bf16}; do
    flag=""; [ $p = bf16 ] && flag="--bf16"
    OMP_NUM_THREADS=1 /usr/bin/python3 bench/qa/pytorch_qa_peer.py --init "$OUT/init" --train-features "$OUT/data/train.features.jsonl" \
      --eval-features "$OUT/data/eval.features.jsonl" --eval-data "$OUT/data/eval.json" --epochs "$EPOCHS" $flag --json \
      --logging-steps 20 > "$OUT/pytorch-$p.json" 2> "$OUT/pytorch-$p.log"
  done
}

ours() {
  export DOTNET_PROCESSOR_COUNT=1
  for p in fp32 bf16; do
    flag=""; [ $p = bf16 ] && flag="--bf16"
    /usr/bin/time -f "wall %e s" $BS train --task question-answering --data "$OUT/data/train.json" --eval "$OUT/data/eval.json" \
      --epochs "$EPOCHS" --lr 3e-5 --batch-size 12 --eval-batch-size 32 --max-length 384 --doc-stride 128 --logging-steps 20 \
      -o "$OUT/bertsharp-$p" --overwrite-output-dir $flag > "$OUT/bertsharp-$p.log" 2>&1
  done
  # Inference over the held-out windows with the fp32 model: managed fp32 and bf16, and ONNX Runtime on its export.
  for r in managed managed-bf16 onnx; do
    case $r in
      managed) args="" ;; managed-bf16) args="--bf16" ;; onnx) $BS export-onnx --model "$OUT/bertsharp-fp32" > /dev/null; args="--runtime onnx" ;;
    esac
    /usr/bin/time -f "wall %e s" $BS eval --model "$OUT/bertsharp-fp32" --data "$OUT/data/eval.json" --predictions "$OUT/predictions-$r.json" \
      --json $args > "$OUT/eval-$r.json" 2> "$OUT/eval-$r.err"
  done
}

peer & ours & wait
echo done > "$OUT/DONE"
