"""Channel concat on the GPU: the CPU module's slice copies, which CuPy runs as kernels without
temporaries (graph-safe); re-exported so the twins cannot drift. See kernels/cpu/concat.py."""
from ..cpu.concat import backward, forward

__all__ = ["forward", "backward"]
