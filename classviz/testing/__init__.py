"""Test models, as numpy.testing is to NumPy: ONNX and Caffe GoogLeNets with seeded random weights,
shaped like the real exports (classviz's own tests, its benchmarks and `classviz weights demo`
use them; so can anyone who wants a model that needs no download). Their pictures are noise.

    from classviz.testing import write_googlenet
    write_googlenet("g.onnx", "bvlc_aux", width=8, seed=0)   # 'zoo' | 'bvlc_aux' | 'torchvision'
"""
from .caffemodel import googlenet_caffemodel, write_googlenet_caffemodel
from .googlenet import FLAVOURS, googlenet, write_googlenet

__all__ = ["FLAVOURS", "googlenet", "googlenet_caffemodel", "write_googlenet", "write_googlenet_caffemodel"]
