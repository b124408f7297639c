#!/usr/bin/python3
"""PyTorch peer for `bertsharp train --task token-classification`: the same model, data and recipe in plain PyTorch.

Debian's python3-torch (1.13) with OpenBLAS (`apt-get install python3-torch libopenblas0-pthread`; the script
refuses the reference BLAS, see torch_blas.py) on this machine; run it beside BertSharp so both meet the same load:

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/ner_pytorch_peer.py --init out/ner-init \
        --train ../shared/data/conll2003/eng.train --eval ../shared/data/conll2003/eng.testa --select 1000 [--bf16]

--init is a directory BertSharp wrote (config.json, model.safetensors): the pretrained encoder with the
seeded new classifier, saved before any update (`bertsharp train ... --lr 1e-30 --epochs 1 --select 8`), so
both start from the same weights. With --epochs 0 it only scores --init (any token-classification directory
BertSharp wrote, e.g. a trained one: an independent check of its F1 and PyTorch's inference speed). Word pieces come from `bertsharp tokenize` (--bertsharp), so both read the
same ids; the subset is the same SplitMix64 shuffle as `--select`. Labels: the first piece of each word carries
its tag, the rest -100; sentences longer than --max-length become windows sharing --stride pieces; each word
is predicted at its first piece in the window where it sits furthest from an edge. Recipe: AdamW (weight decay
0.01, none on biases and LayerNorm), linear decay without warm-up, gradient clipping at 1.0, dropout 0.1.
Scores: entity-level micro F1 by conlleval's chunk rules (seqeval's default mode) after every epoch.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import tempfile
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_blas import require_openblas  # noqa: E402

MASK64 = (1 << 64) - 1


def splitmix_shuffle(n, seed):
    """BertSharp's SplitMix64 Fisher-Yates with Lemire's bounded integers (TokenDataset.Select)."""
    state = seed & MASK64

    def next64():
        nonlocal state
        state = (state + 0x9E3779B97F4A7C15) & MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def bounded(bound):
        m = next64() * bound
        lo = m & MASK64
        if lo < bound:
            threshold = (-bound % (1 << 64)) % bound
            while lo < threshold:
                m = next64() * bound
                lo = m & MASK64
        return m >> 64

    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = bounded(i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def read_conll(path):
    sentences, words, tags = [], [], []
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("-DOCSTART-"):
            if words:
                sentences.append((words, to_bio(tags)))
            words, tags = [], []
            continue
        cols = line.split()
        words.append(cols[0])
        tags.append(cols[-1])
    if words:
        sentences.append((words, to_bio(tags)))
    return sentences


def to_bio(tags):
    out, prev = [], None
    for t in tags:
        if t == "O":
            out.append(t)
            prev = None
            continue
        kind = t[2:]
        out.append("B-" + kind if t[0] == "I" and prev != kind else t)
        prev = kind
    return out


def tokenize(bertsharp, model, sentences):
    """ids and offsets of each sentence's words joined by spaces, from `bertsharp tokenize` (no truncation)."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as f:
        for words, _ in sentences:
            f.write(json.dumps({"text": " ".join(words)}) + "\n")
        path = f.name
    try:
        out = subprocess.run([bertsharp, "tokenize", "--model", model, "--input", path, "--max-length", "100000"],
                             check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def windows(sentence, encoding, label_ids, max_length, stride):
    words, tags = sentence
    starts, at = [], 0
    for w in words:
        starts.append(at)
        at += len(w) + 1
    ids = encoding["ids"][1:-1]
    offsets = encoding["offsets"][1:-1]
    word_of = []
    for s, _ in offsets:
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= s:
                lo = mid
            else:
                hi = mid - 1
        word_of.append(lo)
    first = [offsets[i][0] == starts[word_of[i]] and (i == 0 or word_of[i - 1] != word_of[i]) for i in range(len(ids))]
    body = max_length - 2
    result, begin = [], 0
    while True:
        end = min(begin + body, len(ids))
        wid = [101] + ids[begin:end] + [102]
        lab = [-100] + [label_ids[tags[word_of[i]]] if first[i] else -100 for i in range(begin, end)] + [-100]
        words_here = [-1] + [word_of[i] if first[i] else -1 for i in range(begin, end)] + [-1]
        result.append((wid, lab, words_here))
        if end == len(ids):
            return result
        begin = end - stride


class Bert(nn.Module):
    """BertForTokenClassification with HF's module layout (names as in the checkpoint, less 'bert.')."""

    def __init__(self, c, labels):
        super().__init__()
        h, self.heads, p = c["hidden_size"], c["num_attention_heads"], c.get("hidden_dropout_prob", 0.1)
        self.p, self.ap = p, c.get("attention_probs_dropout_prob", 0.1)
        e = nn.Module()
        e.word_embeddings = nn.Embedding(c["vocab_size"], h)
        e.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        e.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        e.LayerNorm = nn.LayerNorm(h, eps=c.get("layer_norm_eps", 1e-12))
        self.embeddings = e
        layers = nn.ModuleList()
        for _ in range(c["num_hidden_layers"]):
            l = nn.Module()
            l.attention = nn.Module()
            l.attention.self = nn.Module()
            l.attention.self.query, l.attention.self.key, l.attention.self.value = (nn.Linear(h, h) for _ in range(3))
            l.attention.output = nn.Module()
            l.attention.output.dense = nn.Linear(h, h)
            l.attention.output.LayerNorm = nn.LayerNorm(h, eps=1e-12)
            l.intermediate = nn.Module()
            l.intermediate.dense = nn.Linear(h, c["intermediate_size"])
            l.output = nn.Module()
            l.output.dense = nn.Linear(c["intermediate_size"], h)
            l.output.LayerNorm = nn.LayerNorm(h, eps=1e-12)
            layers.append(l)
        self.encoder = nn.Module()
        self.encoder.layer = layers
        self.classifier = nn.Linear(h, labels)

    def forward(self, ids, mask):
        b, t = ids.shape
        e = self.embeddings
        x = e.word_embeddings(ids) + e.position_embeddings.weight[:t] + e.token_type_embeddings.weight[0]
        x = F.dropout(e.LayerNorm(x), self.p, self.training)
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        h = x.shape[-1]
        d = h // self.heads
        for l in self.encoder.layer:
            s = l.attention.self
            q, k, v = (m(x).view(b, t, self.heads, d).transpose(1, 2) for m in (s.query, s.key, s.value))
            probs = F.dropout((q @ k.transpose(-1, -2) / math.sqrt(d) + bias).softmax(-1), self.ap, self.training)
            ctx = (probs @ v).transpose(1, 2).reshape(b, t, h)
            a = l.attention.output.LayerNorm(x + F.dropout(l.attention.output.dense(ctx), self.p, self.training))
            y = l.output.dense(F.gelu(l.intermediate.dense(a)))
            x = l.output.LayerNorm(a + F.dropout(y, self.p, self.training))
        return self.classifier(F.dropout(x, self.p, self.training))


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        assert meta["dtype"] == "F32", f"{name}: {meta['dtype']}"
        a, b = meta["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[a:b]), dtype=torch.float32).reshape(meta["shape"])
    return out


def entities(tags):
    """conlleval's chunks (seqeval's default mode) of one sentence's tags: a set of (type, start, end)."""
    out, prev_tag, prev_type, begin = set(), "O", "", 0
    for i, chunk in enumerate(list(tags) + ["O"]):
        tag = chunk[0]
        kind = chunk[1:].split("-", 1)[-1] or "_"
        end = prev_tag in "ES" or (prev_tag in "BI" and tag in "BSO") or (prev_tag not in "O." and prev_type != kind)
        start = tag in "BS" or (prev_tag in "ESO" and tag in "EI") or (tag not in "O." and prev_type != kind)
        if end:
            out.add((prev_type, begin, i - 1))
        if start:
            begin = i
        prev_tag, prev_type = tag, kind
    return out


def pad(batch):
    t = max(len(w[0]) for w in batch)
    ids = torch.zeros(len(batch), t, dtype=torch.long)
    mask = torch.zeros(len(batch), t, dtype=torch.long)
    labels = torch.full((len(batch), t), -100, dtype=torch.long)
    for r, (wid, lab, _) in enumerate(batch):
        ids[r, :len(wid)] = torch.tensor(wid)
        mask[r, :len(wid)] = 1
        labels[r, :len(lab)] = torch.tensor(lab)
    return ids, mask, labels


def evaluate(model, data, sentences, id2label, bf16, batch_size=32):
    model.eval()
    pred = [["O"] * len(s[0]) for s in sentences]
    margin = [[-1] * len(s[0]) for s in sentences]
    order = sorted(range(len(data)), key=lambda i: len(data[i][1][0]))
    start = time.perf_counter()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for b in range(0, len(order), batch_size):
            rows = [data[i] for i in order[b:b + batch_size]]
            ids, mask, _ = pad([w for _, w in rows])
            best = model(ids, mask).float().argmax(-1)
            for r, (s, (wid, _, words_here)) in enumerate(rows):
                n = len(wid)
                for t, w in enumerate(words_here):
                    if w >= 0 and min(t, n - 1 - t) > margin[s][w]:
                        margin[s][w] = min(t, n - 1 - t)
                        pred[s][w] = id2label[best[r, t].item()]
    seconds = time.perf_counter() - start
    tp = found = gold = 0
    for (words, tags), p in zip(sentences, pred):
        g, q = entities(tags), entities(p)
        tp, found, gold = tp + len(g & q), found + len(q), gold + len(g)
    precision = tp / found if found else 0.0
    recall = tp / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "eval_seconds": seconds, "eval_sentences_per_second": len(sentences) / seconds}


def main():
    require_openblas()
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--eval", required=True)
    ap.add_argument("--select", type=int)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--stride", type=int, default=32)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--bertsharp", default="bertsharp")
    ap.add_argument("--tokenizer", default="minilm-l6")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    config = json.load(open(os.path.join(a.init, "config.json")))
    id2label = {int(k): v for k, v in config["id2label"].items()}
    label_ids = {v: k for k, v in id2label.items()}
    model = Bert(config, len(id2label))
    weights = {k[5:] if k.startswith("bert.") else k: v for k, v in load_safetensors(os.path.join(a.init, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(weights, strict=False)
    assert not missing, f"missing weights: {missing}"
    unexpected = [u for u in unexpected if not u.startswith("pooler.") and "position_ids" not in u]
    assert not unexpected, f"unexpected weights: {unexpected}"

    train = read_conll(a.train)
    if a.select:
        train = [train[i] for i in splitmix_shuffle(len(train), a.seed)[:a.select]]
    dev = read_conll(a.eval)
    tr = [(s, w) for s, (sent, enc) in enumerate(zip(train, tokenize(a.bertsharp, a.tokenizer, train)))
          for w in windows(sent, enc, label_ids, a.max_length, a.stride)]
    dv = [(s, w) for s, (sent, enc) in enumerate(zip(dev, tokenize(a.bertsharp, a.tokenizer, dev)))
          for w in windows(sent, enc, label_ids, a.max_length, a.stride)]

    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
    rest = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}], lr=a.lr, eps=1e-8)
    steps_per_epoch = math.ceil(len(tr) / a.batch_size)
    total = steps_per_epoch * a.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: max(0.0, (total - step) / max(total, 1)))
    gen = torch.Generator().manual_seed(a.seed)
    history, train_seconds = [], 0.0
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(tr), generator=gen).tolist()
        start = time.perf_counter()
        for b in range(0, len(perm), a.batch_size):
            ids, mask, labels = pad([tr[i][1] for i in perm[b:b + a.batch_size]])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
                logits = model(ids, mask)
            loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        train_seconds += time.perf_counter() - start
        scores = evaluate(model, dv, dev, id2label, a.bf16)
        scores.update(epoch=epoch + 1, train_seconds=round(train_seconds, 1), train_sentences_per_second=round(len(tr) * (epoch + 1) / train_seconds, 2))
        history.append(scores)
        print(json.dumps(scores), flush=True)
    if a.epochs == 0:
        # Inference alone: scores the --init model as it is (e.g. a model BertSharp trained), timed like the epochs'.
        history.append(evaluate(model, dv, dev, id2label, a.bf16))
        print(json.dumps(history[-1]), flush=True)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "bf16": a.bf16, "train_windows": len(tr),
                      "eval_sentences": len(dev), "history": history}))


if __name__ == "__main__":
    main()
