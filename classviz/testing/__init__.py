"""Test models, as numpy.testing is to NumPy: ONNX and Caffe GoogLeNets, and the other common
ImageNet CNNs (zoo.py) in both of PyTorch's exporter styles, with seeded random weights,
shaped like the real exports (classviz's own tests, its benchmarks and `classviz weights demo`
use them; so can anyone who wants a model that needs no download). Their pictures are noise.

    from classviz.testing import write_googlenet
    write_googlenet("g.onnx", "bvlc_aux", width=8, seed=0)   # 'zoo' | 'bvlc_aux' | 'torchvision'
"""
from .caffemodel import googlenet_caffemodel, write_googlenet_caffemodel
from .googlenet import FLAVOURS, googlenet, write_googlenet
from .zoo import ARCHITECTURES, INPUT_SIZE, STYLES, write_architecture

__all__ = ["ARCHITECTURES", "FLAVOURS", "INPUT_SIZE", "STYLES", "googlenet", "googlenet_caffemodel", "write_architecture",
           "write_googlenet", "write_googlenet_caffemodel"]
