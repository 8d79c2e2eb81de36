"""Channel concat on the GPU, for inputs the plan could not place as views of the output (CuPy
slice copies, no temporaries). CPU twin: kernels/cpu/concat.py."""


def forward(x, offset, y):
    """Copy x (N, c, H, W) into y[:, offset:offset+c]."""
    y[:, offset:offset + x.shape[1]] = x


def backward(gy, offset, gx, accumulate):
    """gx (N, c, H, W) = gy[:, offset:offset+c], or += that."""
    part = gy[:, offset:offset + gx.shape[1]]
    if accumulate:
        gx += part
    else:
        gx[...] = part
