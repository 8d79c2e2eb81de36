"""Weights: files in, a small graph of canonical nodes with named float32 arrays out.

`read(path)` takes an ONNX GoogLeNet (model zoo, BVLC with auxiliary classifiers, torchvision) or
a Caffe `.caffemodel` (converted once by `caffe.convert` and cached, see `cache.onnx_for`).
"""
from .cache import onnx_for
from .model import OPS, Model, Node
from .onnx_reader import read_onnx


def read(path):
    """Read a weights file (ONNX, or a .caffemodel) into a `Model`. Raises ModelError for anything
    unreadable."""
    return read_onnx(onnx_for(path))


__all__ = ["OPS", "Model", "Node", "read", "read_onnx"]
