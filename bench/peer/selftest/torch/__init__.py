"""A stand-in for torch, for testing the peer scripts where torch is not installed (bench/peer/selftest/README.md).

Just enough of torch's API for hf_inference.py's timing path, on numpy and the CPU: tensors are numpy
arrays, "cuda" is the host, events read the clock. Never shipped (make-dist.sh copies bench/peer/*.py only).
"""
import contextlib
import time

import numpy as np

__version__ = "0.0-selftest"


class _DType:
    def __init__(self, name, np_dtype):
        self.name, self.np = name, np_dtype

    def __repr__(self):
        return "torch." + self.name


float32 = _DType("float32", np.float32)
bfloat16 = _DType("bfloat16", np.float32)  # computed in float32: the stand-in checks plumbing, not rounding
float16 = _DType("float16", np.float32)
int64 = _DType("int64", np.int64)
uint8 = _DType("uint8", np.uint8)


class Tensor:
    def __init__(self, a):
        self.a = a

    @property
    def shape(self):
        return tuple(self.a.shape)

    def reshape(self, *shape):
        return Tensor(self.a.reshape(*shape))

    def to(self, *args, **kw):
        return self

    def float(self):
        return Tensor(self.a.astype(np.float32))

    def cpu(self):
        return self

    def tolist(self):
        return self.a.tolist()


    def copy_(self, src):
        self.a[...] = src.a
        return self

    def random_(self, lo, hi):
        self.a[...] = np.random.default_rng(0).integers(lo, hi, self.a.shape)
        return self


def empty(*shape, dtype=None, device=None):
    return Tensor(np.empty(shape, dtype=(dtype or float32).np))


def empty_like(t):
    return Tensor(np.empty_like(t.a))


def randn(*shape, dtype=None, device=None):
    return Tensor(np.random.default_rng(0).standard_normal(shape).astype((dtype or float32).np))


def matmul(x, y, out=None):
    r = x.a @ y.a
    if out is None:
        return Tensor(r)
    out.a[...] = r
    return out


def frombuffer(buf, dtype):
    return Tensor(np.frombuffer(bytes(buf), dtype=np.dtype(dtype.np).newbyteorder("<")).astype(dtype.np))


@contextlib.contextmanager
def inference_mode():
    yield


class version:
    cuda = "0.0-selftest"


class _Flag:
    allow_tf32 = False


class backends:
    class cuda:
        matmul = _Flag()

    class cudnn:
        allow_tf32 = False

        @staticmethod
        def version():
            return 0


class _Props:
    total_memory = 2**30
    multi_processor_count = 1


class cuda:
    @staticmethod
    def is_available():
        return True

    @staticmethod
    def current_device():
        return 0

    @staticmethod
    def get_device_properties(i):
        return _Props()

    @staticmethod
    def get_device_name(i):
        return "selftest stand-in (numpy)"

    @staticmethod
    def get_device_capability(i):
        return (0, 0)

    @staticmethod
    def synchronize():
        pass

    @staticmethod
    def reset_peak_memory_stats():
        pass

    @staticmethod
    def max_memory_allocated():
        return 0

    @staticmethod
    def empty_cache():
        pass

    class Event:
        def __init__(self, enable_timing=False):
            self.t = None

        def record(self):
            self.t = time.perf_counter()

        def synchronize(self):
            pass

        def elapsed_time(self, end):
            return (end.t - self.t) * 1e3


class _C:
    @staticmethod
    def _cuda_getDriverVersion():
        return 13000
