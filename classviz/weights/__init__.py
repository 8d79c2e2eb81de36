"""Weights: files in, a small graph of canonical nodes with named float32 arrays out.

`read(path)` takes an ONNX GoogLeNet (model zoo, BVLC with auxiliary classifiers, torchvision).
"""
from .model import OPS, Model, Node
from .onnx_reader import read_onnx


def read(path):
    """Read a weights file (ONNX) into a `Model`. Raises ModelError for anything unreadable."""
    return read_onnx(path)


__all__ = ["OPS", "Model", "Node", "read", "read_onnx"]
