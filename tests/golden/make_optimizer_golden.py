#!/usr/bin/env python3
"""Writes the PyTorch golden file for the optimizer math (AdamW, clip_grad_norm_, HF's schedules).

torch.optim.AdamW (foreach=False, fused=False: the single-tensor loop, _single_tensor_adam) on one
float32 parameter on the CPU, transformers' get_scheduler on a real optimizer, and
torch.nn.utils.clip_grad_norm_. AdamWTest and LearningRateScheduleTest (module model) read it.

Needs torch and transformers (see tests/golden/README.md for the venv):
    /tmp/hfenv/bin/python tests/golden/make_optimizer_golden.py \
        [--out model/src/test/resources/optimizer/torch-adamw.safetensors]

Keys (F32 unless noted; N = 777, deliberately not a multiple of the 16- or 32-float vector loop,
so torch's scalar tail is exercised too):
    adamw.param0 [N]            the parameter before step 1: magnitudes 1e-4 .. 1e2 and exact zeros
    adamw.grad.{k} [N]          the gradient of step k (k = 1..5): magnitudes 1e-8 .. 10, exact
                                zeros, and a few 1e-20 whose squares are float32 subnormals
    adamw.{run}.param.{k} [N]   the parameter after step k
    adamw.{run}.exp_avg [N], adamw.{run}.exp_avg_sq [N]   the state after step 5
    adamw.{run}.sqrt_ulps.{k} (I8) [N]   torch's sqrt(exp_avg_sq) of step k minus the correctly
                                rounded sqrt (numpy's), in ulps (-1, 0 or 1)
        run "a": lr 3e-4, betas (0.9, 0.999), eps 1e-8, weight_decay 0.01
        run "b": lr 5e-5, betas (0.9, 0.999), eps 1e-6, weight_decay 0
    clip.{case}.grad.{0,1} [37, 5] and [23]    the gradients before clip_grad_norm_(max_norm=1.0)
    clip.{case}.clipped.{0,1}                  after it
    clip.{case}.total_norm []                  what it returned (the pre-clip norm, float32)
        case "clips": total norm about 3.7; case "keeps": about 0.4 (the coefficient clamps to 1)
    schedule.{name} (F64) [12]  optimizer.param_groups[0]['lr'] before each of 12 optimizer steps
                                (step the optimizer, then the scheduler), base lr 5e-5, warmup 3,
                                total 10; name: linear, cosine, constant, constant_with_warmup
__metadata__: torch, transformers, seed, the runs' hyperparameters, torch's CPU capability.
"""
import argparse
import json
import os

import numpy as np
import torch
import transformers
from safetensors.torch import save_file
from transformers import get_scheduler

SEED = 20240611
N = 777
STEPS = 5
RUNS = {
    "a": dict(lr=3e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01),
    "b": dict(lr=5e-5, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0),
}
SCHEDULES = ["linear", "cosine", "constant", "constant_with_warmup"]
SCHEDULE_BASE_LR, SCHEDULE_WARMUP, SCHEDULE_TOTAL, SCHEDULE_STEPS = 5e-5, 3, 10, 12


def spread(gen, n, lo_exp, hi_exp):
    """Normal values scaled by 10^U(lo_exp, hi_exp): several magnitudes in one tensor."""
    mag = torch.pow(10.0, torch.empty(n, dtype=torch.float64).uniform_(lo_exp, hi_exp, generator=gen))
    return (torch.randn(n, dtype=torch.float64, generator=gen) * mag).to(torch.float32)


def sqrt_ulps(v):
    """torch's float32 sqrt (the one inside the step, same kernel, same tensor) minus the correctly
    rounded one, in ulps. torch's CPU sqrt is not correctly rounded (here about one value in six is
    1 ulp off); the Java update uses the IEEE sqrt, and the test needs to know where they differ."""
    torch_bits = v.sqrt().view(torch.int32).to(torch.int64)
    ieee_bits = torch.from_numpy(np.sqrt(v.numpy())).view(torch.int32).to(torch.int64)
    d = torch_bits - ieee_bits
    assert int(d.abs().max()) <= 1, "torch's sqrt is more than 1 ulp from the correctly rounded one"
    return d.to(torch.int8)


def adamw_runs(gen, out):
    param0 = spread(gen, N, -4, 2)
    param0[::50] = 0.0
    out["adamw.param0"] = param0.clone()
    grads = []
    for k in range(1, STEPS + 1):
        g = spread(gen, N, -8, 1)
        g[k::41] = 0.0
        g[3 * k + 1::97] = 1e-20
        grads.append(g)
        out[f"adamw.grad.{k}"] = g.clone()
    for run, hp in RUNS.items():
        p = torch.nn.Parameter(param0.clone())
        opt = torch.optim.AdamW([p], foreach=False, fused=False, amsgrad=False, maximize=False, **hp)
        state = None
        for k, g in enumerate(grads, start=1):
            p.grad = g.clone()
            opt.step()
            out[f"adamw.{run}.param.{k}"] = p.detach().clone()
            state = opt.state[p]
            out[f"adamw.{run}.sqrt_ulps.{k}"] = sqrt_ulps(state["exp_avg_sq"])
        out[f"adamw.{run}.exp_avg"] = state["exp_avg"].clone()
        out[f"adamw.{run}.exp_avg_sq"] = state["exp_avg_sq"].clone()


def clip_cases(gen, out):
    for case, target in (("clips", 3.7), ("keeps", 0.4)):
        g = [torch.randn(37, 5, generator=gen), torch.randn(23, generator=gen) * 3.0]
        norm = torch.sqrt(sum((t.double() ** 2).sum() for t in g))
        g = [(t.double() * (target / norm)).to(torch.float32) for t in g]
        params = []
        for i, t in enumerate(g):
            out[f"clip.{case}.grad.{i}"] = t.clone()
            p = torch.nn.Parameter(torch.zeros_like(t))
            p.grad = t.clone()
            params.append(p)
        total = torch.nn.utils.clip_grad_norm_(params, max_norm=1.0)
        out[f"clip.{case}.total_norm"] = total.detach().clone()
        for i, p in enumerate(params):
            out[f"clip.{case}.clipped.{i}"] = p.grad.clone()


def schedules(out):
    for name in SCHEDULES:
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=SCHEDULE_BASE_LR)
        sched = get_scheduler(name, opt, num_warmup_steps=SCHEDULE_WARMUP, num_training_steps=SCHEDULE_TOTAL)
        lrs = []
        for _ in range(SCHEDULE_STEPS):
            lrs.append(float(opt.param_groups[0]["lr"]))
            p.grad = torch.ones(1)
            opt.step()
            sched.step()
        out[f"schedule.{name}"] = torch.tensor(lrs, dtype=torch.float64)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="model/src/test/resources/optimizer/torch-adamw.safetensors")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    out = {}
    adamw_runs(gen, out)
    clip_cases(gen, out)
    schedules(out)
    meta = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "seed": str(SEED),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "adamw_runs": json.dumps(RUNS),
        "clip_max_norm": "1.0",
        "schedule": json.dumps(dict(base_lr=SCHEDULE_BASE_LR, num_warmup_steps=SCHEDULE_WARMUP,
                                    num_training_steps=SCHEDULE_TOTAL, optimizer_steps=SCHEDULE_STEPS)),
    }
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, args.out, metadata=meta)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    main()
