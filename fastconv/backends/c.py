"""The C backend: cffi marshalling of problems and arrays into csrc/ kernels.

Only pointers, sizes and element strides cross the boundary (fastconv.h's fc_conv2d_desc);
workspaces are NumPy arrays allocated here; every C status goes through ``check_status``.
"""
from __future__ import annotations

import functools
from typing import Optional

import numpy as np

from ..problem import ConvProblem
from ..threads import get_num_threads

ISA_NAMES = ("scalar", "avx2", "avx512")  # index = fc_isa value


@functools.cache
def _native():
    """(ffi, lib) of the compiled extension; raises ImportError when it was not built."""
    from .. import _native as native
    return native.ffi, native.lib


def unavailable_reason() -> Optional[str]:
    try:
        _native()
    except ImportError as exc:
        return (f"the C extension fastconv._native is not built ({exc}); reinstall with a "
                "working C compiler: pip install .")
    return None


class KernelError(RuntimeError):
    """A C kernel refused a problem the Python side had accepted: a fastconv bug."""


def check_status(status: int, kernel: str) -> None:
    """The one place C status codes become Python exceptions."""
    if status == 0:
        return
    ffi, lib = _native()
    if status == lib.FC_ERR_WORKSPACE_TOO_SMALL:
        raise KernelError(f"{kernel}: workspace smaller than the kernel asked for")
    if status == lib.FC_ERR_UNSUPPORTED:
        raise NotImplementedError(f"{kernel}: problem not supported by this kernel")
    if status == lib.FC_ERR_ISA_UNAVAILABLE:
        raise RuntimeError(f"{kernel}: instruction set not available on this CPU")
    raise KernelError(f"{kernel}: invalid argument (status {status}); please report the problem")


# ---- instruction sets --------------------------------------------------------------------
def cpu_isa() -> str:
    """Best instruction set this CPU and OS support for fastconv's kernels."""
    return ISA_NAMES[_native()[1].fc_cpu_isa()]


def active_isa() -> str:
    """Instruction set the C kernels dispatch to now."""
    return ISA_NAMES[_native()[1].fc_active_isa()]


def supported_isas() -> list[str]:
    """Every ISA this machine can run, portable first."""
    return list(ISA_NAMES[: _native()[1].fc_cpu_isa() + 1])


def set_isa(name: Optional[str]) -> None:
    """Cap the C kernels at ISA ``name`` ("scalar", "avx2", "avx512"); None lifts the cap."""
    ffi, lib = _native()
    if name is None:
        name = cpu_isa()
    if name not in ISA_NAMES:
        raise ValueError(f"isa must be one of {ISA_NAMES}, got {name!r}")
    if lib.fc_set_isa_limit(ISA_NAMES.index(name)) != 0:
        raise ValueError(f"isa {name!r} is not supported by this CPU (best: {cpu_isa()})")


def have_openmp() -> bool:
    return bool(_native()[1].fc_have_openmp())


# ---- marshalling -------------------------------------------------------------------------
_CTYPES = {np.dtype(np.float32): "float *", np.dtype(np.float64): "double *"}
_PREFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def element_strides(a: np.ndarray) -> list[int]:
    # The API hands over only arrays whose byte strides are multiples of the item size.
    return [s // a.itemsize for s in a.strides]


def pointer(a: Optional[np.ndarray]):
    ffi, _ = _native()
    if a is None:
        return ffi.NULL
    return ffi.cast(_CTYPES[a.dtype], a.ctypes.data)


def conv2d_desc(problem: ConvProblem, x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                y: np.ndarray):
    ffi, _ = _native()
    d = ffi.new("fc_conv2d_desc *")
    d.n, d.c_in, d.h, d.w = problem.x_shape
    d.c_out, d.kh, d.kw = problem.c_out, problem.kh, problem.kw
    d.h_out, d.w_out = problem.h_out, problem.w_out
    d.stride_h, d.stride_w = problem.stride
    d.dil_h, d.dil_w = problem.dilation
    d.pad_top, d.pad_left = problem.padding[0], problem.padding[2]
    d.groups = problem.groups
    d.x_stride = element_strides(x)
    d.w_stride = element_strides(w)
    d.y_stride = element_strides(y)
    d.bias_stride = element_strides(bias)[0] if bias is not None else 0
    d.nthreads = get_num_threads()
    return d


def kernel(problem: ConvProblem, op: str):
    """The C function ``fc_<dtype>_<op>`` for the problem's dtype."""
    return getattr(_native()[1], f"fc_{_PREFIX[problem.np_dtype]}_{op}")


# ---- implementations -----------------------------------------------------------------------
def conv2d_direct(problem: ConvProblem, x, w, bias, y) -> None:
    d = conv2d_desc(problem, x, w, bias, y)
    status = kernel(problem, "conv2d_direct")(d, pointer(x), pointer(w), pointer(bias), pointer(y))
    check_status(status, "direct:c")
