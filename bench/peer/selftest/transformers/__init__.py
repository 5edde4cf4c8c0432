"""A stand-in for transformers (bench/peer/selftest/README.md): DistilBertForSequenceClassification in numpy.

from_pretrained reads config.json and model.safetensors (float32, HF's parameter names) and runs HF's
DistilBERT forward in float64 — an implementation independent of ours, so that the peer's plumbing (the
inputs it reads, the logits it writes, --check) is tested against real numbers. GELU only.
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
import gpu_common  # noqa: E402
import torch  # the stand-in  # noqa: E402

__version__ = "0.0-selftest"
_erf = np.vectorize(math.erf)


class _Config:
    def __init__(self, d, attn):
        self.__dict__.update(d)
        self._attn_implementation = attn


class _Output:
    def __init__(self, logits):
        self.logits = logits


def _layer_norm(x, w, b, eps=1e-12):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class DistilBertForSequenceClassification:
    def __init__(self, config, params, dtype):
        self.config, self.p, self.dtype = config, params, dtype

    @classmethod
    def from_pretrained(cls, path, dtype=None, attn_implementation="eager", output_loading_info=False, **kw):
        with open(os.path.join(path, "config.json"), encoding="utf-8") as f:
            config = _Config(json.load(f), attn_implementation)
        if config.activation != "gelu":
            raise ValueError("the stand-in knows only gelu")
        tensors, _ = gpu_common.read_safetensors(os.path.join(path, "model.safetensors"))
        params = {k: np.frombuffer(raw, dtype="<f4").astype(np.float64).reshape(shape)
                  for k, (dt, shape, raw) in tensors.items()}
        model = cls(config, params, dtype or torch.float32)
        return (model, {"missing_keys": [], "unexpected_keys": []}) if output_loading_info else model

    def to(self, *args, **kw):
        for a in args:
            if isinstance(a, torch._DType):
                self.dtype = a
        return self

    def eval(self):
        return self

    def __call__(self, input_ids, attention_mask):
        p, c = self.p, self.config
        ids, mask = input_ids.a, attention_mask.a
        B, L = ids.shape
        C, NH = c.dim, c.n_heads
        HS = C // NH
        lin = lambda x, name: x @ p[name + ".weight"].T + p[name + ".bias"]  # noqa: E731
        x = p["distilbert.embeddings.word_embeddings.weight"][ids] + p["distilbert.embeddings.position_embeddings.weight"][:L]
        x = _layer_norm(x, p["distilbert.embeddings.LayerNorm.weight"], p["distilbert.embeddings.LayerNorm.bias"])
        neg = np.where(mask[:, None, None, :] == 0, np.finfo(np.float64).min, 0.0)  # (B, 1, 1, L)
        for i in range(c.n_layers):
            pre = f"distilbert.transformer.layer.{i}."
            heads = lambda t: t.reshape(B, L, NH, HS).transpose(0, 2, 1, 3)  # noqa: E731 - (B, NH, L, HS)
            q, k, v = (heads(lin(x, pre + "attention." + n)) for n in ("q_lin", "k_lin", "v_lin"))
            s = q / math.sqrt(HS) @ k.transpose(0, 1, 3, 2) + neg  # (B, NH, L, L)
            s = np.exp(s - s.max(-1, keepdims=True))
            ctx = (s / s.sum(-1, keepdims=True)) @ v
            a = lin(ctx.transpose(0, 2, 1, 3).reshape(B, L, C), pre + "attention.out_lin")
            x = _layer_norm(a + x, p[pre + "sa_layer_norm.weight"], p[pre + "sa_layer_norm.bias"])
            h = lin(x, pre + "ffn.lin1")
            h = lin(0.5 * h * (1 + _erf(h / math.sqrt(2))), pre + "ffn.lin2")
            x = _layer_norm(h + x, p[pre + "output_layer_norm.weight"], p[pre + "output_layer_norm.bias"])
        pooled = np.maximum(lin(x[:, 0], "pre_classifier"), 0)
        return _Output(torch.Tensor(lin(pooled, "classifier").astype(np.float32)))
