#!/usr/bin/env python3
"""The device's two ceilings, measured with torch: what the inference benchmark's numbers are read against.

    python3 bench/peer/ceilings.py [--json OUT] [--copy-gib 1] [--n 8192] [--trials 5] [--quick]

- copy: device-to-device bandwidth, dst.copy_(src) of a --copy-gib GiB uint8 tensor; GB/s (1e9 bytes/s)
  counting what is read and what is written (2 x the size per copy).
- matmul: an n x n x n product (n = 8192) on fresh random matrices, 2n^3 FLOPs per product, TFLOP/s, in
  bf16 and fp16 (tensor cores, float32 accumulation as torch does it), tf32 (float32 storage, TF32 on) and
  fp32 (TF32 off). GpuInferenceBench --ceilings and hf_inference.py --ceilings take matmul.<precision>.tflops
  as the MFU peak of that precision.

Each number is the best of --trials timed runs (CUDA events around a batch of repetitions, after a warmup):
a ceiling is what the device can reach, so the best run is the estimate, not the median. All trials are
in the JSON too. Needs torch with CUDA; --help works without it.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_common as common  # noqa: E402


def timed(torch, fn, reps, trials):
    """ms per call of fn for each trial (reps calls between two events), after 2 untimed calls."""
    fn()
    fn()
    torch.cuda.synchronize()
    out = []
    for _ in range(trials):
        e0, e1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        e0.record()
        for _ in range(reps):
            fn()
        e1.record()
        e1.synchronize()
        out.append(e0.elapsed_time(e1) / reps)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--json", help="write the results here (default: stdout)")
    p.add_argument("--copy-gib", type=float, default=1.0, help="size of the copied tensor in GiB (default 1)")
    p.add_argument("--n", type=int, default=8192, help="matmul size n (default 8192)")
    p.add_argument("--trials", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="2 trials, fewer repetitions: checks the pipeline")
    a = p.parse_args(argv)
    if a.copy_gib <= 0 or a.n <= 0 or a.trials <= 0:
        p.error("--copy-gib, --n and --trials must be positive")
    try:
        import torch
    except ImportError as e:
        print(f"ceilings: needs torch: {e}", file=sys.stderr)
        return 1
    if not torch.cuda.is_available():
        print("ceilings: torch sees no CUDA device", file=sys.stderr)
        return 1
    trials = 2 if a.quick else a.trials
    env = common.environment(torch)
    print("ceilings: %s, torch %s (CUDA %s), driver %s" % (env.get("device"), env.get("torch"), env.get("torch_cuda"),
                                                         env.get("driver") or env.get("driver_cuda")), file=sys.stderr)
    doc = {"schema": common.CEILINGS_SCHEMA, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "environment": env, "trials": trials, "best_of": "each number is the best trial", "matmul": {}}

    nbytes = int(a.copy_gib * 2**30)
    src = torch.empty(nbytes, dtype=torch.uint8, device="cuda").random_(0, 255)
    dst = torch.empty_like(src)
    ms = timed(torch, lambda: dst.copy_(src), 3 if a.quick else 10, trials)
    gbps = [2 * nbytes / (t / 1e3) / 1e9 for t in ms]
    doc["copy"] = {"bytes": nbytes, "counted": "read + write = 2 x bytes per copy", "gbps": common.sig(max(gbps), 4),
                   "trials_gbps": [round(g, 1) for g in gbps], "trials_ms": [round(t, 4) for t in ms]}
    print("ceilings: copy %.2f GiB: %.0f GB/s (best of %d)" % (a.copy_gib, max(gbps), trials), file=sys.stderr)
    del src, dst
    torch.cuda.empty_cache()

    n = a.n
    flop = 2 * n ** 3
    for name, dtype, tf32, reps in (("bf16", torch.bfloat16, False, 20), ("fp16", torch.float16, False, 20),
                                    ("tf32", torch.float32, True, 10), ("fp32", torch.float32, False, 3)):
        try:
            common.set_tf32(torch, tf32)
            x = torch.randn(n, n, device="cuda", dtype=dtype)
            y = torch.randn(n, n, device="cuda", dtype=dtype)
            z = torch.empty(n, n, device="cuda", dtype=dtype)
            ms = timed(torch, lambda: torch.matmul(x, y, out=z), max(1, reps // 4) if a.quick else reps, trials)
            tf = [flop / (t / 1e3) / 1e12 for t in ms]
            doc["matmul"][name] = {"n": n, "dtype": str(dtype).replace("torch.", ""), "tf32": tf32,
                                   "tflops": common.sig(max(tf), 4), "trials_tflops": [round(v, 1) for v in tf],
                                   "trials_ms": [round(t, 4) for t in ms]}
            print("ceilings: matmul %s %d^3: %.1f TFLOP/s (best of %d)" % (name, n, max(tf), trials), file=sys.stderr)
            del x, y, z
        except Exception as e:  # noqa: BLE001 - one dtype failing leaves the others
            doc["matmul"][name] = {"error": f"{type(e).__name__}: {e}"}
            print(f"ceilings: matmul {name} failed: {e}", file=sys.stderr)
        torch.cuda.empty_cache()
    common.set_tf32(torch, False)
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if a.json:
        common.write_json(a.json, doc)
    else:
        import json
        json.dump(doc, sys.stdout, indent=2)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
