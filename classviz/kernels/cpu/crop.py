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
