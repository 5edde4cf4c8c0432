#!/usr/bin/env python3
"""Writes the GPU inference results file from what bench/run-gpu-bench.sh (bin/gpu-bench) left in its work folder.

    python3 bench/peer/gpu_report.py --work DIR (--out FILE | --out-dir DIR) [--date YYYY-MM-DD]

Reads from DIR whatever is there (a part that failed left nothing or a partial file, and the report says
so): ceilings.json (ceilings.py), ours.json (GpuInferenceBench), hf-eager.json and hf-sdpa.json
(hf_inference.py), check.json (hf_inference.py --check), parts.tsv (the runner: one line per part: name,
exit code, seconds, log file, command), nvidia-smi.txt. With --out-dir the file is
DIR/gpu-inference-<date>-<device>.md; the path written is printed. Standard library only.

Ratios are throughputs, ours / HF's, on the same inputs: HF's median time over ours, so > 1 means ours
is faster. MFU is model FLOPs (GpuInferenceBench's convention: real tokens only) per second over the
measured matmul ceiling of the same precision.
"""
import argparse
import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_common as common  # noqa: E402

IMPLS = (("ours", "ours.json", "ours"), ("eager", "hf-eager.json", "HF eager"), ("sdpa", "hf-sdpa.json", "HF sdpa"))
TARGET_BATCH = 64


def load(work, name):
    path = os.path.join(work, name)
    if not os.path.isfile(path):
        return None
    try:
        return common.read_json(path)
    except (OSError, ValueError) as e:
        return {"unreadable": f"{name}: {e}"}


def read_parts(work):
    parts = []
    path = os.path.join(work, "parts.tsv")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) >= 5:
                    parts.append({"name": cols[0], "rc": cols[1], "seconds": cols[2], "log": cols[3], "command": cols[4]})
    return parts


def tail(path, n=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return "(no log)"
    return "".join(lines[-n:]).rstrip() or "(empty log)"


def fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.{digits}g}"


def ms(x):
    return "–" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.2f}" if x < 100 else f"{x:.1f}")


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}%"


def ratio(hf, ours):
    if not hf or not ours or hf.get("status") != "ok" or ours.get("status") != "ok":
        return None
    return hf["median_ms"] / ours["median_ms"]


def rfmt(r):
    return "–" if r is None else (f"**{r:.2f}**" if r >= 1 else f"{r:.2f}")


def case_order(c):
    return (0 if c["kind"] == "fixed" else 1, c["length"] if c["kind"] == "fixed" else 0, c["batch"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--work", required=True)
    p.add_argument("--out")
    p.add_argument("--out-dir")
    p.add_argument("--date", default=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"))
    a = p.parse_args(argv)
    if bool(a.out) == bool(a.out_dir):
        p.error("give --out FILE or --out-dir DIR")

    docs = {k: load(a.work, f) for k, f, _ in IMPLS}
    ceilings = load(a.work, "ceilings.json")
    check = load(a.work, "check.json")
    parts = read_parts(a.work)

    # What the machine is: torch's view first (peer or ceilings), nvidia-smi's for the driver.
    env = {}
    for d in (ceilings, docs["eager"], docs["sdpa"]):
        if d and isinstance(d.get("environment"), dict) and d["environment"].get("device"):
            env = d["environment"]
            break
    smi = env.get("nvidia_smi") or common.nvidia_smi()
    device = env.get("device") or smi.get("name") or "unknown device"
    ours_env = (docs["ours"] or {}).get("environment", {}) if isinstance(docs["ours"], dict) else {}
    out = a.out or os.path.join(a.out_dir, f"gpu-inference-{a.date}-{common.device_slug(device if device != 'unknown device' else None)}.md")

    L = []
    w = L.append
    w(f"# GPU inference: distilbert-cuda against HuggingFace transformers, {device}, {a.date}")
    w("")
    w("Written by `bench/run-gpu-bench.sh` (the tarball's `bin/gpu-bench`) through `bench/peer/gpu_report.py`; "
      "what is measured and how: `bench/README.md`, section *GPU inference*.")
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    w(f"| device | {device}" + (f", sm_{env['capability'].replace('.', '')}" if env.get("capability") else "")
      + (f", {env['device_memory_gib']} GiB, {env.get('multiprocessors')} SMs" if env.get("device_memory_gib") else "") + " |")
    w(f"| driver | {env.get('driver') or smi.get('driver') or '–'}"
      + (f" (supports CUDA {env['driver_cuda']})" if env.get("driver_cuda") else "") + " |")
    if smi.get("max_sm_clock") or smi.get("power_limit"):
        w(f"| clocks, power | max SM clock {smi.get('max_sm_clock', '–')}, power limit {smi.get('power_limit', '–')} |")
    w(f"| PyTorch | {env.get('torch') or '–'} (CUDA {env.get('torch_cuda') or '–'}, cuDNN {env.get('cudnn') or '–'}) |")
    w(f"| transformers | {env.get('transformers') or '–'} (safetensors {env.get('safetensors') or '–'}, numpy {env.get('numpy') or '–'}) |")
    w(f"| Python | {env.get('python') or '–'} |")
    w(f"| Java (ours) | {ours_env.get('java', '–')}, {ours_env.get('cpus', '–')} CPUs; GPU probe: {ours_env.get('gpu', '–')} |")
    for k, _, label in IMPLS:
        d = docs[k]
        if isinstance(d, dict) and d.get("unreadable"):
            w(f"| {label} results | unreadable: {d['unreadable']} |")
    w("")

    od = next((d for d in (docs["ours"], docs["eager"], docs["sdpa"]) if isinstance(d, dict) and d.get("model")), None)
    if od:
        m, s = od["model"], od.get("settings", {})
        w("## Model and protocol")
        w("")
        w(f"- model: `{m.get('dir')}` ({m.get('source', 'given')}): DistilBertForSequenceClassification, dim {m.get('dim')}, "
          f"hidden {m.get('hidden_dim')}, {m.get('n_layers')} layers, {m.get('n_heads')} heads, vocab {m.get('vocab_size')}, "
          f"{m.get('num_labels')} labels" + (f", {m['parameters']:,} parameters" if m.get("parameters") else ""))
        w(f"- per case: {s.get('warmup')} warmup calls, then {s.get('iters')} timed calls"
          + (f" or {s['seconds']} s, whichever ends first (at least {s.get('min_iters', 3)})" if s.get("seconds") else "")
          + "; median, p10 and p90 of the wall-clock time of one call")
        w("- one call: token ids and mask on the host in, logits on the host out (ours: `forward(ModelInput)` from "
          "`int[]` to `float[]`; HF: `.to(\"cuda\")`, `model(...)`, `.logits.float().cpu()`)")
        w(f"- FLOPs: {od.get('flops_convention', common.FLOPS_CONVENTION)}")
        w("- fixed-bB-lL: B rows of L random ids, full mask; mix-bB: B corpus records (length mix below), right-padded "
          "to the longest row: ours packs the rows and skips the padding, HF computes it")
        w("")

    w("## Parts")
    w("")
    if parts:
        w("| part | exit | seconds | log |")
        w("| --- | ---: | ---: | --- |")
        for part in parts:
            status = {"0": "ok", "124": "**timed out**", "137": "**timed out**", "skipped": "skipped (--skip)",
                      "out-of-time": "**skipped: out of time**"}.get(part["rc"], f"**failed ({part['rc']})**")
            w(f"| {part['name']} | {status} | {part['seconds']} | `{os.path.basename(part['log'])}` |")
    else:
        w("(no parts.tsv: the report was made from files alone)")
    w("")

    if ceilings and not ceilings.get("unreadable"):
        w("## Ceilings (bench/peer/ceilings.py, best of %s)" % ceilings.get("trials", "?"))
        w("")
        c = ceilings.get("copy", {})
        w("| ceiling | value |")
        w("| --- | ---: |")
        if c:
            w(f"| device-to-device copy, {c.get('bytes', 0) / 2**30:.2f} GiB, read + write | {c.get('gbps')} GB/s |")
        for name, mm in (ceilings.get("matmul") or {}).items():
            if mm.get("tflops"):
                w(f"| matmul {name}, {mm.get('n')}³ | {mm['tflops']} TFLOP/s |")
            else:
                w(f"| matmul {name} | failed: {mm.get('error', '?')} |")
        w("")

    # index: impl -> (precision, name) -> case
    idx = {}
    for k, _, _ in IMPLS:
        d = docs[k]
        idx[k] = {}
        if isinstance(d, dict):
            for c in d.get("cases", []):
                idx[k][(c["precision"], c["name"])] = c
    keys = sorted({key for k in idx for key in idx[k]},
                  key=lambda pk: (["bf16", "fp16", "tf32", "fp32"].index(pk[0]) if pk[0] in ("bf16", "fp16", "tf32", "fp32") else 9,
                                  case_order(next(idx[k][pk] for k in idx if pk in idx[k]))))

    # The target.
    w(f"## Target: ours / HF eager ≥ 1 in bf16 at batch ≥ {TARGET_BATCH}")
    w("")
    tgt = [(pk, ratio(idx["eager"].get(pk), idx["ours"].get(pk))) for pk in keys
           if pk[0] == "bf16" and next(idx[k][pk] for k in idx if pk in idx[k])["batch"] >= TARGET_BATCH]
    measured = [(pk, r) for pk, r in tgt if r is not None]
    if not measured:
        w("Not measured: " + ("no bf16 case at batch ≥ %d has results from both sides." % TARGET_BATCH))
    else:
        held = [pk for pk, r in measured if r >= 1]
        w(f"**{'Holds' if len(held) == len(measured) else 'Does not hold'}**: ours ≥ HF eager in {len(held)} of "
          f"{len(measured)} bf16 cases at batch ≥ {TARGET_BATCH}"
          + (f" ({len(tgt) - len(measured)} more without results from both sides)" if len(tgt) > len(measured) else "") + ".")
        w("")
        w("| case | ours / HF eager | ours / HF sdpa |")
        w("| --- | ---: | ---: |")
        for pk, r in measured:
            w(f"| {pk[1]} | {rfmt(r)} | {rfmt(ratio(idx['sdpa'].get(pk), idx['ours'].get(pk)))} |")
    w("")

    w("## Ratios (throughput, ours / HF: > 1 means ours is faster) and MFU")
    w("")
    for precision in [p_ for p_ in ("bf16", "fp16", "tf32", "fp32") if any(pk[0] == p_ for pk in keys)]:
        w(f"### {precision}")
        w("")
        w("| case | B | L | real tokens | ours ms | HF eager ms | HF sdpa ms | ours / eager | ours / sdpa "
          "| ours TFLOP/s | MFU ours | MFU eager | MFU sdpa |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for pk in [k_ for k_ in keys if k_[0] == precision]:
            o, e, s = idx["ours"].get(pk), idx["eager"].get(pk), idx["sdpa"].get(pk)
            any_c = o or e or s

            def t(c):
                if c is None:
                    return "–"
                return ms(c["median_ms"]) if c.get("status") == "ok" else "failed"

            def mfu(c):
                return pct(c.get("mfu")) if c and c.get("status") == "ok" else "–"
            w(f"| {pk[1]} | {any_c['batch']} | {any_c['length']} | {any_c['real_tokens']:,} | {t(o)} | {t(e)} | {t(s)} "
              f"| {rfmt(ratio(e, o))} | {rfmt(ratio(s, o))} "
              f"| {fmt(o.get('tflops')) if o and o.get('status') == 'ok' else '–'} | {mfu(o)} | {mfu(e)} | {mfu(s)} |")
        w("")

    if check and not check.get("unreadable"):
        w("## Logits: ours against HF on the same inputs (relative L2 of the [B, num_labels] logits)")
        w("")
        w(f"Overall: **{'ok' if check.get('ok') else 'FAILED'}** ({check.get('compared', 0)} comparisons; bounds "
          + ", ".join(f"{k} {v:g}" for k, v in (check.get("bounds") or {}).items()) + ").")
        w("")
        w("| precision | case | vs HF | rel L2 | max abs | ok | ours vs HF fp32 | HF's own vs HF fp32 |")
        w("| --- | --- | --- | ---: | ---: | --- | ---: | ---: |")
        for r in check.get("rows", []):
            for impl, e in r.get("vs", {}).items():
                if "error" in e:
                    w(f"| {r['precision']} | {r['case']} | {impl} | {e['error']} | | **no** | | |")
                    continue
                w(f"| {r['precision']} | {r['case']} | {impl} | {fmt(e.get('rel_l2'))} | {fmt(e.get('max_abs'))} "
                  f"| {'yes' if e.get('ok') else '**no**' if 'ok' in e else '–'} | {fmt(e.get('rel_l2_vs_hf_fp32'))} "
                  f"| {fmt(e.get('hf_own_rel_l2_vs_hf_fp32'))} |")
        w("")

    mix = next((d.get("mix") for d in docs.values() if isinstance(d, dict) and d.get("mix")), None)
    mix_cases = {}
    for k in idx:
        for (prec, name), c in idx[k].items():
            if c["kind"] == "mix":
                mix_cases.setdefault(name, c)
    if mix or mix_cases:
        w("## Length mix")
        w("")
        if mix:
            cl = mix.get("corpus_lengths", {})
            w(f"Corpus `{mix.get('corpus')}`: {mix.get('records')} records encoded with `{mix.get('tokenizer')}` "
              f"([CLS]/[SEP] included, text pairs as pairs), cut to {mix.get('cap')} tokens: mean {cl.get('mean')}, "
              f"p50 {cl.get('p50')}, p90 {cl.get('p90')}, max {cl.get('max')} tokens. Draw: {mix.get('draw')}, "
              f"seed {mix.get('seed')}.")
            w("")
        w("| case | B | mean | p50 | p90 | max = padded L | real tokens | padded tokens | padding |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, c in sorted(mix_cases.items(), key=lambda kv: kv[1]["batch"]):
            s = c.get("length_summary", {})
            w(f"| {name} | {c['batch']} | {s.get('mean')} | {s.get('p50')} | {s.get('p90')} | {c['length']} "
              f"| {c['real_tokens']:,} | {c['padded_tokens']:,} | {pct(1 - c['real_tokens'] / c['padded_tokens'])} |")
        w("")
        w("Each case's row lengths are in the raw JSON (`lengths`).")
        w("")

    w("## Raw numbers")
    w("")
    for k, fname, label in IMPLS:
        d = docs[k]
        if not isinstance(d, dict) or not d.get("cases"):
            w(f"### {label}: no results ({fname} {'missing' if d is None else 'empty or unreadable'})")
            w("")
            continue
        w(f"### {label} ({fname})")
        w("")
        backends = sorted({c.get("backend") for c in d["cases"] if c.get("backend")})
        if backends:
            w("Backend: " + "; ".join(f"`{b}`" for b in backends))
            w("")
        if d.get("loading_info"):
            w(f"Loading info (missing or unexpected weights: the logits check cannot pass): `{d['loading_info']}`")
            w("")
        extra = k != "ours"
        w("| precision | case | iters | median ms | p10 ms | p90 ms | seq/s | tokens/s | TFLOP/s | MFU"
          + (" | GPU ms | peak MiB" if extra else " | load s") + " |")
        w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---:" + (" | ---: | ---:" if extra else " | ---:") + " |")
        previous_error = None
        for c in sorted(d["cases"], key=lambda c: (c["precision"], case_order(c))):
            if c.get("status") != "ok":
                error = str(c.get("error", "?"))
                shown = "the same" if (c["precision"], error) == previous_error else error[:200].replace("|", "/")
                previous_error = (c["precision"], error)
                w(f"| {c['precision']} | {c['name']} | failed: {shown} | | | | | | | " + ("| | |" if extra else "| |"))
                continue
            w(f"| {c['precision']} | {c['name']} | {c['iterations']} | {ms(c['median_ms'])} | {ms(c['p10_ms'])} "
              f"| {ms(c['p90_ms'])} | {fmt(c['sequences_per_s'], 4)} | {fmt(c['tokens_per_s'], 4)} | {fmt(c['tflops'])} "
              f"| {pct(c.get('mfu'))}"
              + (f" | {ms(c.get('gpu_median_ms'))} | {fmt(c.get('peak_memory_mib'))} |" if extra else f" | {c.get('load_s', '–')} |"))
        w("")
        if d.get("failures"):
            w("Failures: " + "; ".join(f"{f.get('precision')} {f.get('case', '')} {f.get('stage')}: {str(f.get('error'))[:300]}"
                                       for f in d["failures"][:10]))
            w("")

    # Where our device time goes: the per-op breakdown (CudaOps events) of the largest case of each precision.
    ours_doc = docs["ours"] if isinstance(docs["ours"], dict) else {}
    broken = [c for c in ours_doc.get("cases", []) if isinstance(c, dict) and c.get("breakdown")]
    if broken:
        w("## Where our time goes (device time per op, one profiled forward)")
        w("")
        for prec in sorted({c["precision"] for c in broken}):
            c = max((c for c in broken if c["precision"] == prec), key=lambda c: c.get("real_tokens", 0))
            total = sum(r["ms"] for r in c["breakdown"])
            w(f"{prec}, {c['name']} ({c.get('real_tokens')} real tokens): {ms(total)} ms of device time")
            w("")
            w("| op (shape) | calls | ms | share |")
            w("| --- | --- | --- | --- |")
            for r in c["breakdown"][:15]:
                w(f"| {r['op']} | {r['calls']} | {ms(r['ms'])} | {pct(r['share'])} |")
            w("")

    failed = [part for part in parts if part["rc"] not in ("0", "skipped")]
    if failed:
        w("## What failed (last lines of each log)")
        w("")
        for part in failed:
            w(f"### {part['name']}: exit {part['rc']}")
            w("")
            w("```")
            w(tail(part["log"]))
            w("```")
            w("")

    if parts:
        w("## Commands")
        w("")
        w("```")
        for part in parts:
            w(part["command"])
        w("```")
        w("")
    smi_txt = os.path.join(a.work, "nvidia-smi.txt")
    if os.path.isfile(smi_txt):
        w("## nvidia-smi")
        w("")
        w("```")
        w(tail(smi_txt, 60))
        w("```")
        w("")

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".part", "w", encoding="utf-8") as f:
        f.write("\n".join(L).rstrip() + "\n")
    os.replace(out + ".part", out)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
