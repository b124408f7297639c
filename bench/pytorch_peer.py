#!/usr/bin/python3
"""PyTorch peer for `bertsharp bench`: the same encoder shape, batch and sequence, timed the same way.

Debian's python3-torch (1.13, OpenBLAS, oneDNN for bf16) on this machine is the reference issue 6 quotes;
run it beside `bertsharp bench` in one script so both meet the same load:

    OMP_NUM_THREADS=2 /usr/bin/python3 bench/pytorch_peer.py --bf16 --json

The model is BERT with all-MiniLM-L6-v2's shape (6 layers, hidden 384, 12 heads, intermediate 1536,
vocabulary 30522) and random weights: speed does not depend on the values. Inference: batch 32 x 128
real tokens under torch.no_grad(); training: forward, cross-entropy on a two-label head over [CLS],
backward (dropout 0.1 on), batch 16 x 128, as `bertsharp bench` times a TrainStep. --bf16 runs both
under CPU autocast to bfloat16 (PyTorch's bf16 recipe). Reported: the median of --iterations timed
runs after two warm-up runs.
"""
import argparse
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_blas import require_openblas  # noqa: E402


class Layer(nn.Module):
    def __init__(self, hidden, heads, intermediate, dropout):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)
        self.norm1 = nn.LayerNorm(hidden, eps=1e-12)
        self.up = nn.Linear(hidden, intermediate)
        self.down = nn.Linear(intermediate, hidden)
        self.norm2 = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = dropout

    def forward(self, x, mask):
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(c // self.heads) + mask
        probs = F.dropout(scores.softmax(-1), self.dropout, self.training)
        context = (probs @ v).transpose(1, 2).reshape(b, t, c)
        a = self.norm1(x + F.dropout(self.out(context), self.dropout, self.training))
        h = self.down(F.gelu(self.up(a)))
        return self.norm2(a + F.dropout(h, self.dropout, self.training))


class Encoder(nn.Module):
    def __init__(self, vocab=30522, hidden=384, layers=6, heads=12, intermediate=1536, positions=512, dropout=0.1, labels=2):
        super().__init__()
        self.words = nn.Embedding(vocab, hidden)
        self.positions = nn.Embedding(positions, hidden)
        self.types = nn.Embedding(2, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)
        self.layers = nn.ModuleList(Layer(hidden, heads, intermediate, dropout) for _ in range(layers))
        self.pooler = nn.Linear(hidden, hidden)
        self.classifier = nn.Linear(hidden, labels)
        self.dropout = dropout

    def forward(self, ids, attention_mask):
        t = ids.shape[1]
        x = self.words(ids) + self.positions(torch.arange(t)) + self.types(torch.zeros_like(ids))
        x = F.dropout(self.norm(x), self.dropout, self.training)
        mask = ((1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(x.dtype).min).to(x.dtype)
        for layer in self.layers:
            x = layer(x, mask)
        return x

    def classify(self, ids, attention_mask):
        pooled = torch.tanh(self.pooler(self.forward(ids, attention_mask)[:, 0]))
        return self.classifier(F.dropout(pooled, self.dropout, self.training))


def timed(fn, iterations):
    fn()
    fn()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    require_openblas()
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--train-batch", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = Encoder()
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(1000, 30000, (args.batch, args.seq), generator=generator)
    train_ids = torch.randint(1000, 30000, (args.train_batch, args.seq), generator=generator)
    labels = torch.arange(args.train_batch) % 2

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)

    def infer():
        with torch.no_grad(), autocast():
            model(ids, torch.ones_like(ids))

    def train_step():
        with autocast():
            loss = F.cross_entropy(model.classify(train_ids, torch.ones_like(train_ids)).float(), labels)
        loss.backward()
        model.zero_grad(set_to_none=True)

    model.eval()
    infer_seconds = timed(infer, args.iterations)
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "bf16": args.bf16,
        "infer_samples_per_s": round(args.batch / infer_seconds, 2),
    }
    if args.train_batch > 0:
        model.train()
        result["train_samples_per_s"] = round(args.train_batch / timed(train_step, args.iterations), 2)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
