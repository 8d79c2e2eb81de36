"""classviz: GoogLeNet draws what it thinks an ImageNet class looks like.

    import classviz
    net = classviz.load("googlenet.onnx")          # backend="auto" | "cpu" | "cuda"
    scores = net.forward(x)                         # x: float32 (N, 3, H, W) in the model's input space
    obj, grad = net.gradient(x, classes, head="aux2")
    images = classviz.render(net, ["tabby cat", 251], schedule="quick", seed=0)  # uint8 (H, W, 3) each
"""
from .ascent import Step, render
from .errors import ArgumentError, ClassvizError, ModelError, Notice, RenderInterrupted
from .net import Net, load

__version__ = "0.1.0"

__all__ = ["ArgumentError", "ClassvizError", "ModelError", "Net", "Notice", "RenderInterrupted", "Step", "load",
           "render", "__version__"]
