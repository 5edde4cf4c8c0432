#!/usr/bin/env python3
"""The HuggingFace peer of GpuInferenceBench: the same model directory, the same inputs, the same cases,
timed the same way, in the same JSON schema.

    python3 bench/peer/hf_inference.py --model DIR --inputs DIR --attn eager|sdpa [--precision bf16,fp32]
        [--warmup 3] [--iters 20] [--seconds S] [--ceilings FILE | --peak-tflops X]
        [--cases NAME,...] [--json OUT] [--logits-out FILE]
    python3 bench/peer/hf_inference.py --check --ours OURS_LOGITS --hf eager=FILE [--hf sdpa=FILE] [--json OUT]

Timing: transformers' DistilBertForSequenceClassification.from_pretrained(DIR, dtype=..., attn_implementation=...)
on cuda in eval mode under torch.inference_mode(). Every case of DIR/inputs.json (written by
GpuInferenceBench --inputs-out) with its exact ids and mask: --warmup untimed calls, then --iters timed
ones (fewer when --seconds runs out, never fewer than 3). One timed call, time.perf_counter() around it
after torch.cuda.synchronize(): the CPU int64 ids and mask copied to the GPU, the forward, the logits
.float().cpu() (which waits for the GPU) — what the Java side's forward does from host arrays to host
logits. CUDA events around the same span give gpu_median_ms beside it. FLOPs: GpuInferenceBench's
formula on real tokens only (HF computes the padding of the mix cases; that work earns no FLOPs).

Precisions: fp32 (float32, TF32 off for matmul and cuDNN), tf32 (float32, TF32 on), bf16, fp16 (the model
in that dtype, as from_pretrained(dtype=...) loads it).

--check compares the logits the Java side saved (--logits-out of GpuInferenceBench) with the peer's:
relative L2 ||ours - hf|| / ||hf|| per case and precision, against HF at the same precision and against
HF fp32 (the reference); it also gives HF's own error at that precision against HF fp32, for scale.
Exit code 0 when every compared case is within the bound of its precision, 1 otherwise.

Needs torch and transformers (numpy and safetensors come with them) for timing; --help and --check need
only the standard library. Prints the versions of torch, transformers, CUDA, the device and its driver.
"""
import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_common as common  # noqa: E402

# --check: the largest relative L2 of ours against HF at the same precision that passes.
CHECK_BOUNDS = {"fp32": 1e-4, "tf32": 5e-3, "fp16": 1e-2, "bf16": 3e-2}
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--model", help="the model directory (DistilBertForSequenceClassification)")
    p.add_argument("--inputs", help="the folder GpuInferenceBench --inputs-out wrote (inputs.json, inputs.safetensors)")
    p.add_argument("--attn", choices=["eager", "sdpa"], help="attn_implementation")
    p.add_argument("--precision", default="bf16", help="comma-separated: fp32, tf32, bf16, fp16 (default bf16)")
    p.add_argument("--cases", help="only these cases (comma-separated names, e.g. fixed-b32-l128,mix-b64)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=20)
    p.add_argument("--seconds", type=float, default=0, help="time budget per case (at least 3 timed calls)")
    p.add_argument("--peak-tflops", type=float)
    p.add_argument("--ceilings", help="ceilings.py's JSON: MFU against the matmul peak of each precision")
    p.add_argument("--json", help="results (default: stdout)")
    p.add_argument("--logits-out", help="safetensors of every case's logits, '<precision>/<case>' -> F32 [B, NL]")
    p.add_argument("--check", action="store_true", help="compare logits instead of timing")
    p.add_argument("--ours", help="--check: GpuInferenceBench's --logits-out file")
    p.add_argument("--hf", action="append", default=[], help="--check: IMPL=FILE of this script's --logits-out (repeatable)")
    a = p.parse_args(argv)

    def usage(msg):
        p.error(msg)  # exit code 2

    if a.check:
        if not a.ours or not a.hf:
            usage("--check needs --ours FILE and at least one --hf IMPL=FILE")
        for h in a.hf:
            if "=" not in h:
                usage(f"--hf '{h}': expected IMPL=FILE")
        return a
    for name in ("model", "inputs", "attn"):
        if getattr(a, name) is None:
            usage(f"--{name} is required (or --check)")
    a.precisions = [x.strip().lower() for x in a.precision.split(",") if x.strip()]
    for x in a.precisions:
        if x not in PRECISIONS:
            usage(f"--precision: unknown '{x}' (fp32, tf32, bf16, fp16)")
    if len(set(a.precisions)) != len(a.precisions) or not a.precisions:
        usage("--precision: empty, or a precision named twice")
    if a.warmup < 0 or a.iters < 1 or a.seconds < 0:
        usage("--warmup >= 0, --iters >= 1 and --seconds >= 0")
    if a.peak_tflops is not None and a.ceilings:
        usage("give --peak-tflops or --ceilings, not both")
    if a.peak_tflops is not None and not a.peak_tflops > 0:
        usage("--peak-tflops must be positive")
    if a.ceilings and not os.path.isfile(a.ceilings):
        usage(f"--ceilings {a.ceilings}: no such file")
    if not os.path.isfile(os.path.join(a.model, "config.json")):
        usage(f"--model {a.model}: no config.json")
    if not os.path.isfile(os.path.join(a.inputs, "inputs.json")):
        usage(f"--inputs {a.inputs}: no inputs.json (GpuInferenceBench --inputs-out DIR writes it)")
    return a


# ---- timing ---------------------------------------------------------------------------------------

def load_inputs(folder, only):
    manifest = common.read_json(os.path.join(folder, "inputs.json"))
    if manifest.get("schema") != common.INPUTS_SCHEMA:
        raise SystemExit(f"hf_inference: {folder}/inputs.json: schema {manifest.get('schema')!r}, expected {common.INPUTS_SCHEMA}")
    tensors, _ = common.read_safetensors(os.path.join(folder, manifest.get("tensors", "inputs.safetensors")))
    cases = manifest["cases"]
    if only:
        names = set(only)
        missing = names - {c["name"] for c in cases}
        if missing:
            raise SystemExit(f"hf_inference: --cases: no case {sorted(missing)} in {folder}/inputs.json")
        cases = [c for c in cases if c["name"] in names]
    return manifest, cases, tensors


def setup_precision(torch, precision):
    """The dtype the model is loaded in; TF32 on only for tf32 (PyTorch's matmul default is off)."""
    common.set_tf32(torch, precision == "tf32")
    return {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def load_model(torch, transformers, model_dir, dtype, attn):
    cls = transformers.DistilBertForSequenceClassification
    attempts = (dict(dtype=dtype, output_loading_info=True),  # transformers >= 4.56 and 5: dtype=
                dict(torch_dtype=dtype, output_loading_info=True),  # older 4.x
                dict(dtype=dtype))
    for i, kw in enumerate(attempts):
        try:
            res = cls.from_pretrained(model_dir, attn_implementation=attn, **kw)
            break
        except TypeError:
            if i == len(attempts) - 1:
                raise
    model, info = res if isinstance(res, tuple) else (res, {})
    if model.dtype != dtype:  # an old transformers that took dtype= for a config field
        model = model.to(dtype)
    model = model.to("cuda").eval()
    loading = {k: sorted(map(str, v)) for k, v in (info or {}).items() if isinstance(v, (list, set, tuple)) and v}
    used = getattr(model.config, "_attn_implementation", None)
    return model, loading, used


def time_case(torch, model, ids_cpu, mask_cpu, warmup, iters, seconds):
    """(wall ms per call, GPU ms per call by CUDA events, logits of the last call)."""
    budget = seconds if seconds > 0 else math.inf
    logits = None

    def call():
        ids = ids_cpu.to("cuda")
        mask = mask_cpu.to("cuda")
        return model(input_ids=ids, attention_mask=mask).logits.float()

    start = time.perf_counter()
    warm = 0
    while warm < warmup:  # a budget: warm up for at most half of it
        logits = call().cpu()
        warm += 1
        if time.perf_counter() - start > budget / 2:
            break
    wall, gpu = [], []
    ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    measure_start = time.perf_counter()
    while len(wall) < iters:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        ev0.record()
        out = call()
        ev1.record()
        logits = out.cpu()  # waits for the GPU
        t1 = time.perf_counter()
        wall.append((t1 - t0) * 1e3)
        gpu.append(ev0.elapsed_time(ev1))
        if len(wall) >= common.MIN_ITERS and t1 - measure_start > budget:
            break
    return warm, wall, gpu, logits


def run_timing(a):
    try:
        import torch
        import transformers
    except ImportError as e:
        print(f"hf_inference: needs torch and transformers: {e}", file=sys.stderr)
        return 1
    env = common.environment(torch)
    print("hf_inference: python %s, torch %s (CUDA %s), transformers %s" % (
        env["python"], env["torch"], env.get("torch_cuda"), env["transformers"]), file=sys.stderr)
    if not torch.cuda.is_available():
        print("hf_inference: torch sees no CUDA device", file=sys.stderr)
        return 1
    print("hf_inference: %s (sm_%s), driver %s" % (env.get("device"), env.get("capability", "?").replace(".", ""),
                                                    env.get("driver") or env.get("driver_cuda")), file=sys.stderr)
    only = [c.strip() for c in a.cases.split(",")] if a.cases else None
    manifest, cases, tensors = load_inputs(a.inputs, only)
    config = common.read_json(os.path.join(a.model, "config.json"))
    dim, hidden, layers = config.get("dim", 768), config.get("hidden_dim", 3072), config.get("n_layers", 6)
    num_labels = len(config.get("id2label") or {"0": 0, "1": 1})
    peaks, peak_desc = common.peaks_from(a.ceilings, a.peak_tflops)

    doc = {
        "schema": common.SCHEMA, "side": "hf", "implementation": f"transformers-{a.attn}",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": env,
        "model": {"dir": os.path.abspath(a.model), "dim": dim, "hidden_dim": hidden, "n_layers": layers,
                  "n_heads": config.get("n_heads"), "vocab_size": config.get("vocab_size"), "num_labels": num_labels},
        "settings": {"device": "cuda", "precisions": a.precisions, "attn_implementation": a.attn,
                     "warmup": a.warmup, "iters": a.iters, "seconds": a.seconds or None, "min_iters": common.MIN_ITERS,
                     "timed": "ids/mask .to(cuda), model(...).logits.float().cpu(), time.perf_counter after synchronize"},
        "flops_convention": common.FLOPS_CONVENTION,
        "inputs": os.path.abspath(a.inputs),
        "peak": peak_desc,
        "cases": [], "failures": [],
    }
    if "mix" in manifest:
        doc["mix"] = manifest["mix"]
    logits_out = {}

    def save():
        if a.json:
            common.write_json(a.json, doc)
        if a.logits_out and logits_out:
            common.write_safetensors(a.logits_out, logits_out, {"schema": common.SCHEMA, "side": "hf", "attn": a.attn})

    def case_fields(precision, c):
        lengths = c["lengths"]
        f = common.flops(dim, hidden, layers, num_labels, lengths)
        if "flops" in c and c["flops"] != f:
            print(f"hf_inference: warning: {c['name']}: FLOPs {f} here, {c['flops']} in inputs.json", file=sys.stderr)
        r = {"name": c["name"], "kind": c["kind"], "precision": precision, "batch": c["batch"], "length": c["length"],
             "real_tokens": sum(lengths), "padded_tokens": c["batch"] * c["length"], "flops": f,
             "padded_flops": common.flops(dim, hidden, layers, num_labels, [c["length"]] * c["batch"])}
        if c["kind"] == "mix":
            r["length_summary"] = common.summary(lengths)
            r["lengths"] = lengths
        return r

    save()
    for precision in a.precisions:
        t0 = time.perf_counter()
        try:
            dtype = setup_precision(torch, precision)
            model, loading, used = load_model(torch, transformers, a.model, dtype, a.attn)
        except Exception as e:  # noqa: BLE001 - recorded, and the other precision still runs
            msg = f"{type(e).__name__}: {e}"
            print(f"hf_inference: loading for {precision} failed: {msg}", file=sys.stderr)
            doc["failures"].append({"precision": precision, "stage": "load", "error": msg})
            for c in cases:
                doc["cases"].append(dict(case_fields(precision, c), status="failed", error="model not loaded: " + msg))
            save()
            continue
        load_s = time.perf_counter() - t0
        if loading:
            print(f"hf_inference: loading info: {loading}", file=sys.stderr)
            doc.setdefault("loading_info", {})[precision] = loading
        backend = f"transformers {transformers.__version__}, attn {used}, {str(dtype).replace('torch.', '')}"
        failed = 0
        with torch.inference_mode():
            for c in cases:
                fields = case_fields(precision, c)
                if failed >= 3:
                    doc["cases"].append(dict(fields, status="failed", error=f"skipped: 3 earlier cases of {precision} failed"))
                    continue
                shape = (c["batch"], c["length"])
                try:
                    ids = _tensor(torch, tensors[c["name"] + ".input_ids"], shape)
                    mask = _tensor(torch, tensors[c["name"] + ".attention_mask"], shape)
                    torch.cuda.reset_peak_memory_stats()
                    warm, wall, gpu, logits = time_case(torch, model, ids, mask, a.warmup, a.iters, a.seconds)
                    r = dict(fields, status="ok", warmup=warm)
                    r.update(common.timing_fields(wall, c["batch"], fields["real_tokens"], fields["flops"], peaks.get(precision)))
                    r["gpu_median_ms"] = round(common.percentile(sorted(gpu), 50), 4)
                    r["peak_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
                    r["backend"] = backend
                    r["load_s"] = round(load_s, 3)
                    doc["cases"].append(r)
                    logits_out[f"{precision}/{c['name']}"] = ("F32", tuple(logits.shape), logits.reshape(-1).tolist())
                    print("hf %s %s %-16s %9.3f ms  %10.0f tokens/s  %.4g TFLOP/s" % (
                        a.attn, precision, c["name"], r["median_ms"], r["tokens_per_s"], r["tflops"]), file=sys.stderr)
                except Exception as e:  # noqa: BLE001 - out of memory and the like: recorded, the next case runs
                    failed += 1
                    msg = f"{type(e).__name__}: {e}".strip()[:2000]
                    print(f"hf_inference: {precision} {c['name']} failed: {msg}", file=sys.stderr)
                    doc["cases"].append(dict(fields, status="failed", error=msg))
                    doc["failures"].append({"precision": precision, "case": c["name"], "stage": "forward", "error": msg})
                    torch.cuda.empty_cache()
                save()
        del model
        torch.cuda.empty_cache()
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    save()
    if not a.json:
        import json
        json.dump(doc, sys.stdout, indent=2)
        print()
    return 0 if not doc["failures"] else 1


def _tensor(torch, entry, shape):
    dtype, stored, raw = entry
    if dtype != "I64" or tuple(stored) != tuple(shape):
        raise ValueError(f"expected I64 {list(shape)}, found {dtype} {list(stored)}")
    return torch.frombuffer(bytearray(raw), dtype=torch.int64).reshape(shape)


# ---- --check --------------------------------------------------------------------------------------

def rel_l2(a, b):
    """||a - b|| / ||b|| and max |a - b|."""
    num = sum((x - y) ** 2 for x, y in zip(a, b))
    den = sum(y * y for y in b)
    return (math.sqrt(num / den) if den > 0 else (0.0 if num == 0 else math.inf)), max((abs(x - y) for x, y in zip(a, b)), default=0.0)


def run_check(a):
    def load(path):
        tensors, _ = common.read_safetensors(path)
        return {k: (shape, common.to_list(dt, raw)) for k, (dt, shape, raw) in tensors.items()}

    if not os.path.isfile(a.ours):
        print(f"hf_inference --check: no file {a.ours}: our side wrote no logits (see its log)", file=sys.stderr)
        if a.json:
            common.write_json(a.json, {"schema": common.CHECK_SCHEMA, "ours": os.path.abspath(a.ours), "ok": False,
                                       "compared": 0, "error": "no logits from our side", "rows": []})
        return 1
    ours = load(a.ours)
    hf = {}
    for h in a.hf:
        impl, path = h.split("=", 1)
        if os.path.isfile(path):
            hf[impl] = load(path)
        else:
            print(f"hf_inference --check: {impl}: no file {path}: left out", file=sys.stderr)
    rows, ok = [], True
    for key in sorted(ours):
        precision, case = key.split("/", 1)
        shape, values = ours[key]
        row = {"precision": precision, "case": case, "shape": list(shape), "vs": {}}
        for impl, logits in sorted(hf.items()):
            entry = {}
            same = logits.get(key)
            if same is not None:
                if tuple(same[0]) != tuple(shape):
                    entry["error"] = f"shape {list(same[0])} vs ours {list(shape)}"
                    ok = False
                else:
                    r, m = rel_l2(values, same[1])
                    bound = CHECK_BOUNDS.get(precision, 3e-2)
                    entry.update(rel_l2=common.sig(r, 3), max_abs=common.sig(m, 3), bound=bound, ok=r <= bound)
                    ok &= r <= bound
            ref = logits.get("fp32/" + case)
            if ref is not None and tuple(ref[0]) == tuple(shape):
                entry["rel_l2_vs_hf_fp32"] = common.sig(rel_l2(values, ref[1])[0], 3)
                if same is not None and precision != "fp32":
                    entry["hf_own_rel_l2_vs_hf_fp32"] = common.sig(rel_l2(same[1], ref[1])[0], 3)
            if entry:
                row["vs"][impl] = entry
        rows.append(row)
    compared = sum(1 for r in rows for e in r["vs"].values() if "ok" in e)
    doc = {"schema": common.CHECK_SCHEMA, "ours": os.path.abspath(a.ours),
           "hf": {h.split("=", 1)[0]: os.path.abspath(h.split("=", 1)[1]) for h in a.hf},
           "bounds": CHECK_BOUNDS, "compared": compared, "ok": ok and compared > 0, "rows": rows}
    for r in rows:
        for impl, e in r["vs"].items():
            if "rel_l2" in e:
                print("check %-5s %-16s vs hf-%-5s rel L2 %.3g (bound %.0e) %s%s" % (
                    r["precision"], r["case"], impl, e["rel_l2"], e["bound"], "ok" if e["ok"] else "FAIL",
                    "" if "rel_l2_vs_hf_fp32" not in e else "; vs hf fp32 %.3g" % e["rel_l2_vs_hf_fp32"]), file=sys.stderr)
            elif "error" in e:
                print(f"check {r['precision']} {r['case']} vs hf-{impl}: {e['error']}", file=sys.stderr)
    if compared == 0:
        print("hf_inference --check: no case of ours has HF logits at the same precision", file=sys.stderr)
    if a.json:
        common.write_json(a.json, doc)
    else:
        import json
        json.dump(doc, sys.stdout, indent=2)
        print()
    return 0 if doc["ok"] else 1


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    return run_check(a) if a.check else run_timing(a)


if __name__ == "__main__":
    sys.exit(main())
