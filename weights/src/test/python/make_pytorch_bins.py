#!/usr/bin/env python3
"""Writes the pytorch_model.bin test files of the weights module, with the Python standard library only.

torch.save(state_dict, f) (PyTorch >= 1.6) writes a zip:
  <top>/data.pkl      the state dict, pickled (protocol 2) with persistent ids for storages
  <top>/byteorder     "little"
  <top>/data/<key>    one raw little-endian file per storage
  <top>/version       "3\n"
where <top> is the file's base name without extension ("pytorch_model") or "archive" for file objects.
The pickle names torch globals: collections.OrderedDict, torch._utils._rebuild_tensor_v2 and
torch.FloatStorage etc. We cannot import torch here, so stand-ins with those module and qualified
names are registered in sys.modules; pickle then writes exactly the GLOBAL opcodes torch's pickle
writes, and persistent_id() returns the same ('storage', StorageType, key, 'cpu', numel) tuple.

Run from the repository root:  python3 weights/src/test/python/make_pytorch_bins.py
It (re)writes weights/src/test/resources/distilbert/weights/bin/*. The output is deterministic.
"""
import io
import json
import math
import os
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "distilbert", "weights", "bin")

# ---- stand-ins for the torch globals a state dict pickle names ------------------------------------
torch = types.ModuleType("torch")
torch_utils = types.ModuleType("torch._utils")
torch.__path__ = []  # a package, so "torch._utils" imports
sys.modules["torch"] = torch
sys.modules["torch._utils"] = torch_utils
torch._utils = torch_utils


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    raise RuntimeError("stand-in: never called")


def _rebuild_parameter(data, requires_grad, backward_hooks):
    raise RuntimeError("stand-in: never called")


for f in (_rebuild_tensor_v2, _rebuild_parameter):
    f.__module__ = "torch._utils"
    setattr(torch_utils, f.__name__, f)

STORAGE_TYPES = {}
for name, fmt in [("FloatStorage", "f"), ("HalfStorage", "e"), ("BFloat16Storage", "H"), ("DoubleStorage", "d"),
                  ("LongStorage", "q"), ("IntStorage", "i"), ("BoolStorage", "?")]:
    cls = type(name, (), {"__module__": "torch"})
    setattr(torch, name, cls)
    STORAGE_TYPES[name] = (cls, fmt)


class Storage:
    """A storage: raw little-endian bytes under a key, as torch keeps them in <top>/data/<key>."""

    def __init__(self, key, type_name, values):
        self.key = key
        self.cls, fmt = STORAGE_TYPES[type_name]
        self.numel = len(values)
        self.data = struct.pack("<%d%s" % (len(values), fmt), *values)


class Tensor:
    """Pickles as torch.Tensor does: (_rebuild_tensor_v2, (storage, offset, size, stride, requires_grad, hooks))."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, OrderedDict())

    def __reduce__(self):
        return (_rebuild_tensor_v2, self.args)


class Parameter:
    """Pickles as torch.nn.Parameter does: (_rebuild_parameter, (tensor, requires_grad, hooks))."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce__(self):
        return (_rebuild_parameter, (self.tensor, True, OrderedDict()))


def contiguous(storage, size, offset=0):
    stride, s = [], 1
    for d in reversed(size):
        stride.insert(0, s)
        s *= d
    return Tensor(storage, offset, size, stride)


class StateDictPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, Storage):
            return ("storage", obj.cls, obj.key, "cpu", obj.numel)
        return None


def write_bin(path, top, state_dict, storages):
    buf = io.BytesIO()
    StateDictPickler(buf, protocol=2).dump(state_dict)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        def record(name, data):
            info = zipfile.ZipInfo(top + "/" + name, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, data)
        record("data.pkl", buf.getvalue())
        record("byteorder", b"little")
        for s in storages:
            record("data/" + s.key, s.data)
        record("version", b"3\n")


# ---- the tiny DistilBertForMaskedLM of the tests ----------------------------------------------------
TINY = {
    "activation": "gelu", "architectures": ["DistilBertForMaskedLM"], "attention_dropout": 0.1, "dim": 8,
    "dropout": 0.1, "hidden_dim": 16, "initializer_range": 0.02, "max_position_embeddings": 8,
    "model_type": "distilbert", "n_heads": 2, "n_layers": 2, "pad_token_id": 0, "qa_dropout": 0.1,
    "seq_classif_dropout": 0.2, "sinusoidal_pos_embds": False, "vocab_size": 20,
}


def tiny_layout(c):
    V, P, C, F = c["vocab_size"], c["max_position_embeddings"], c["dim"], c["hidden_dim"]
    p = "distilbert."
    out = [(p + "embeddings.word_embeddings.weight", [V, C]), (p + "embeddings.position_embeddings.weight", [P, C]),
           (p + "embeddings.LayerNorm.weight", [C]), (p + "embeddings.LayerNorm.bias", [C])]
    for i in range(c["n_layers"]):
        l = p + "transformer.layer.%d." % i
        for lin in ("q_lin", "k_lin", "v_lin", "out_lin"):
            out += [(l + "attention.%s.weight" % lin, [C, C]), (l + "attention.%s.bias" % lin, [C])]
        out += [(l + "sa_layer_norm.weight", [C]), (l + "sa_layer_norm.bias", [C]),
                (l + "ffn.lin1.weight", [F, C]), (l + "ffn.lin1.bias", [F]),
                (l + "ffn.lin2.weight", [C, F]), (l + "ffn.lin2.bias", [C]),
                (l + "output_layer_norm.weight", [C]), (l + "output_layer_norm.bias", [C])]
    out += [("vocab_transform.weight", [C, C]), ("vocab_transform.bias", [C]),
            ("vocab_layer_norm.weight", [C]), ("vocab_layer_norm.bias", [C]),
            ("vocab_projector.weight", [V, C]), ("vocab_projector.bias", [V])]
    return out


def value(k, i):
    """Element i of the k-th tensor; the Java test computes the same in double and rounds to float."""
    return ((k * 131 + i * 7) % 101) / 100.0 - 0.5


def tiny_mlm():
    sd = OrderedDict()
    storages = []
    word = None
    for k, (name, shape) in enumerate(tiny_layout(TINY)):
        if name == "vocab_projector.weight":
            sd[name] = contiguous(word, shape)  # tied: a second view of the word embeddings' storage
            continue
        n = math.prod(shape)
        s = Storage(str(len(storages)), "FloatStorage", [value(k, i) for i in range(n)])
        storages.append(s)
        if name.endswith("word_embeddings.weight"):
            word = s
        sd[name] = contiguous(s, shape)
    # state_dict() carries a _metadata attribute (module versions); pickle writes it with BUILD.
    sd._metadata = OrderedDict([("", {"version": 1}), ("distilbert", {"version": 1}),
                                ("distilbert.embeddings", {"version": 1, "big": 2 ** 40, "ratio": 0.5})])
    d = os.path.join(OUT, "tiny-distilbert-mlm")
    write_bin(os.path.join(d, "pytorch_model.bin"), "pytorch_model", sd, storages)
    with open(os.path.join(d, "config.json"), "w") as f:
        f.write(json.dumps(TINY, indent=2, sort_keys=True) + "\n")


# ---- every dtype, views, a scalar, a Parameter ----------------------------------------------------
def dtypes():
    nan, inf = float("nan"), float("inf")
    f16 = Storage("0", "HalfStorage", [1.0, -2.0, 0.5, 65504.0, 2.0 ** -24, inf, -0.0, nan])
    bf16 = Storage("1", "BFloat16Storage", [0x3F80, 0xC000, 0x7F80, 0x0001, 0x7FC0, 0x3E20])
    f64 = Storage("2", "DoubleStorage", [0.1, -1e300, 3.0])
    i64 = Storage("3", "LongStorage", [0, -1, 2 ** 40, 7])
    i32 = Storage("4", "IntStorage", [1, -2, 3])
    b = Storage("5", "BoolStorage", [True, False, True])
    six = Storage("6", "FloatStorage", [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    one = Storage("7", "FloatStorage", [42.0])
    sd = OrderedDict()
    sd["f16"] = contiguous(f16, [2, 4])
    sd["bf16"] = contiguous(bf16, [6])
    sd["f64"] = contiguous(f64, [3])
    sd["i64"] = contiguous(i64, [2, 2])
    sd["i32"] = contiguous(i32, [3])
    sd["bool"] = contiguous(b, [3])
    sd["matrix"] = contiguous(six, [2, 3])
    sd["transposed"] = Tensor(six, 0, [3, 2], [1, 3])  # matrix.t(): not contiguous
    sd["row1"] = Tensor(six, 3, [3], [1])  # matrix[1]: a view with a storage offset
    sd["scalar"] = Tensor(one, 0, [], [])
    sd["param"] = Parameter(contiguous(one, [1]))
    write_bin(os.path.join(OUT, "dtypes.bin"), "archive", sd, [f16, bf16, f64, i64, i32, b, six, one])


# ---- a pickle that would run a command: it must be refused ----------------------------------------
def malicious():
    # What pickle.dumps of an object whose __reduce__ returns (os.system, ("echo pwned",)) writes:
    # GLOBAL 'os system', the argument tuple, REDUCE. Written by hand so the module reads "os".
    pkl = b"\x80\x02cos\nsystem\nq\x00X\x0a\x00\x00\x00echo pwnedq\x01\x85q\x02Rq\x03."
    with zipfile.ZipFile(os.path.join(OUT, "malicious.bin"), "w", zipfile.ZIP_STORED) as z:
        for name, data in [("archive/data.pkl", pkl), ("archive/byteorder", b"little"), ("archive/version", b"3\n")]:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    tiny_mlm()
    dtypes()
    malicious()
    print("wrote", os.path.normpath(OUT))
