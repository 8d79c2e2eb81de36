"""Per-image crop and paste on the GPU (crop.cu); CPU twin kernels/cpu/crop.py."""
from .source import i32, kernel, launch


def crop(image, offsets, out):
    """out[n] = image[n, :, oy:oy+h, ox:ox+w], (oy, ox) = offsets[n]. image: (N, C, H, W);
    offsets: (N, 2) int64 CuPy array, in range (the caller's contract); out: (N, C, h, w)."""
    n, c, h, w = out.shape
    launch(kernel("crop", "crop_window", image.dtype), out.size,
           (image, offsets, out, i32(n), i32(c), i32(image.shape[2]), i32(image.shape[3]), i32(h), i32(w)))


def paste(window, offsets, image):
    """image[n, :, oy:oy+h, ox:ox+w] = window[n]. Arguments as in `crop`."""
    n, c, h, w = window.shape
    launch(kernel("crop", "paste_window", image.dtype), window.size,
           (window, offsets, image, i32(n), i32(c), i32(image.shape[2]), i32(image.shape[3]), i32(h), i32(w)))


def paste_add(window, before, offsets, image, lo, hi):
    """image[n, :, oy:oy+h, ox:ox+w] = clip(that + window[n] - before[n], lo, hi). window, before:
    (N, C, h, w) contiguous; offsets, image as in `crop`; lo, hi: float."""
    n, c, h, w = window.shape
    launch(kernel("crop", "paste_add_window", image.dtype), window.size,
           (window, before, offsets, image, i32(n), i32(c), i32(image.shape[2]), i32(image.shape[3]), i32(h), i32(w),
            image.dtype.type(lo), image.dtype.type(hi)))
