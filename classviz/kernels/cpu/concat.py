"""Channel concat on the CPU, for the inputs the plan could not place as views of the output:
kernels/shared.py's slice copies (the CUDA twin runs the same code on CuPy arrays)."""
from ..shared import concat_backward as backward
from ..shared import concat_forward as forward

__all__ = ["forward", "backward"]
