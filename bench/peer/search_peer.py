#!/usr/bin/env python3
"""The peer of SearchBenchmark: sentence-transformers' util.semantic_search on the CPU.

Writes random embeddings (a fixed seed; normal values, so that cosine scores spread) as
queries.npy [Q, D] and corpus.npy [N, D] float32, times util.semantic_search(queries, corpus,
top_k=10) (cosine; its default chunks: 100 queries, 500,000 corpus rows) with torch on --threads
threads, and writes its hits (hits.npy int64 [Q, 10], scores.npy float32 [Q, 10]) for the Java side to
check against, and the timings as JSON on stdout.

    python3 bench/peer/search_peer.py --out DIR [--queries 1000] [--corpus 100000] [--dim 384] [--threads 2]
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import sentence_transformers
import torch
from sentence_transformers import util


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--corpus", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(20261208)
    q = rng.standard_normal((a.queries, a.dim), dtype=np.float32)
    c = rng.standard_normal((a.corpus, a.dim), dtype=np.float32)
    np.save(os.path.join(a.out, "queries.npy"), q)
    np.save(os.path.join(a.out, "corpus.npy"), c)
    qt, ct = torch.from_numpy(q), torch.from_numpy(c)
    hits = util.semantic_search(qt, ct, top_k=10)                      # warm-up, and the hits to compare
    np.save(os.path.join(a.out, "hits.npy"), np.array([[h["corpus_id"] for h in r] for r in hits], dtype=np.int64))
    np.save(os.path.join(a.out, "scores.npy"), np.array([[h["score"] for h in r] for r in hits], dtype=np.float32))
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        util.semantic_search(qt, ct, top_k=10)
        times.append((time.perf_counter() - t) * 1000)
    print(json.dumps({"peer": "sentence_transformers.util.semantic_search", "sentence_transformers": sentence_transformers.__version__,
                      "torch": torch.__version__, "threads": a.threads, "queries": a.queries, "corpus": a.corpus,
                      "dim": a.dim, "ms": times, "median_ms": statistics.median(times)}))


if __name__ == "__main__":
    main()
