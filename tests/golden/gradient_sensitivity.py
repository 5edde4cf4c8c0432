#!/usr/bin/env python3
"""How far HuggingFace's own bf16 gradients are from its float32 gradients, on models drawn as the GPU
training tests draw theirs (distilbert.model.TestModels#checkpoint, in the config of
CudaTrainingParityTest: vocab 60, 2 layers, 4 heads, dim 32, FFN 48): the yardstick of that test's bf16
gradient bound.

    python3 tests/golden/gradient_sensitivity.py        # torch and transformers, CPU is enough
    python3 tests/golden/gradient_sensitivity.py --dtype float16

With --dtype float16 the same in float16, as HF's --fp16 computes it: the loss multiplied by a loss scale
(1024: none of these gradients overflows float16 with it) before the backward and the gradients divided by it
after, as torch's GradScaler does; the yardstick of the test's fp16 bound.

For each head (and its activation and positions as the test has them) and 4 seeds, the loss's gradient
in float32 and in bf16, two ways: torch.autocast(bfloat16) (HF's --bf16: float32 weights, bf16 matrix
products) and the model cast to bfloat16 (model.to(torch.bfloat16): every tensor bf16, as our bf16
forward stores activations). Prints the whole gradient's relative L2 distance ||g_bf16 - g_fp32|| /
||g_fp32|| (the test's bf16 metric), and the worst over the parameter tensors of
||g_bf16 - g_fp32|| / max(||g_fp32 of the tensor||, 1e-3 ||g_fp32 of the model||) (its fp32 and tf32
metric, which bf16 cannot meet even in HF: tensors whose gradient is zero in exact arithmetic, such as
k_lin's bias or a bias under a softmax, hold rounding noise of bf16's size).
"""
import torch
from transformers import (DistilBertConfig, DistilBertForMaskedLM, DistilBertForMultipleChoice,
                          DistilBertForQuestionAnswering, DistilBertForSequenceClassification,
                          DistilBertForTokenClassification)

IDS = [[2, 7, 9, 11, 5, 3, 0, 0], [2, 13, 17, 3, 21, 22, 23, 3], [2, 0, 0, 0, 0, 0, 0, 0]]
MASK = [[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1], [1, 0, 0, 0, 0, 0, 0, 0]]


def draw(model, g):
    with torch.no_grad():
        for name, p in model.named_parameters():
            def uniform(a):
                return (torch.rand(p.shape, generator=g) * 2 - 1) * a
            if "position_embeddings" in name and model.config.sinusoidal_pos_embds:
                continue
            if "LayerNorm" in name or "layer_norm" in name:
                p.copy_(torch.rand(p.shape, generator=g) * 0.8 + 0.6 if name.endswith("weight") else uniform(0.2))
            elif "embeddings." in name:
                p.copy_(uniform(1.0))
            elif name.endswith("bias"):
                p.copy_(uniform(0.2))
            else:
                p.copy_(uniform(0.35))


def cases():
    ids, mask = torch.tensor(IDS), torch.tensor(MASK)
    yield "sequence classification", DistilBertForSequenceClassification, dict(num_labels=3), "gelu", False, \
        dict(input_ids=ids, attention_mask=mask, labels=torch.tensor([2, 0, 1]))
    yield "multi-label", DistilBertForSequenceClassification, dict(num_labels=2, problem_type="multi_label_classification"), \
        "relu", True, dict(input_ids=ids, attention_mask=mask, labels=torch.tensor([[1., 0], [1, 1], [0, 0]]))
    yield "regression", DistilBertForSequenceClassification, dict(num_labels=1), "silu", False, \
        dict(input_ids=ids, attention_mask=mask, labels=torch.tensor([0.5, -1.0, 2.0]))
    yield "token classification", DistilBertForTokenClassification, dict(num_labels=4), "gelu_new", False, \
        dict(input_ids=ids, attention_mask=mask, labels=torch.tensor([[-100, 1, 3, 0, 2, -100, -100, -100],
                                                                      [-100, 2, 1, 0, 0, 3, 1, -100], [-100] * 8]))
    yield "question answering", DistilBertForQuestionAnswering, dict(), "gelu", False, \
        dict(input_ids=ids, attention_mask=mask, start_positions=torch.tensor([1, 2, 7]), end_positions=torch.tensor([4, 3, 7]))
    yield "masked LM", DistilBertForMaskedLM, dict(), "gelu", False, \
        dict(input_ids=ids, attention_mask=mask, labels=torch.tensor([[-100, 7, -100, 30, -100, -100, -100, -100],
                                                                      [-100, -100, 4, -100, 50, -100, -100, 8], [-100] * 8]))
    cids, cmask = torch.tensor([[[2, 7, 9, 3], [2, 8, 3, 0]], [[2, 5, 3, 0], [2, 6, 6, 3]]]), \
        torch.tensor([[[1, 1, 1, 1], [1, 1, 1, 0]], [[1, 1, 1, 0], [1, 1, 1, 1]]])
    yield "multiple choice", DistilBertForMultipleChoice, dict(), "gelu", False, \
        dict(input_ids=cids, attention_mask=cmask, labels=torch.tensor([1, 0]))


def grads(model, inputs, scale=1.0):
    model.zero_grad()
    (model(**inputs).loss * scale).backward()
    return {n: p.grad.float().clone() / scale for n, p in model.named_parameters() if p.grad is not None}


def distance(g32, g16):
    """(the whole gradient's relative L2 distance, the worst tensor's (metric above), that tensor's name)"""
    total = torch.sqrt(sum((g * g).sum() for g in g32.values()))
    diff = torch.sqrt(sum(((g16[n] - g) ** 2).sum() for n, g in g32.items()))
    w, at = 0.0, None
    for n, g in g32.items():
        e = ((g16[n] - g).norm() / max(g.norm(), 1e-3 * total)).item()
        if e > w:
            w, at = e, n
    return (diff / total).item(), w, at


def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", choices=["bfloat16", "float16"], default="bfloat16")
    dtype = getattr(torch, ap.parse_args().dtype)
    scale = 1024.0 if dtype == torch.float16 else 1.0
    short = "bf16" if dtype == torch.bfloat16 else "fp16"
    for name, cls, extra, act, sinusoidal, inputs in cases():
        found = {"autocast": [], short + " model": []}
        for seed in range(4):
            torch.manual_seed(seed)
            cfg = DistilBertConfig(vocab_size=60, max_position_embeddings=24, sinusoidal_pos_embds=sinusoidal, n_layers=2,
                                   n_heads=4, dim=32, hidden_dim=48, activation=act, dropout=0.0, attention_dropout=0.0,
                                   seq_classif_dropout=0.0, qa_dropout=0.0, attn_implementation="eager", **extra)
            model = cls(cfg).train()
            draw(model, torch.Generator().manual_seed(seed))
            g32 = grads(model, inputs)
            with torch.autocast("cpu", dtype=dtype):
                ga = grads(model, inputs, scale)
            found["autocast"].append(distance(g32, ga))
            gb = grads(model.to(dtype), inputs, scale)
            found[short + " model"].append(distance(g32, gb))
        for how, ds in found.items():
            print(f"{name:24s} {how:10s} whole gradient: " + ", ".join(f"{d:.3f}" for d, _, _ in ds)
                  + "; worst tensor: " + ", ".join(f"{w:.3f} ({n.split('.', 1)[-1]})" for _, w, n in ds))


if __name__ == "__main__":
    main()
