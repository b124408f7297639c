#!/usr/bin/python3
"""Splits a SQuAD v1.1 file by ARTICLE into train and held-out files, so no context is on both sides.

The titles are shuffled with Python's random.Random(seed); the last --eval-articles are held out and the first
--train-articles (all the others by default) are kept for training; --max-questions-per-article caps each
article's questions (in file order) for a documented subset. Both bertsharp and the PyTorch peer read the files
this writes, so they train and score on identical data.

    /usr/bin/python3 bench/qa/squad_split.py ../shared/data/squad-v1.1/dev-part1.json /tmp/qa-split --eval-articles 8
"""
import argparse
import json
import os
import random


def main():
    p = argparse.ArgumentParser()
    p.add_argument("source")
    p.add_argument("out_dir")
    p.add_argument("--eval-articles", type=int, default=8)
    p.add_argument("--train-articles", type=int, default=None)
    p.add_argument("--max-questions-per-article", type=int, default=None)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    data = json.load(open(a.source, encoding="utf-8"))["data"]
    order = list(range(len(data)))
    random.Random(a.seed).shuffle(order)
    held = order[len(order) - a.eval_articles:]
    kept = order[: len(order) - a.eval_articles]
    if a.train_articles is not None:
        kept = kept[: a.train_articles]

    def cap(article):
        if a.max_questions_per_article is None:
            return article
        left = a.max_questions_per_article
        paragraphs = []
        for paragraph in article["paragraphs"]:
            if left <= 0:
                break
            qas = paragraph["qas"][:left]
            left -= len(qas)
            paragraphs.append({"context": paragraph["context"], "qas": qas})
        return {"title": article["title"], "paragraphs": paragraphs}

    os.makedirs(a.out_dir, exist_ok=True)
    for name, idx in (("train.json", kept), ("eval.json", held)):
        articles = [cap(data[i]) for i in sorted(idx)]
        tmp = os.path.join(a.out_dir, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"version": "1.1", "data": articles}, f, ensure_ascii=False)
        os.replace(tmp, os.path.join(a.out_dir, name))
        questions = sum(len(q["qas"]) for art in articles for q in art["paragraphs"])
        print(f"{name}: {len(articles)} articles, {questions} questions: {', '.join(art['title'] for art in articles)}")


if __name__ == "__main__":
    main()
