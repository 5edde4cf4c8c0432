#!/usr/bin/env python3
"""Compares the JSONL output of a pipeline command run on the GPU with the same run on the CPU.

    compare-pipelines.py CPU.jsonl GPU.jsonl REL

Every line must have the same shape and the same strings (labels, words, answers, offsets); every
number must agree within REL relative to the larger magnitude, plus REL absolute (scores are
probabilities). Prints one line; exit 0 when all agree, 1 otherwise.
"""
import json
import os
import sys


def walk(a, b, rel, path, bad):
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            bad.append(f"{path}: keys {list(a)} vs {list(b)}")
            return
        for k in a:
            walk(a[k], b[k], rel, f"{path}.{k}", bad)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            bad.append(f"{path}: {len(a)} vs {len(b)} items")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            walk(x, y, rel, f"{path}[{i}]", bad)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if isinstance(a, int) and isinstance(b, int):
            if a != b:
                bad.append(f"{path}: {a} vs {b}")
        elif abs(a - b) > rel * (1 + max(abs(a), abs(b))):
            bad.append(f"{path}: {a} vs {b}")
    elif a != b:
        bad.append(f"{path}: {a!r} vs {b!r}")


def main():
    cpu, gpu, rel = sys.argv[1], sys.argv[2], float(sys.argv[3])
    for f in (cpu, gpu):
        if not os.path.exists(f):
            print(f"no {f} (the run failed: see its .log)")
            sys.exit(1)
    a = [json.loads(l) for l in open(cpu, encoding="utf-8")]
    b = [json.loads(l) for l in open(gpu, encoding="utf-8")]
    bad = []
    if len(a) != len(b):
        bad.append(f"{len(a)} vs {len(b)} lines")
    for i, (x, y) in enumerate(zip(a, b)):
        walk(x, y, rel, f"line {i + 1}", bad)
    print(("ok" if not bad else f"{len(bad)} differences, first: " + "; ".join(bad[:3])) + f" ({len(a)} lines, rel {rel})")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
