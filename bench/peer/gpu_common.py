"""What the GPU inference peer scripts share (hf_inference.py, ceilings.py, gpu_report.py).

Standard library only, so that --help, --check and the report run where torch is not installed:
safetensors read and written by hand (the format is 8 bytes of header length, a JSON header, raw
little-endian data), the statistics and the FLOPs formula of GpuInferenceBench (the same convention
on both sides), and the environment: Python, torch, transformers, CUDA, device, driver.
"""
import array
import json
import math
import os
import platform
import shutil
import struct
import subprocess
import sys

SCHEMA = "distilbert-gpu-inference/1"
INPUTS_SCHEMA = "distilbert-gpu-inputs/1"
CEILINGS_SCHEMA = "distilbert-gpu-ceilings/1"
CHECK_SCHEMA = "distilbert-gpu-logits-check/1"
MIN_ITERS = 3

FLOPS_CONVENTION = ("real tokens only; per row of n tokens: n_layers*(2n(4C^2+2CF) + 4n^2 C)"
                    " + 2C^2 + 2C*NL; element-wise ops not counted; padding not counted on either side")

# safetensors dtype -> (array typecode, bytes)
_TYPECODES = {"F32": ("f", 4), "F64": ("d", 8), "I64": ("q", 8), "I32": ("i", 4)}


# ---- safetensors ----------------------------------------------------------------------------------

def read_safetensors(path):
    """{name: (dtype, shape, bytes)} and the metadata dict of a safetensors file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: not a safetensors file (shorter than 8 bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} is past the end of the file")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    body = memoryview(data)[8 + n:]
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], tuple(info["shape"]), bytes(body[b:e]))
    return out, meta


def to_list(dtype, raw):
    """The values of a tensor's raw bytes as a flat Python list (F32, F64, I64, I32; little-endian)."""
    code, size = _TYPECODES[dtype]
    a = array.array(code)
    a.frombytes(raw)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tolist()


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype, shape, flat list of values)}; written atomically."""
    header, chunks, offset = {}, [], 0
    for name, (dtype, shape, values) in tensors.items():
        code, size = _TYPECODES[dtype]
        a = array.array(code, values)
        if sys.byteorder != "little":
            a.byteswap()
        raw = a.tobytes()
        if len(values) != math.prod(shape):
            raise ValueError(f"{name}: {len(values)} values for shape {list(shape)}")
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    head = json.dumps(header, separators=(",", ":")).encode("utf-8")
    head += b" " * ((8 - len(head) % 8) % 8)
    tmp = str(path) + ".part"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


# ---- JSON -----------------------------------------------------------------------------------------

def write_json(path, doc):
    """Writes doc atomically (a run cut short leaves the last complete document)."""
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = str(path) + ".part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---- statistics and FLOPs -------------------------------------------------------------------------

def percentile(sorted_values, p):
    """The p-th percentile (0..100), linear between order statistics: numpy's default, and the Java side's."""
    if not sorted_values:
        return float("nan")
    pos = p / 100 * (len(sorted_values) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def sig(x, digits):
    """x to `digits` significant digits."""
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits - 1}e}")


def summary(values):
    s = sorted(values)
    return {"count": len(s), "mean": round(sum(s) / len(s), 2) if s else None,
            "p50": round(percentile(s, 50), 2), "p90": round(percentile(s, 90), 2),
            "max": max(s) if s else None, "min": min(s) if s else None}


def flops(dim, hidden_dim, n_layers, num_labels, lengths):
    """GpuInferenceBench.flops: the model FLOPs of a batch whose rows have these real lengths."""
    C, F, NL = dim, hidden_dim, num_labels
    total = 0
    for n in lengths:
        total += n_layers * (2 * n * (4 * C * C + 2 * C * F) + 4 * n * n * C) + 2 * C * C + 2 * C * NL
    return total


def timing_fields(times_ms, batch, real_tokens, case_flops, peak):
    """median/p10/p90 and the rates at the median, in the schema GpuInferenceBench writes."""
    s = sorted(times_ms)
    median = percentile(s, 50)
    sec = median / 1e3
    tflops = case_flops / sec / 1e12
    return {
        "iterations": len(times_ms),
        "median_ms": round(median, 4), "p10_ms": round(percentile(s, 10), 4), "p90_ms": round(percentile(s, 90), 4),
        "mean_ms": round(sum(s) / len(s), 4), "min_ms": round(s[0], 4), "max_ms": round(s[-1], 4),
        "sequences_per_s": sig(batch / sec, 6), "tokens_per_s": sig(real_tokens / sec, 6),
        "tflops": sig(tflops, 5),
        "peak_tflops": peak, "mfu": sig(tflops / peak, 4) if peak else None,
        "times_ms": [round(t, 4) for t in times_ms],
    }


def peaks_from(ceilings_path, peak_tflops):
    """{precision: TFLOP/s} and a description of where they came from (the Java side's --ceilings rule)."""
    if peak_tflops:
        return {p: peak_tflops for p in ("fp32", "tf32", "bf16", "fp16")}, {"source": "--peak-tflops", "tflops": peak_tflops}
    if not ceilings_path:
        return {}, {"source": "none (no --peak-tflops or --ceilings): MFU not computed"}
    c = read_json(ceilings_path)
    peaks, desc = {}, {"source": os.path.abspath(ceilings_path)}
    for p, m in (c.get("matmul") or {}).items():
        t = (m or {}).get("tflops")
        if isinstance(t, (int, float)) and t > 0:
            peaks[p] = t
            desc[p] = t
    return peaks, desc


def set_tf32(torch, enabled):
    """TF32 for float32 matmuls on or off: PyTorch >= 2.9's fp32_precision where it exists (the old
    allow_tf32 flags warn there and are to go), else allow_tf32."""
    mode = "tf32" if enabled else "ieee"
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):
        matmul.fp32_precision = mode
        try:
            torch.backends.cudnn.conv.fp32_precision = mode
        except AttributeError:
            pass
    else:
        matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


# ---- environment ----------------------------------------------------------------------------------

def nvidia_smi():
    """{name, driver, memory} of GPU 0 from nvidia-smi, or {} where there is none."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return {}
    try:
        out = subprocess.run([exe, "--query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit",
                              "--format=csv,noheader"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    line = out.strip().splitlines()[0] if out.strip() else ""
    parts = [p.strip() for p in line.split(",")]
    if len(parts) < 2:
        return {}
    keys = ["name", "driver", "memory", "max_sm_clock", "power_limit"]
    return dict(zip(keys, parts))


def environment(torch=None):
    """Versions of everything that decides the peer's numbers; torch and transformers where importable."""
    env = {"python": platform.python_version(), "platform": platform.platform()}
    for mod in ("torch", "transformers", "safetensors", "numpy", "tokenizers", "accelerate"):
        try:
            env[mod] = __import__(mod).__version__
        except Exception:  # absent, or broken: say so instead of failing
            env[mod] = None
    smi = nvidia_smi()
    if smi:
        env["nvidia_smi"] = smi
        env["driver"] = smi.get("driver")
    if torch is not None:
        env["torch_cuda"] = torch.version.cuda
        try:
            env["cudnn"] = torch.backends.cudnn.version()
        except Exception:
            env["cudnn"] = None
        if torch.cuda.is_available():
            i = torch.cuda.current_device()
            p = torch.cuda.get_device_properties(i)
            env["device"] = torch.cuda.get_device_name(i)
            env["capability"] = "%d.%d" % torch.cuda.get_device_capability(i)
            env["device_memory_gib"] = round(p.total_memory / 2**30, 1)
            env["multiprocessors"] = p.multi_processor_count
            try:
                v = torch._C._cuda_getDriverVersion()  # the CUDA version the driver supports, e.g. 13000
                env["driver_cuda"] = "%d.%d" % (v // 1000, v % 1000 // 10)
            except Exception:
                pass
    return env


def device_slug(name):
    """'NVIDIA H100 80GB HBM3' -> 'h100-80gb-hbm3': the device part of a results file name."""
    s = (name or "gpu").lower().replace("nvidia", "")
    out, dash = [], False
    for ch in s:
        if ch.isalnum():
            out.append(ch)
            dash = False
        elif not dash:
            out.append("-")
            dash = True
    return "".join(out).strip("-") or "gpu"
