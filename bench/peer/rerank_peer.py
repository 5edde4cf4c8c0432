#!/usr/bin/env python3
"""The peer of bench/run-rerank-bench.sh: sentence-transformers' CrossEncoder.rank on the CPU.

Writes a cross-encoder directory (CrossEncoder.save) around a randomly initialised
DistilBertForSequenceClassification of one label in distilbert-base-uncased's shape (dim 768, 6
layers, 12 heads, FFN 3072; the speed does not depend on the weights) with bert-base-uncased's
tokenizer, and lines.jsonl: --queries queries of 6 to 12 words, each with --documents documents of
40 to 120 words (random words of the tokenizer's vocabulary, a fixed seed). Then, with torch on
--threads threads, times CrossEncoder.rank over every line (batch_size 32, its default), once to
warm up and --repeats times, and writes the rankings (rankings.json, for the Java side to compare)
and the timings as JSON on stdout.

    python3 bench/peer/rerank_peer.py --out DIR --tokenizer build/models/bert-base-uncased [--queries 8]
        [--documents 16] [--threads 2] [--repeats 3]
"""
import argparse
import json
import os
import random
import statistics
import time

import sentence_transformers
import torch
import transformers
from sentence_transformers import CrossEncoder
from transformers import AutoTokenizer, DistilBertConfig, DistilBertForSequenceClassification


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--queries", type=int, default=8)
    ap.add_argument("--documents", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(20261208)
    model_dir = os.path.join(a.out, "cross-encoder")
    tok = AutoTokenizer.from_pretrained(a.tokenizer)
    model = DistilBertForSequenceClassification(DistilBertConfig(num_labels=1, vocab_size=tok.vocab_size)).eval()
    hf_dir = os.path.join(a.out, "hf")
    model.save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    CrossEncoder(hf_dir, device="cpu").save(model_dir)

    rng = random.Random(20261208)
    words = [w for w in tok.get_vocab() if w.isalpha() and len(w) > 2]
    words.sort()
    lines = []
    for _ in range(a.queries):
        query = " ".join(rng.choice(words) for _ in range(rng.randint(6, 12))) + "?"
        docs = [" ".join(rng.choice(words) for _ in range(rng.randint(40, 120))) + "." for _ in range(a.documents)]
        lines.append({"query": query, "documents": docs})
    with open(os.path.join(a.out, "lines.jsonl"), "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")

    ce = CrossEncoder(model_dir, device="cpu")

    def run():
        return [ce.rank(l["query"], l["documents"], batch_size=32) for l in lines]

    t = time.perf_counter()
    rankings = run()
    warmup = time.perf_counter() - t
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        run()
        times.append(time.perf_counter() - t)
    with open(os.path.join(a.out, "rankings.json"), "w") as f:
        json.dump([[{"corpus_id": h["corpus_id"], "score": float(h["score"])} for h in r] for r in rankings], f)
    pairs = a.queries * a.documents
    tokens = sum(len(tok(l["query"], d, truncation="longest_first", max_length=512)["input_ids"])
                 for l in lines for d in l["documents"])
    print(json.dumps({"sentence_transformers": sentence_transformers.__version__, "transformers": transformers.__version__,
                      "torch": torch.__version__, "threads": a.threads, "pairs": pairs, "tokens": tokens,
                      "warmup_s": warmup, "times_s": times, "median_s": statistics.median(times)}))


if __name__ == "__main__":
    main()
