"""fastconv: hand-written, measured-fast convolution kernels.

>>> import numpy as np, fastconv
>>> x = np.arange(9.0).reshape(1, 1, 3, 3)
>>> k = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
>>> fastconv.conv2d(x, k)[0, 0]
array([[19., 25.],
       [37., 43.]])
"""
import os

# Numba builds its CPU optimisation pipeline once, when it first compiles anything, and builds
# it with LLVM's SLP vectoriser off unless NUMBA_SLP_VECTORIZE=1 was set by then. fastconv's
# numba microkernels need SLP (about 5 against 50 GFLOP/s; docs/performance/design.md, numba),
# so it is switched on here, before fastconv imports numba; an explicit user setting wins.
os.environ.setdefault("NUMBA_SLP_VECTORIZE", "1")

from .api import conv1d, conv2d  # noqa: E402
from .grad import (
    conv1d_grad_input,
    conv1d_grad_weight,
    conv2d_grad_input,
    conv2d_grad_weight,
    conv_transpose1d,
    conv_transpose2d,
)
from .plan import ConvPlan, explain, tune  # noqa: E402
from .plan import plan  # noqa: E402  (the function; the module stays fastconv.plan in sys.modules)
from .problem import ConvProblem
from .profiling import profile
from .registry import implementations
from .threads import get_num_threads, set_num_threads
from .workspace import get_workspace_limit, set_workspace_limit

__version__ = "0.1.0"

__all__ = ["conv1d", "conv2d", "plan", "explain", "tune", "ConvPlan", "profile",
           "implementations", "get_num_threads", "set_num_threads", "ConvProblem",
           "get_workspace_limit", "set_workspace_limit", "__version__", "conv2d_grad_input",
           "conv2d_grad_weight", "conv1d_grad_input", "conv1d_grad_weight", "conv_transpose2d",
           "conv_transpose1d"]
