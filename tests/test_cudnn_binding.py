"""The ctypes binding to cuDNN (kernels/cuda/cudnn.py) against the real library, without a GPU:
every function the backend calls resolves, the descriptors read back as conv.py builds them (a
channel slice's batch stride, groups, strides, the data types and math of each precision), and a failing call raises
CudnnError with cuDNN's message. Skipped where libcudnn cannot be loaded (CI installs no cuDNN;
`pip install nvidia-cudnn-cu13` makes it run on any Linux x86-64 machine)."""
import ctypes
import importlib.util
import os

import pytest

import classviz

# cudnn.py needs only ctypes; importing it through its package would import CuPy
_path = os.path.join(os.path.dirname(classviz.__file__), "kernels", "cuda", "cudnn.py")
_spec = importlib.util.spec_from_file_location("classviz_cudnn_binding", _path)
cudnn = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cudnn)

try:
    cudnn.lib()
    REASON = None
except cudnn.CudnnError as e:
    REASON = str(e)
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"no cuDNN library: {REASON}")

CALLED = ("cudnnCreate", "cudnnSetStream", "cudnnCreateTensorDescriptor", "cudnnSetTensor4dDescriptorEx",
          "cudnnCreateFilterDescriptor", "cudnnSetFilter4dDescriptor", "cudnnCreateConvolutionDescriptor",
          "cudnnSetConvolution2dDescriptor", "cudnnSetConvolutionGroupCount", "cudnnSetConvolutionMathType",
          "cudnnFindConvolutionForwardAlgorithmEx", "cudnnConvolutionForward",
          "cudnnFindConvolutionBackwardDataAlgorithmEx", "cudnnConvolutionBackwardData", "cudnnGetErrorString",
          "cudnnDestroyTensorDescriptor", "cudnnDestroyFilterDescriptor", "cudnnDestroyConvolutionDescriptor")


def _ints(n):
    return [ctypes.c_int() for _ in range(n)]


def _get(name, desc, n):
    out = _ints(n)
    cudnn.call(name, *desc, *[ctypes.byref(v) for v in out])
    return [v.value for v in out]


def test_every_function_the_backend_calls_resolves():
    assert cudnn.lib().cudnnGetVersion() >= 90000
    for name in CALLED:
        getattr(cudnn.lib(), name)


@pytest.mark.parametrize("dtype, compute, math", [  # as conv.prepare builds them:
    (cudnn.FLOAT, cudnn.FLOAT, cudnn.FMA_MATH),  # float32 at precision fp32
    (cudnn.DOUBLE, cudnn.DOUBLE, cudnn.FMA_MATH),  # float64
    (cudnn.FLOAT, cudnn.FLOAT, cudnn.DEFAULT_MATH),  # tf32
    (cudnn.BFLOAT16, cudnn.FLOAT, cudnn.TENSOR_OP_MATH),  # bf16: bfloat16 tensors, float accumulation
])
def test_descriptors_read_back_as_built(dtype, compute, math):
    n, c, h, w, k, extra = 2, 16, 28, 27, 24, 5
    x = cudnn.Tensor(dtype, (n, c, h, w), ((c + extra) * h * w, h * w, w, 1))  # a channel slice of a concat
    assert _get("cudnnGetTensor4dDescriptor", [x.ptr], 9) == [dtype, n, c, h, w, (c + extra) * h * w, h * w, w, 1]
    f = cudnn.Filter(dtype, (k, c // 2, 5, 3))
    assert _get("cudnnGetFilter4dDescriptor", [f.ptr], 6) == [dtype, cudnn.NCHW, k, c // 2, 5, 3]
    conv = cudnn.Convolution(compute, (2, 1), (2, 1), (1, 1), 2, math)
    assert _get("cudnnGetConvolution2dDescriptor", [conv.ptr], 8) == [2, 1, 2, 1, 1, 1, cudnn.CROSS_CORRELATION,
                                                                      compute]
    assert _get("cudnnGetConvolutionGroupCount", [conv.ptr], 1) == [2]
    assert _get("cudnnGetConvolutionMathType", [conv.ptr], 1) == [math]
    # (28 + 2*2 - 5) // 2 + 1 = 14 rows, (27 + 2 - 3) + 1 = 27 columns, k channels
    assert _get("cudnnGetConvolution2dForwardOutputDim", [conv.ptr, x.ptr, f.ptr], 4) == [n, k, 14, 27]


def test_a_failing_call_raises_with_cudnns_message():
    x = cudnn.Tensor(cudnn.FLOAT, (1, 1, 1, 1), (1, 1, 1, 1))
    with pytest.raises(cudnn.CudnnError, match=r"cudnnSetTensor4dDescriptorEx failed: CUDNN_STATUS_BAD_PARAM"):
        cudnn.call("cudnnSetTensor4dDescriptorEx", x.ptr, cudnn.FLOAT, *[ctypes.c_int(0)] * 8)
