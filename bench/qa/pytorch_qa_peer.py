#!/usr/bin/python3
"""Plain PyTorch BertForQuestionAnswering trained with run_qa.py's recipe, the peer of `bertsharp train --task
question-answering` (Debian's python3-torch; no transformers on this machine).

It reads the same things bertsharp does: the initial weights (an HF directory's model.safetensors, bert.* and
qa_outputs.*), and the windows bertsharp built (`bench/BertSharp.Bench qa-features`, one JSON line per window:
ids, type ids, context offsets, start/end), so the comparison is of the model, loss, optimiser and
post-processing, not of two tokenizers. The recipe: AdamW (weight decay 0.01, none on biases and LayerNorm),
linear decay from --lr with no warm-up, gradient clipping at 1.0, dropout 0.1, batches of --batch shuffled each
epoch, each batch padded to its longest window; loss = mean of the start and end cross-entropies. After each
epoch it scores the held-out file: run_qa.py's post-processing (n-best 20, max answer 30 tokens, best start+end
logit over windows) and the SQuAD v1.1 exact match / F1 with the official answer normalisation.

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/qa/pytorch_qa_peer.py --init DIR --train-features T.jsonl \
        --eval-features E.jsonl --eval-data eval.json [--bf16] --json
"""
import argparse
import collections
import json
import math
import os
import re
import string
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from torch_blas import require_openblas  # noqa: E402


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        blob = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        a, b = info["data_offsets"]
        out[name] = torch.frombuffer(bytearray(blob[a:b]), dtype=torch.float32).reshape(info["shape"]).clone()
    return out


class Layer(nn.Module):
    def __init__(self, c, heads, inter, p):
        super().__init__()
        self.heads, self.p = heads, p
        self.query, self.key, self.value = nn.Linear(c, c), nn.Linear(c, c), nn.Linear(c, c)
        self.attn_out, self.attn_norm = nn.Linear(c, c), nn.LayerNorm(c, eps=1e-12)
        self.up, self.down, self.out_norm = nn.Linear(c, inter), nn.Linear(inter, c), nn.LayerNorm(c, eps=1e-12)

    def forward(self, x, mask):
        b, t, c = x.shape
        d = c // self.heads

        def split(y):
            return y.view(b, t, self.heads, d).transpose(1, 2)

        scores = split(self.query(x)) @ split(self.key(x)).transpose(-1, -2) / math.sqrt(d) + mask
        probs = F.dropout(scores.softmax(-1), self.p, self.training)
        ctx = (probs @ split(self.value(x))).transpose(1, 2).reshape(b, t, c)
        a = self.attn_norm(x + F.dropout(self.attn_out(ctx), self.p, self.training))
        return self.out_norm(a + F.dropout(self.down(F.gelu(self.up(a))), self.p, self.training))


class BertQa(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        c = cfg["hidden_size"]
        self.p = cfg.get("hidden_dropout_prob", 0.1)
        self.words = nn.Embedding(cfg["vocab_size"], c)
        self.positions = nn.Embedding(cfg["max_position_embeddings"], c)
        self.types = nn.Embedding(cfg.get("type_vocab_size", 2), c)
        self.norm = nn.LayerNorm(c, eps=cfg.get("layer_norm_eps", 1e-12))
        self.layers = nn.ModuleList(
            Layer(c, cfg["num_attention_heads"], cfg["intermediate_size"], self.p) for _ in range(cfg["num_hidden_layers"]))
        self.qa_outputs = nn.Linear(c, 2)

    def forward(self, ids, types, attention):
        t = ids.shape[1]
        x = self.words(ids) + self.positions(torch.arange(t)) + self.types(types)
        x = F.dropout(self.norm(x), self.p, self.training)
        mask = (1.0 - attention[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, mask)
        return self.qa_outputs(x)  # [batch, sequence, 2]

    def load_hf(self, w):
        def take(name):
            return w["bert." + name] if "bert." + name in w else w[name]

        sd = {
            "words.weight": take("embeddings.word_embeddings.weight"),
            "positions.weight": take("embeddings.position_embeddings.weight"),
            "types.weight": take("embeddings.token_type_embeddings.weight"),
            "norm.weight": take("embeddings.LayerNorm.weight"),
            "norm.bias": take("embeddings.LayerNorm.bias"),
            "qa_outputs.weight": w["qa_outputs.weight"],
            "qa_outputs.bias": w["qa_outputs.bias"],
        }
        names = {"query": "attention.self.query", "key": "attention.self.key", "value": "attention.self.value",
                 "attn_out": "attention.output.dense", "attn_norm": "attention.output.LayerNorm",
                 "up": "intermediate.dense", "down": "output.dense", "out_norm": "output.LayerNorm"}
        for i in range(len(self.layers)):
            for ours, theirs in names.items():
                for kind in ("weight", "bias"):
                    sd[f"layers.{i}.{ours}.{kind}"] = take(f"encoder.layer.{i}.{theirs}.{kind}")
        self.load_state_dict(sd)


def read_features(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def batch_of(features, rows):
    t = max(len(features[r]["input_ids"]) for r in rows)
    ids = torch.zeros(len(rows), t, dtype=torch.long)
    types = torch.zeros(len(rows), t, dtype=torch.long)
    attention = torch.zeros(len(rows), t, dtype=torch.long)
    for i, r in enumerate(rows):
        n = len(features[r]["input_ids"])
        ids[i, :n] = torch.tensor(features[r]["input_ids"])
        types[i, :n] = torch.tensor(features[r]["token_type_ids"])
        attention[i, :n] = 1
    return ids, types, attention


# The SQuAD v1.1 official answer normalisation and scores, written from its published definition.
def normalize(s):
    s = "".join(ch for ch in s.lower() if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def f1_score(prediction, gold):
    p, g = normalize(prediction).split(), normalize(gold).split()
    same = sum((collections.Counter(p) & collections.Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def evaluate(model, features, examples, batch, autocast, n_best=20, max_answer=30):
    model.eval()
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    logits = [None] * len(features)
    start_time = time.perf_counter()
    with torch.no_grad():
        for s in range(0, len(order), batch):
            rows = order[s:s + batch]
            ids, types, attention = batch_of(features, rows)
            with autocast():
                out = model(ids, types, attention).float()
            for i, r in enumerate(rows):
                logits[r] = out[i, :len(features[r]["input_ids"])]
    seconds = time.perf_counter() - start_time
    best = {}
    for f, z in zip(features, logits):
        offsets = f["offsets"]
        starts = torch.argsort(z[:, 0], descending=True)[:n_best].tolist()
        ends = torch.argsort(z[:, 1], descending=True)[:n_best].tolist()
        context = examples[f["id"]]["context"]
        for a in starts:
            for b in ends:
                if offsets[a][0] < 0 or offsets[b][0] < 0 or b < a or b - a + 1 > max_answer:
                    continue
                score = float(z[a, 0] + z[b, 1])
                if f["id"] not in best or score > best[f["id"]][0]:
                    best[f["id"]] = (score, context[offsets[a][0]:offsets[b][1]])
    em = f1 = 0.0
    for qid, e in examples.items():
        prediction = best.get(qid, (0, ""))[1]
        em += max(float(normalize(prediction) == normalize(g)) for g in e["answers"])
        f1 += max(f1_score(prediction, g) for g in e["answers"])
    model.train()
    return 100 * em / len(examples), 100 * f1 / len(examples), len(features) / seconds


def main():
    require_openblas()
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True, help="HF directory with config.json and model.safetensors (bert.* + qa_outputs.*)")
    ap.add_argument("--train-features", required=True)
    ap.add_argument("--eval-features", required=True)
    ap.add_argument("--eval-data", required=True, help="the SQuAD JSON the eval features came from")
    ap.add_argument("--epochs", type=int, default=2, help="0: only score --init (e.g. a model bertsharp trained) with this script's metric")
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--eval-batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--logging-steps", type=int, default=0, help="print the mean loss and rate every N steps to stderr")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    cfg = json.load(open(f"{a.init}/config.json"))
    model = BertQa(cfg)
    model.load_hf(load_safetensors(f"{a.init}/model.safetensors"))
    train = read_features(a.train_features)
    evals = read_features(a.eval_features)
    examples = {}
    for art in json.load(open(a.eval_data, encoding="utf-8"))["data"]:
        for par in art["paragraphs"]:
            for qa in par["qas"]:
                examples[qa["id"]] = {"context": par["context"], "answers": [x["text"] for x in qa["answers"]]}

    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "norm" in n)]
    no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "norm" in n]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, eps=1e-8)
    steps_per_epoch = math.ceil(len(train) / a.batch)
    total = max(1, steps_per_epoch * a.epochs)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, (total - step) / total))

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16)

    if a.epochs == 0:
        em, f1, infer_rate = evaluate(model, evals, examples, a.eval_batch, autocast)
        print(json.dumps({"model": a.init, "exact_match": round(em, 2), "f1": round(f1, 2), "eval_features_per_s": round(infer_rate, 2)}))
        return
    generator = torch.Generator().manual_seed(a.seed)
    history = []
    train_seconds = 0.0
    model.train()
    for epoch in range(a.epochs):
        order = torch.randperm(len(train), generator=generator).tolist()
        start = time.perf_counter()
        losses = []
        for s in range(0, len(order), a.batch):
            rows = order[s:s + a.batch]
            ids, types, attention = batch_of(train, rows)
            positions = torch.tensor([[train[r]["start"], train[r]["end"]] for r in rows])
            with autocast():
                out = model(ids, types, attention).float()
            loss = (F.cross_entropy(out[:, :, 0], positions[:, 0]) + F.cross_entropy(out[:, :, 1], positions[:, 1])) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            if a.logging_steps and len(losses) % a.logging_steps == 0:
                rate = (s + len(rows)) / (time.perf_counter() - start)
                print(f"epoch {epoch + 1} step {len(losses)}/{steps_per_epoch}: loss {sum(losses[-a.logging_steps:]) / a.logging_steps:.4f}, "
                      f"{rate:.2f} features/s", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - start
        train_seconds += seconds
        em, f1, infer_rate = evaluate(model, evals, examples, a.eval_batch, autocast)
        row = {"epoch": epoch + 1, "loss": round(sum(losses) / len(losses), 4), "exact_match": round(em, 2), "f1": round(f1, 2),
               "epoch_seconds": round(seconds, 1), "train_features_per_s": round(len(train) / seconds, 2),
               "eval_features_per_s": round(infer_rate, 2)}
        history.append(row)
        if not a.json:
            print(row, flush=True)
    result = {"torch": torch.__version__, "threads": torch.get_num_threads(), "bf16": a.bf16, "train_features": len(train),
              "eval_features": len(evals), "eval_questions": len(examples), "train_seconds": round(train_seconds, 1), "epochs": history}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
