"""Channel concat on the GPU, for the inputs the plan could not place as views of the output:
kernels/shared.py's slice copies, which CuPy runs as copy kernels without temporaries (so they
capture), the same code as the CPU twin's."""
from ..shared import concat_backward as backward
from ..shared import concat_forward as forward

__all__ = ["forward", "backward"]
