"""The backend contract, in one place: every name a backend module (classviz.kernels.cpu,
classviz.kernels.cuda) provides, with its parameters. classviz.graph and classviz.ascent reach a
backend only through these names (`be.conv.forward(x, cw, y, relu, work)`); tests/test_contract.py
reads both backends' sources and holds each to this table, so the twins cannot drift.

To add an op: give it an entry in OPS, write kernels/cpu/OP.py and kernels/cuda/OP.py (with OP.cu
beside it) with exactly these functions, forward and backward-to-input side by side, and the class
in graph/ops.py that calls them. Shapes, dtypes and what each argument means are in the CPU
module's docstrings (the reference); the CUDA twin takes the same on CuPy arrays.
"""

# module-level names of a backend: the array functions and the render's stream and capture
BACKEND = {
    "empty": "shape, dtype",
    "zeros": "shape, dtype",
    "asarray": "a, dtype=None",
    "to_numpy": "a",
    "is_array": "a",
    "all_finite": "a",
    "available_memory": "",
    "upload": "dst, src",
    "stream": "",
    "capture": "fn, keep=()",
}
ATTRIBUTES = ("name", "xp", "precisions")  # str, the array module, the precisions it computes in

# op module -> {function: parameters}
OPS = {
    "adam": {"step": "param, grad, m, v, rate, lo, hi, norm"},
    "activation": {"forward": "x, kind, alpha, beta, y",
                   "backward": "x, y, gy, kind, alpha, beta, gx, accumulate"},
    "add": {"forward": "a, b, y, relu", "backward": "gy, gx, accumulate, relu_out=None, gx2=None, accumulate2=False"},
    "affine": {"forward": "x, scale, shift, y", "backward": "gy, scale, gx, accumulate"},
    "avgpool": {"forward": "x, win, include_pad, y", "backward": "gy, win, include_pad, gx, accumulate",
                "global_forward": "x, y", "global_backward": "gy, gx, accumulate"},
    "blur": {"radius": "sigma", "taps": "sigma, dtype=np.float32", "work_size": "shape, r",
             "forward": "x, weights, work"},
    "concat": {"forward": "x, offset, y", "backward": "gy, offset, gx, accumulate"},
    "conv": {"prepare": "w, b, win, group, asarray, precision='fp32'", "work_size": "cw, n",
             "forward": "x, cw, y, relu, work, residual=None", "masks_input": "cw, accumulate=False",
             "backward": "gy, cw, gx, accumulate, work, relu_out=None, relu=True, x=None, x_relu=False"},
    "crop": {"crop": "image, offsets, out", "paste": "window, offsets, image",
             "paste_add": "window, before, offsets, image, lo, hi"},
    "diversity": {"seed": "t, weight, grams, adjoint, dots, g"},
    "fourier": {"prepare": "shape, dtype, scale, colour, asarray", "to_pixels": "spectrum, fp, pixels",
                "backward": "g, pixels, fp, gs"},
    "gemm": {"forward": "x, w, b, y", "backward": "gy, w, gx, accumulate"},
    "lrn": {"forward": "x, size, alpha, beta, bias, y, scale",
            "backward": "gy, x, y, scale, size, alpha, beta, gx, accumulate"},
    "maxpool": {"work_size": "win, channels", "forward": "x, win, y, argmax, work",
                "backward": "gy, win, gx, argmax, accumulate, y=None, cap=inf"},
    "mul": {"forward": "a, b, y", "backward": "gy, a, b, ga, gb, acc_a, acc_b"},
    "objective": {"gather": "y, classes, obj", "seed": "g, classes", "weighted": "t, s, l2w, obj, accumulate",
                  "weighted_seed": "t, s, l2w, g, accumulate"},
    "pixels": {"to_model": "pixels, order, scale, shift, out", "to_pixel_grad": "grad, order, scale, out",
               "ascent": "pixels, grad, order, scale, step, lo, hi, norm", "mask": "pixels, keep, background",
               "weigh": "grad, weight",
               "to_uint8": "pixels"},
    "relu": {"forward": "x, y", "backward": "y, gy, gx, accumulate"},
    "resize": {"forward": "x, out"},
    "warp": {"forward": "x, params, work, y", "backward": "gy, params, work, gx"},
}
