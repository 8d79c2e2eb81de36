"""classviz: GoogLeNet draws what it thinks an ImageNet class looks like.

    import classviz
    net = classviz.load("googlenet.onnx")          # backend="auto" | "cpu"
    scores = net.forward(x)                         # x: float32 (N, 3, H, W) in the model's input space
    obj, grad = net.gradient(x, classes, head="aux2")
"""
from .errors import ArgumentError, ClassvizError, ModelError
from .net import Net, load

__version__ = "0.1.0"

__all__ = ["ArgumentError", "ClassvizError", "ModelError", "Net", "load", "__version__"]
