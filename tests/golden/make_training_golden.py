#!/usr/bin/env python3
"""Writes the golden file of a short fine-tuning run: optimizer steps as HF's Trainer takes them.

A small random DistilBertForSequenceClassification (dropout 0, so the run is deterministic) trained
for 2 optimizer steps of 2 micro-batches each, the loop of HF's Trainer written out: each
micro-batch's loss divided by gradient_accumulation_steps and back-propagated, then per optimizer
step torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM), optimizer.step(),
scheduler.step(), model.zero_grad(). The optimizer is the one Trainer.create_optimizer builds for
optim="adamw_torch": torch.optim.AdamW with two groups, weight decay for the names
Trainer.get_decay_parameter_names returns and 0 for the rest (biases, layer norms);
foreach/fused off, torch's CPU default (the single-tensor loop our AdamW mirrors). The schedule is
get_linear_schedule_with_warmup(opt, 1, 2): step 1 runs at lr 0 (its moments move, its parameters
must not), step 2 at the full lr.

The biases and layer-norm parameters, which HF initialises to 0 and 1, are set to random values
so that decaying them by mistake moves them. MAX_GRAD_NORM is below the gradient norm of step 1,
so that step clips (asserted); a clip coefficient that differs between the steps changes Adam's
m/sqrt(v), so a skipped clip shows in the parameters of step 2.

HF's own Trainer (transformers 5.18, accelerate 1.15, optim adamw_torch or the default
adamw_torch_fused) on these micro-batches ends at the same parameters (within an ulp) but logs
grad_norm and loss twice these: DistilBertForSequenceClassification.forward declares **kwargs, so
the Trainer takes it for a model that normalises by num_items_in_batch and skips the division by
gradient_accumulation_steps, and the model ignores num_items_in_batch (huggingface/transformers#47688).
Clipping hides that from the parameters here (both steps clip). This file divides, as the Trainer
means to and does for a model whose forward takes no **kwargs.

Needs torch and transformers (see tests/golden/README.md for the venv):
    /tmp/hfenv/bin/python tests/golden/make_training_golden.py \
        [--out tests/src/test/resources/golden-training]

Writes {out}/seq_classification/: model.safetensors and config.json (save_pretrained, the
parameters before step 1) and steps.safetensors:
    input.{j}.input_ids (I64) [B, L]   input.{j}.attention_mask (I64) [B, L]   input.{j}.labels (I64) [B]
                                       micro-batch j = 0..3; micro-batches 2k-2, 2k-1 make step k
    loss [4]                           each micro-batch's loss (before the division by 2)
    step{k}.grad_norm []               what clip_grad_norm_ returned (the norm before clipping)
    step{k}.lr (F64) []                optimizer.param_groups[0]['lr'] during optimizer.step()
    step{k}.{parameter name}           every parameter after optimizer step k (k = 1, 2)
__metadata__: torch, transformers, seed, the hyperparameters, torch's CPU capability.
"""
import argparse
import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import DistilBertConfig, DistilBertForSequenceClassification, Trainer, get_linear_schedule_with_warmup

SEED = 20240613
B, L, V, NUM_LABELS = 3, 10, 99, 3
MICRO_BATCHES, ACCUMULATION = 4, 2
HP = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
MAX_GRAD_NORM = 0.5
WARMUP, TOTAL = 1, 2
# Padding at the end and in the middle; position 0 (what the pooled head reads) is never padding.
MASKS = [
    [[1] * 10, [1] * 6 + [0] * 4, [1, 1, 0, 1, 1, 1, 0, 0, 1, 0]],
    [[1] * 4 + [0] * 6, [1] * 10, [1] * 9 + [0]],
    [[1, 0, 1, 0, 1, 0, 1, 0, 1, 0], [1] * 8 + [0] * 2, [1] * 10],
    [[1] * 10, [1] * 10, [1] * 3 + [0] * 7],
]


def build_model(gen):
    cfg = DistilBertConfig(vocab_size=V, max_position_embeddings=32, n_layers=2, n_heads=4, dim=32, hidden_dim=37,
                           num_labels=NUM_LABELS, dropout=0.0, attention_dropout=0.0, qa_dropout=0.0,
                           seq_classif_dropout=0.0, initializer_range=0.2, pad_token_id=0,
                           attn_implementation="eager")
    model = DistilBertForSequenceClassification(cfg).float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif "layernorm" in name.lower() or "layer_norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
    return model


def micro_batches(gen):
    out = []
    for mask in MASKS:
        m = torch.tensor(mask)
        ids = torch.randint(1, V, (B, L), generator=gen)
        ids[m == 0] = 0
        out.append(dict(input_ids=ids, attention_mask=m, labels=torch.randint(0, NUM_LABELS, (B,), generator=gen)))
    return out


def optimizer_for(model):
    """Trainer.create_optimizer's groups, torch.optim.AdamW as optim="adamw_torch" builds it."""
    decay = set(Trainer.get_decay_parameter_names(None, model))
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": HP["weight_decay"]},
        {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
    ]
    no_decay = sorted(n for n, _ in model.named_parameters() if n not in decay)
    assert all(n.endswith(".bias") or "layernorm" in n.lower() or "layer_norm" in n for n in no_decay), no_decay
    return torch.optim.AdamW(groups, lr=HP["lr"], betas=HP["betas"], eps=HP["eps"], foreach=False, fused=False)


def train(model, batches):
    """The Trainer's loop over the micro-batches: (losses, [(grad_norm, lr, {name: param})] per step)."""
    model.train()
    opt = optimizer_for(model)
    sched = get_linear_schedule_with_warmup(opt, WARMUP, TOTAL)
    losses, steps = [], []
    for j, batch in enumerate(batches):
        out = model(**batch)
        losses.append(out.loss.detach().clone())
        (out.loss / ACCUMULATION).backward()
        if (j + 1) % ACCUMULATION == 0:
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), MAX_GRAD_NORM)
            lr = float(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
            model.zero_grad()
            params = {n: p.detach().clone() for n, p in model.named_parameters()}
            steps.append((norm.detach().clone(), lr, params))
    return torch.stack(losses), steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/src/test/resources/golden-training")
    args = ap.parse_args()
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    model = build_model(gen)
    batches = micro_batches(gen)
    case_dir = os.path.join(args.out, "seq_classification")
    model.save_pretrained(case_dir)  # the parameters before step 1
    before = {n: p.detach().clone() for n, p in model.named_parameters()}

    losses, steps = train(model, batches)

    norms = [float(n) for n, _, _ in steps]
    assert any(n > MAX_GRAD_NORM for n in norms), f"no step clips: grad norms {norms}, max_grad_norm {MAX_GRAD_NORM}"
    assert [lr for _, lr, _ in steps] == [0.0, HP["lr"]], [lr for _, lr, _ in steps]
    assert all(torch.equal(before[n], steps[0][2][n]) for n in before), "step 1 (lr 0) moved a parameter"
    moved = max(float((steps[1][2][n] - before[n]).abs().max()) for n in before)
    assert moved > 0.5 * HP["lr"], f"step 2 moved no parameter by more than {moved}"

    # The same run in float64 from the same float32 start: how far float32 rounding alone moves
    # HF's own result (the Java test's bounds are about the same effect).
    model64 = DistilBertForSequenceClassification.from_pretrained(case_dir, attn_implementation="eager").double()
    _, steps64 = train(model64, batches)
    drift = max(float((steps64[1][2][n] - steps[1][2][n].double()).abs().max()) for n in before)

    tensors = {"loss": losses}
    for j, batch in enumerate(batches):
        for k, v in batch.items():
            tensors[f"input.{j}.{k}"] = v
    for k, (norm, lr, params) in enumerate(steps, start=1):
        tensors[f"step{k}.grad_norm"] = norm.reshape(())
        tensors[f"step{k}.lr"] = torch.tensor(lr, dtype=torch.float64)
        for n, p in params.items():
            tensors[f"step{k}.{n}"] = p
    meta = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "seed": str(SEED),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "optimizer": json.dumps(dict(HP, foreach=False, fused=False)),
        "max_grad_norm": str(MAX_GRAD_NORM),
        "schedule": json.dumps(dict(type="linear", num_warmup_steps=WARMUP, num_training_steps=TOTAL)),
        "gradient_accumulation_steps": str(ACCUMULATION),
    }
    path = os.path.join(case_dir, "steps.safetensors")
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata=meta)
    size = sum(os.path.getsize(os.path.join(case_dir, f)) for f in os.listdir(case_dir))
    print(f"wrote {case_dir} ({size} bytes); losses {[round(float(x), 5) for x in losses]}, grad norms {norms}, "
          f"largest move of step 2 {moved:.3g}, float64 rerun differs by up to {drift:.3g}")


if __name__ == "__main__":
    main()
