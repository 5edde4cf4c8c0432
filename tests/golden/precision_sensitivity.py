#!/usr/bin/env python3
"""How far HuggingFace's own bf16 and fp16 forwards are from its float32 forward, on models drawn
as the GPU model tests draw theirs (distilbert.model.TestModels#checkpoint: matrices uniform in
±0.35, embeddings ±1, biases ±0.2, LayerNorm weights 0.6 to 1.4), in the shapes of
CudaModelParityTest: the yardstick of distilbert.model.GpuBackends#modelBound for bf16 and fp16.

    python3 tests/golden/precision_sensitivity.py        # torch and transformers, CPU is enough

Prints, per shape and activation, the relative L2 distance of last_hidden_state (the real tokens of
the ragged test mask) for 4 seeds. Measured 2026-12-07 (torch 2.13 CPU, transformers 5.18):
bf16 0.008 to 0.038, fp16 0.001 to 0.005.
"""
import torch
from transformers import DistilBertConfig, DistilBertModel

L = 16


def ragged_mask():
    # TestModels.raggedMask, with one token in the last row (HF has no meaning for an empty row)
    mask = torch.zeros(4, L, dtype=torch.long)
    for l in range(L):
        mask[0, l] = 1
        mask[1, l] = 1 if l < 9 else 0
        mask[2, l] = 1 if (l % 3 == 0 or l == 7 or l > 12) and l != 0 else 0
    mask[3, 0] = 1
    return mask


def draw(model, g):
    with torch.no_grad():
        for name, p in model.named_parameters():
            def uniform(a):
                return (torch.rand(p.shape, generator=g) * 2 - 1) * a
            if "LayerNorm" in name or "layer_norm" in name:
                p.copy_(torch.rand(p.shape, generator=g) * 0.8 + 0.6 if name.endswith("weight") else uniform(0.2))
            elif name.startswith("embeddings."):
                p.copy_(uniform(1.0))
            elif name.endswith("bias"):
                p.copy_(uniform(0.2))
            else:
                p.copy_(uniform(0.35))


def relative_l2(a, b):
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


def main():
    mask = ragged_mask()
    real = mask.bool()
    for dim, heads, ffn in [(32, 4, 64), (128, 2, 256), (96, 2, 200)]:
        for act in ["gelu", "relu"]:
            found = {"bf16": [], "fp16": []}
            for seed in range(4):
                g = torch.Generator().manual_seed(seed)
                cfg = DistilBertConfig(vocab_size=100, max_position_embeddings=64, n_layers=2, n_heads=heads, dim=dim,
                                       hidden_dim=ffn, activation=act, attn_implementation="eager")
                model = DistilBertModel(cfg).eval()
                draw(model, g)
                ids = torch.randint(0, 100, (4, L), generator=g)
                with torch.no_grad():
                    ref = model(input_ids=ids, attention_mask=mask).last_hidden_state
                    for label, dtype in [("bf16", torch.bfloat16), ("fp16", torch.float16)]:
                        low = DistilBertModel(cfg).eval()
                        low.load_state_dict(model.state_dict())
                        out = low.to(dtype)(input_ids=ids, attention_mask=mask).last_hidden_state
                        found[label].append(relative_l2(out[real], ref[real]))
            print(f"dim {dim:3d} heads {heads} {act:4s}  "
                  + "  ".join(f"{k} " + " ".join(f"{x:.4f}" for x in v) for k, v in found.items()))


if __name__ == "__main__":
    main()
