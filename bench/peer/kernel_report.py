#!/usr/bin/env python3
"""The per-kernel table: KernelBenchmark's JMH results against the device's measured ceilings.

    python3 bench/peer/kernel_report.py JMH.json [--ceilings CEILINGS.json] [--out TABLE.md]

JMH.json is `-rf json` output of distilbert.bench.KernelBenchmark: per op and precision, calls/s (the
score) and the aux counters bytes/s and flops/s (the least traffic and the arithmetic of a call, see
the benchmark). CEILINGS.json is bench/peer/ceilings.py's: copy.gbps (device-to-device, read + write)
and matmul.<precision>.tflops. Per row: microseconds per call (launch and synchronize included),
achieved GB/s and TFLOP/s, and each as a share of its ceiling; the "bound" column names the larger
of the two shares (what limits the op if it were at its roofline). Without ceilings the shares are
left out. Standard library only.
"""
import argparse
import json
import sys

# how many times an encoder layer runs each op
LAYER = {"qkv": 1, "attention": 1, "out_proj": 1, "residual_layernorm": 2, "ffn_up": 1, "gelu": 1, "ffn_down": 1}
ORDER = ["embedding_layernorm", "qkv", "attention", "attention_simt", "out_proj", "residual_layernorm", "ffn_up",
         "gelu", "ffn_down", "pool_rows",
         # training's, in the backward's order
         "attention_train", "attention_train_simt", "attention_backward", "attention_backward_simt", "layernorm_backward", "ffn_up_backward", "gelu_backward", "dropout",
         "embedding_backward", "cross_entropy_backward", "adamw", "sum_of_squares"]


def rows(jmh):
    out = []
    for r in jmh:
        p = r.get("params", {})
        m = r.get("primaryMetric", {})
        sec = r.get("secondaryMetrics", {})
        calls = m.get("score")
        if not calls:
            continue
        out.append({
            "op": p.get("op"), "device": p.get("device"), "precision": p.get("precision"),
            "shape": "T=%s L=%s C=%s NH=%s F=%s" % (p.get("tokens"), p.get("seqLen"), p.get("dim"), p.get("heads"), p.get("ffn")),
            "us": 1e6 / calls,
            "gbps": sec.get("bytes", {}).get("score", 0) / 1e9,
            "tflops": sec.get("flops", {}).get("score", 0) / 1e12,
        })
    out.sort(key=lambda x: (x["device"] or "", x["precision"] or "", ORDER.index(x["op"]) if x["op"] in ORDER else 99))
    return out


def table(results, ceilings):
    copy = (ceilings or {}).get("copy", {}).get("gbps")
    matmul = (ceilings or {}).get("matmul", {})
    lines = []
    if ceilings:
        peaks = ", ".join("%s %s TFLOP/s" % (k, v["tflops"]) for k, v in matmul.items() if "tflops" in v)
        lines.append("Ceilings (bench/peer/ceilings.py, %s): copy %s GB/s; matmul %s." % (
            ceilings.get("environment", {}).get("device", "?"), copy, peaks))
        lines.append("")
    lines.append("| op | device | precision | shape | µs / call | GB/s | % copy | TFLOP/s | % matmul | bound |")
    lines.append("| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    total = {}
    for r in results:
        peak = matmul.get(r["precision"], {}).get("tflops")
        share_b = 100 * r["gbps"] / copy if copy else None
        share_f = 100 * r["tflops"] / peak if peak and r["tflops"] else None
        bound = "–"
        if share_b is not None or share_f is not None:
            bound = "memory" if (share_f or 0) < (share_b or 0) else "math"
        fmt = lambda v, f: "–" if v is None else f % v  # noqa: E731
        lines.append("| %s | %s | %s | %s | %.1f | %.3g | %s | %s | %s | %s |" % (
            r["op"], r["device"], r["precision"], r["shape"], r["us"], r["gbps"], fmt(share_b, "%.0f%%"),
            fmt(r["tflops"] or None, "%.3g"), fmt(share_f, "%.0f%%"), bound))
        if r["op"] in LAYER:
            key = (r["device"], r["precision"])
            total[key] = total.get(key, 0) + LAYER[r["op"]] * r["us"]
    if total:
        lines.append("")
        lines.append("One encoder layer, its ops summed (qkv, attention, out_proj, residual_layernorm twice, ffn_up, gelu, "
                     "ffn_down; each timed alone, launch and synchronize included): "
                     + "; ".join("%s %s %.0f µs" % (d, p, us) for (d, p), us in sorted(total.items())))
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("jmh")
    ap.add_argument("--ceilings")
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    with open(a.jmh) as f:
        jmh = json.load(f)
    ceilings = None
    if a.ceilings:
        try:
            with open(a.ceilings) as f:
                ceilings = json.load(f)
        except (OSError, ValueError) as e:
            print(f"kernel_report: no ceilings ({e}): shares left out", file=sys.stderr)
    results = rows(jmh)
    if not results:
        print("kernel_report: no results in " + a.jmh, file=sys.stderr)
        return 1
    text = table(results, ceilings)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
