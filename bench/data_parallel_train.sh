#!/usr/bin/env bash
# Fine-tunes minilm-l6 on 400 sentence-polarity examples for one epoch twice, one run at a time:
# one process with batch 8 and two threads, then two MPI ranks with batch 4 and one thread each (the same
# global batch of 8), and prints the largest difference between their logged losses, both final dev
# accuracies, both throughputs and the ranks' all-reduce share of a step. Needs Open MPI
# (apt-get install openmpi-bin). Run from the repository root: bash bench/data_parallel_train.sh
# (DROPOUT=0 to compare without dropout).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v mpirun >/dev/null || { echo "mpirun is not installed (apt-get install openmpi-bin)" >&2; exit 1; }
build_log=$(dotnet build src/BertSharp.Cli -c Release -v q -nologo 2>&1) || { echo "$build_log" >&2; exit 1; }
cli=src/BertSharp.Cli/bin/Release/net10.0/BertSharp.Cli.dll
data=../shared/data/sentence-polarity
work=$(mktemp -d /tmp/bertsharp-data-parallel-XXXXXX)
trap 'rm -rf "$work"' EXIT
common=(train --data "$data/train.csv" --eval "$data/dev.csv" --select 400 --epochs 1 --model minilm-l6 --logging-steps 1)
[ -n "${DROPOUT:-}" ] && common+=(--dropout "$DROPOUT")

echo "load before: $(cat /proc/loadavg)"
DOTNET_PROCESSOR_COUNT=2 dotnet "$cli" "${common[@]}" --batch-size 8 -o "$work/one" > "$work/one.txt"
echo "load between: $(cat /proc/loadavg)"
mpirun -np 2 --oversubscribe --allow-run-as-root -x DOTNET_PROCESSOR_COUNT=1 dotnet "$cli" "${common[@]}" --batch-size 4 -o "$work/two" > "$work/two.txt"
echo "load after: $(cat /proc/loadavg)"

python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
def log(run):
    return [json.loads(l) for l in open(f"{work}/{run}/train_log.jsonl")]
one, two = log("one"), log("two")
t1 = [e for e in one if e["kind"] == "train"]
t2 = [e for e in two if e["kind"] == "train"]
assert [e["step"] for e in t1] == [e["step"] for e in t2]
diff = max(abs(a["loss"] - b["loss"]) for a, b in zip(t1, t2))
rel = max(abs(a["loss"] - b["loss"]) / abs(a["loss"]) for a, b in zip(t1, t2))
acc = lambda run: json.load(open(f"{work}/{run}/eval_report.json"))["accuracy"]
shares = [e["allreduce_share"] for e in t2]
print(f"steps {len(t1)}; largest loss difference {diff:.3g} (relative {rel:.3g}); "
      f"first losses {t1[0]['loss']:.6f} / {t2[0]['loss']:.6f}, last {t1[-1]['loss']:.6f} / {t2[-1]['loss']:.6f}")
print(f"dev accuracy: 1 process {acc('one'):.4f}, 2 ranks {acc('two'):.4f}")
print(f"samples/s: 1 rank x 2 threads {t1[-1]['samples_per_second']}, 2 ranks x 1 thread {t2[-1]['samples_per_second']}")
print(f"all-reduce share of a step: mean {sum(shares) / len(shares):.3f}, min {min(shares):.3f}, median {sorted(shares)[len(shares) // 2]:.3f}, max {max(shares):.3f}")
EOF
