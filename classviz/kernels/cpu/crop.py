"""Crop a window out of each image of a batch, and paste it back, on the CPU.

Each image has its own offset: a batch of classes renders together while every image takes its
own random crop of the larger canvas, as the method does for a single image."""
from numba import njit


def crop(image, offsets, out):
    """out[n] = image[n, :, oy:oy+h, ox:ox+w] with (oy, ox) = offsets[n].

    image: (N, C, H, W) float; offsets: (N, 2) int64 (row, column) with 0 <= oy <= H-h and
    0 <= ox <= W-w (the caller's contract); out: (N, C, h, w), same dtype."""
    _move(image, offsets, out, True)


def paste(window, offsets, image):
    """image[n, :, oy:oy+h, ox:ox+w] = window[n]: the inverse of `crop` on the window's pixels.
    Arguments as in `crop`, with `window` in the place of out."""
    _move(image, offsets, window, False)


def paste_add(window, before, offsets, image, lo, hi):
    """image[n, :, oy:oy+h, ox:ox+w] = clip(that + window[n] - before[n], lo, hi): a window's update
    added to the image (placements whose windows overlap sum their updates, one call per window).
    window, before: (N, C, h, w); offsets, image as in `crop`; lo, hi: float."""
    _paste_add(window, before, offsets, image, image.dtype.type(lo), image.dtype.type(hi))


@njit(cache=True)
def _paste_add(window, before, offsets, image, lo, hi):
    N, C, h, w = window.shape
    for n in range(N):
        oy, ox = offsets[n, 0], offsets[n, 1]
        for c in range(C):
            for i in range(h):
                for j in range(w):
                    v = image[n, c, oy + i, ox + j] + (window[n, c, i, j] - before[n, c, i, j])
                    image[n, c, oy + i, ox + j] = min(max(v, lo), hi)


@njit(cache=True)
def _move(image, offsets, window, into_window):
    # the window's pixels of each image: copied out into `window`, or pasted back from it
    N, C, h, w = window.shape
    for n in range(N):
        oy, ox = offsets[n, 0], offsets[n, 1]
        for c in range(C):
            for i in range(h):
                if into_window:
                    window[n, c, i, :] = image[n, c, oy + i, ox:ox + w]
                else:
                    image[n, c, oy + i, ox:ox + w] = window[n, c, i, :]
