"""The engine's public face: `load` a GoogLeNet, then `forward` and `gradient` on input images."""
import os

import numpy as np

from . import weights
from .errors import ArgumentError
from .graph import Network, Plan
from .kernels import BACKENDS, PRECISIONS, get_backend

DTYPES = (np.float32, np.float64)


def load(path, backend="auto", precision="fp32", max_memory=None):
    """Load the network in the weights file at `path` (ONNX, or a .caffemodel converted and cached)
    onto `backend`: 'cpu', 'cuda' (CuPy + cuDNN) or 'auto' (CUDA when it can run here, else the
    CPU). precision: how float32 convolutions compute: 'fp32' (true float32, the default), or on
    CUDA 'tf32' (tensor cores, inputs read with a 10-bit mantissa) or 'bf16' (bfloat16 operands and
    outputs, float accumulation); float64 inputs always compute in float64. max_memory: bytes
    that one plan's buffers may take (None: the memory available when the plan is built); a larger
    input is refused with the estimate before anything is allocated. Returns a `Net`.
    Raises ModelError, ArgumentError (also for a precision the backend cannot do)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ArgumentError(f"path must be a file name (str or os.PathLike), got {type(path).__name__}")
    if max_memory is not None and (isinstance(max_memory, bool) or not isinstance(max_memory, (int, np.integer))
                                   or max_memory <= 0):
        raise ArgumentError(f"max_memory must be a number of bytes above 0 or None, got {max_memory!r}")
    if not isinstance(backend, str):
        raise ArgumentError(f"backend must be a name ({', '.join(BACKENDS)}), got {type(backend).__name__}")
    be = get_backend(backend)
    _check_precision(precision, be)
    return Net(Network(weights.read(path)), be, precision, max_memory)


def _check_precision(precision, be):
    """Raise ArgumentError unless `precision` (str) is one of PRECISIONS that backend `be` runs."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise ArgumentError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision not in be.precisions:
        raise ArgumentError(f"precision {precision!r} needs the CUDA backend; the {be.name} backend computes "
                            "in float32 (or float64)")


class Net:
    """A loaded GoogLeNet with fixed weights.

    heads: classifier tensor names, main first, then auxiliary heads deepest first.
    roles: {'main': ..., 'aux2': ..., 'aux1': ...} for the heads present.
    backend: the backend module in use ('cpu' or 'cuda' as `backend.name`).
    precision: the arithmetic of float32 convolutions ('fp32', 'tf32', 'bf16'; see `load`).
    max_memory: bytes one plan may take, or None (see `load`).
    Plans are built on first use for each (head, input shape, dtype) and cached; each layer's
    weights are prepared (cast, packed, transformed, uploaded) once and shared by every plan."""

    def __init__(self, network, backend, precision="fp32", max_memory=None):
        self.network, self.backend, self.precision = network, backend, precision
        self.max_memory = max_memory
        self.model = network.model
        self.heads, self.roles = network.heads, dict(network.roles)
        self.channels = self.model.input_shape[1] or 3
        self._plans = {}
        self._prepared = {}  # each layer's weights, prepared once for every plan (graph.ops.Op.weights)

    def head_name(self, head=None):
        """The tensor name a head argument (None, a role or a tensor name) stands for (str)."""
        return self.network.resolve_head(head)

    def plan(self, head, shape, dtype=np.float32, taps=()):
        """The cached `graph.Plan` for (head, shape, dtype, taps: more tensor names an objective
        reads and seeds, see graph.Plan); built on first use."""
        t = self.network.resolve_head(head)
        taps = tuple(self.network.resolve_head(x) for x in taps)
        key = (t, tuple(shape), np.dtype(dtype), taps)
        if key not in self._plans:
            try:
                self._plans[key] = Plan(self.network, t, shape, np.dtype(dtype), self.backend, self.precision,
                                        self.max_memory, self._prepared, taps)
            except ArgumentError as e:
                raise ArgumentError(f"x of shape {tuple(shape)} does not fit head {t!r}: {e}") from None
        return self._plans[key]

    def forward(self, x, head=None):
        """Scores of `head` for images x.

        x: float32 or float64 array (N, 3, H, W) in the model's input space (NumPy, or CuPy on the
        CUDA backend); head: None (main), a role or a tensor name.
        Returns a new array of x's dtype: (N, K) for a classifier, the tensor's shape otherwise."""
        x = self._check_x(x)
        return self.plan(head, x.shape, x.dtype).forward(x).copy()

    def gradient(self, x, classes, head=None, out=None):
        """The objective and its gradient with respect to the input.

        obj[n] = head_output[n, classes[n]] (for a feature head of shape (N, C, H, W): the mean of
        channel classes[n] over H, W); grad = d(sum_n obj[n]) / dx.
        x: as in `forward`; classes: int or int sequence of length N, each in [0, K);
        out: optional array of x's shape and dtype on this backend to receive the gradient (saves an
        allocation); checked before any work.
        Returns (obj: (N,) array of x's dtype, grad: array of x's shape and dtype)."""
        x = self._check_x(x)
        if out is not None:
            self._check_out(out, x)
        plan = self.plan(head, x.shape, x.dtype)
        cls = self._check_classes(classes, x.shape[0], plan.shapes[plan.head])
        be = self.backend
        obj = be.empty((x.shape[0],), x.dtype)
        be.objective.gather(plan.forward(x), cls, obj)
        grad = plan.backward(lambda g: be.objective.seed(g, cls))
        if out is None:
            return obj, grad.copy()
        out[...] = grad
        return obj, out

    def _check_x(self, x):
        be = self.backend
        if not be.is_array(x):
            if not isinstance(x, np.ndarray):
                raise ArgumentError(f"x must be an array, got {type(x).__name__}")
            x = be.asarray(x)
        if x.ndim != 4:
            raise ArgumentError(f"x must have shape (N, {self.channels}, H, W), got shape {tuple(x.shape)}")
        if x.shape[1] != self.channels:
            raise ArgumentError(f"x must have {self.channels} channels on axis 1, got shape {tuple(x.shape)}")
        if x.shape[0] < 1:
            raise ArgumentError("x holds no images (batch size 0)")
        if x.dtype not in DTYPES:
            raise ArgumentError(f"x must be float32 or float64, got {x.dtype}")
        if not x.flags.c_contiguous:
            x = be.asarray(x)
        if not be.all_finite(x):
            raise ArgumentError("x contains NaN or Inf")
        return x

    def _check_out(self, out, x):
        if not self.backend.is_array(out):
            raise ArgumentError(f"out must be a {self.backend.name} backend array like x, got {type(out).__name__}")
        if tuple(out.shape) != tuple(x.shape) or out.dtype != x.dtype:
            raise ArgumentError(f"out must have x's shape {tuple(x.shape)} and dtype {x.dtype}, got shape "
                                f"{tuple(out.shape)} and dtype {out.dtype}")
        if not getattr(out.flags, "writeable", True):  # CuPy arrays are always writeable
            raise ArgumentError("out is read-only")

    def _check_classes(self, classes, n, head_shape):
        k = head_shape[1]
        c = np.asarray(classes.get() if hasattr(classes, "get") else classes)
        if c.ndim == 0:
            c = np.full(n, c)
        if c.ndim != 1 or c.shape[0] != n:
            raise ArgumentError(f"classes must be an int or {n} ints (one per image), got shape {c.shape}")
        if c.dtype.kind not in "iu":
            raise ArgumentError(f"classes must be integers, got {c.dtype}")
        bad = c[(c < 0) | (c >= k)]
        if bad.size:
            raise ArgumentError(f"class index {int(bad[0])} is out of range 0..{k - 1} (this head has {k} classes)")
        return self.backend.asarray(c.astype(np.int64))
