"""classviz: GoogLeNet draws what it thinks an ImageNet class looks like.

    import classviz
    net = classviz.load("googlenet.onnx")          # backend="auto" | "cpu" | "cuda"
    scores = net.forward(x)                         # x: float32 (N, 3, H, W) in the model's input space
    obj, grad = net.gradient(x, classes, head="aux2")
    images = classviz.render(net, ["tabby cat", 251], schedule="quick", seed=0)  # uint8 (H, W, 3) each
    images = classviz.render(net, ["tabby cat + 0.5 * tiger"], size=(800, 600))   # objectives, canvases (README)
    images = classviz.render(net, "tabby cat", "lucid", facets=4)  # lucid's recipe; 4 facets, pushed apart

    from classviz import gallery
    gallery.run("model.onnx", "out/", classes="0-99", schedule="quick", seed=0)  # resumable; ray="local"
"""
from .errors import ArgumentError, ClassvizError, ModelError, Notice, RenderFailed, RenderInterrupted

__version__ = "0.2.0"

# The engine (NumPy, ONNX, Numba) is imported on first use, so that `classviz --help`, a bad
# argument or a Ctrl-C during start-up answers at once and without a traceback.
_LAZY = {"load": "net", "Net": "net", "render": "ascent", "Step": "renderer"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'classviz' has no attribute {name!r}")


__all__ = ["ArgumentError", "ClassvizError", "ModelError", "Net", "Notice", "RenderFailed", "RenderInterrupted",
           "Step", "load", "render", "__version__"]
