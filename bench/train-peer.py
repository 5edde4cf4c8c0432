#!/usr/bin/env python3
"""The peer of `distilbert train`: HuggingFace transformers fine-tuning the same model directory on the
same JSONL examples with the same settings, timed the same way (examples/s, tokens/s over the optimizer
steps; loading excluded). Not HF's Trainer class itself, whose data pipeline adds its own overhead:
its optimizer step, written out (torch AdamW, HF's no-decay groups, clip_grad_norm_, the linear
schedule), with dynamic padding per batch and the model in train mode (dropout on).

    python3 bench/train-peer.py --model DIR --train FILE.jsonl --batch-size 16 --max-steps 20 [--threads 2]
    python3 bench/train-peer.py ... --device cuda [--tf32 | --bf16 | --fp16]    (on a GPU: fp32, TF32 matmuls as
        HF's --tf32, torch.autocast(bfloat16) as HF's --bf16, or torch.autocast(float16) with torch's GradScaler as
        HF's --fp16: the loss scaled, the gradients unscaled before clipping, a step with an overflow skipped
        and the scheduler not stepped for it)

Prints one JSON object: train_runtime, train_samples_per_second, train_steps_per_second,
train_tokens_per_second, the losses, torch and transformers versions.
"""
import argparse
import json
import random
import time

import torch
import transformers
from transformers import AutoTokenizer, DistilBertForSequenceClassification, get_linear_schedule_with_warmup


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--train", required=True)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-steps", type=int, default=20)
    ap.add_argument("--learning-rate", type=float, default=5e-5)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--tf32", action="store_true", help="TF32 matrix products on the GPU (HF's --tf32)")
    ap.add_argument("--bf16", action="store_true", help="mixed precision: the forward under torch.autocast(bfloat16), HF's --bf16")
    ap.add_argument("--fp16", action="store_true",
                    help="mixed precision: the forward under torch.autocast(float16) and torch's GradScaler, HF's --fp16")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--warmup-steps", type=int, default=0,
                    help="steps before the clock starts (0: every step timed, as `distilbert train` times its run)")
    a = ap.parse_args()
    if sum([a.tf32, a.bf16, a.fp16]) > 1:
        ap.error("give one of --tf32, --bf16 and --fp16")
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rows = [json.loads(l) for l in open(a.train, encoding="utf-8") if l.strip()]
    names = sorted({r["label"] for r in rows})
    label2id = {n: i for i, n in enumerate(names)}
    tok = AutoTokenizer.from_pretrained(a.model)
    model = DistilBertForSequenceClassification.from_pretrained(
        a.model, num_labels=len(names), id2label=dict(enumerate(names)), label2id=label2id).float()
    dev = torch.device(a.device)
    if a.tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model.to(dev)
    model.train()
    no_decay = [n for n, _ in model.named_parameters() if "bias" in n or "layer_norm" in n.lower() or "layernorm" in n.lower()]
    groups = [{"params": [p for n, p in model.named_parameters() if n not in no_decay], "weight_decay": a.weight_decay},
              {"params": [p for n, p in model.named_parameters() if n in no_decay], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    sched = get_linear_schedule_with_warmup(opt, 0, a.max_steps)
    scaler = torch.amp.GradScaler(dev.type, enabled=a.fp16)   # disabled: scale() and step() pass through
    enc = tok([r["text"] for r in rows], truncation=True, max_length=a.max_length)
    examples = [(ids, label2id[r["label"]]) for ids, r in zip(enc["input_ids"], rows)]
    rnd = random.Random(a.seed)
    losses, steps, samples, tokens, t0 = [], 0, 0, 0, None
    warmup = a.warmup_steps
    while steps < a.max_steps + warmup:
        order = examples[:]
        rnd.shuffle(order)
        for i in range(0, len(order), a.batch_size):
            if steps == warmup and t0 is None:
                t0 = time.perf_counter()
                samples = tokens = 0
            batch = order[i:i + a.batch_size]
            L = max(len(ids) for ids, _ in batch)
            ids = torch.tensor([ids + [tok.pad_token_id] * (L - len(ids)) for ids, _ in batch], device=dev)
            mask = torch.tensor([[1] * len(ids_) + [0] * (L - len(ids_)) for ids_, _ in batch], device=dev)
            labels = torch.tensor([y for _, y in batch], device=dev)
            with torch.autocast(dev.type, dtype=torch.float16 if a.fp16 else torch.bfloat16, enabled=a.bf16 or a.fp16):
                out = model(input_ids=ids, attention_mask=mask, labels=labels)
            scaler.scale(out.loss).backward()
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            before = scaler.get_scale() if a.fp16 else None
            scaler.step(opt)
            scaler.update()
            if not a.fp16 or scaler.get_scale() >= before:   # HF's Trainer: no scheduler step for a skipped one
                sched.step()
            opt.zero_grad()
            losses.append(round(out.loss.item(), 6))  # .item() waits for the GPU: every step is timed whole
            steps += 1
            samples += len(batch)
            tokens += int(mask.sum())
            if steps >= a.max_steps + warmup:
                break
    seconds = time.perf_counter() - t0
    print(json.dumps({"train_runtime": round(seconds, 3), "train_samples_per_second": round(samples / seconds, 3),
                      "train_steps_per_second": round(a.max_steps / seconds, 4),
                      "train_tokens_per_second": round(tokens / seconds, 1), "threads": torch.get_num_threads(),
                      "device": str(dev) + (" (" + torch.cuda.get_device_name(dev) + ")" if dev.type == "cuda" else ""),
                      "tf32": a.tf32, "bf16": a.bf16, "fp16": a.fp16,
                      "steps_timed": a.max_steps, "losses": losses, "torch": torch.__version__,
                      "transformers": transformers.__version__}))


if __name__ == "__main__":
    main()
