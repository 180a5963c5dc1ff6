"""fastconv: hand-written, measured-fast convolution kernels.

>>> import numpy as np, fastconv
>>> x = np.arange(9.0).reshape(1, 1, 3, 3)
>>> k = np.array([[[[0.0, 1.0], [2.0, 3.0]]]])
>>> fastconv.conv2d(x, k)[0, 0]
array([[19., 25.],
       [37., 43.]])
"""
from .api import conv1d, conv2d
from .problem import ConvProblem
from .registry import implementations
from .threads import get_num_threads, set_num_threads
from .workspace import get_workspace_limit, set_workspace_limit

__version__ = "0.1.0"

__all__ = ["conv1d", "conv2d", "implementations", "get_num_threads", "set_num_threads",
           "ConvProblem", "get_workspace_limit", "set_workspace_limit", "__version__"]
