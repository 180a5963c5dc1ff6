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


def conv2d_im2col(problem: ConvProblem, x, w, bias, y) -> None:
    """im2col:c: lowering + GEMM, in blocks of output rows under the workspace budget."""
    from .. import workspace
    ffi = _native()[0]
    size_fn, run_fn, ctype = _im2col_functions(problem.np_dtype)
    d = conv2d_desc(problem, x, w, bias, y)
    ws = workspace.scratch(size_fn(d, workspace.get_workspace_limit()))
    status = run_fn(d, ffi.cast(ctype, _address(x)), ffi.cast(ctype, _address(w)),
                    ffi.NULL if bias is None else ffi.cast(ctype, _address(bias)),
                    ffi.cast(ctype, _address(y)), ffi.cast("void *", _address(ws)), ws.nbytes)
    check_status(status, "im2col:c")


@functools.cache
def _im2col_functions(dtype: np.dtype):
    """(workspace-size query, kernel, C pointer type) of im2col:c for dtype, looked up once."""
    lib = _native()[1]
    name = f"fc_{_PREFIX[dtype]}_conv2d_im2col"
    return getattr(lib, name + "_workspace_size"), getattr(lib, name), _CTYPES[dtype]


# ---- GEMM ----------------------------------------------------------------------------------
def _address(a: np.ndarray) -> int:
    return a.ctypes.data


def _void_pointer(a: np.ndarray):
    return _native()[0].cast("void *", _address(a))


def _isa_index(isa: Optional[str]) -> int:
    if isa is None:
        return _native()[1].fc_active_isa()
    if isa not in ISA_NAMES:
        raise ValueError(f"isa must be one of {ISA_NAMES}, got {isa!r}")
    return ISA_NAMES.index(isa)


def gemm_blocking(isa: Optional[str] = None, dtype=np.float32) -> dict:
    """The GEMM's register tile and cache blocks for ``isa`` (default: the active one):
    ``{"mr", "nr", "mc", "kc", "nc"}``. Tests derive their sizes from these."""
    ffi, lib = _native()
    out = ffi.new("fc_gemm_blocking *")
    fn = getattr(lib, f"fc_{_PREFIX[np.dtype(dtype)]}_gemm_blocking")
    check_status(fn(_isa_index(isa), out), "gemm_blocking")
    return {name: getattr(out, name) for name in ("mr", "nr", "mc", "kc", "nc")}


def _gemm_operand(a, name: str, dtype) -> np.ndarray:
    if not isinstance(a, np.ndarray) or a.ndim != 2:
        raise ValueError(f"gemm: {name} must be a 2-D numpy array")
    if a.dtype != dtype:
        raise TypeError(f"gemm: {name} has dtype {a.dtype}, expected {dtype}")
    if not a.flags.aligned or any(s % a.itemsize for s in a.strides):
        a = np.array(a, dtype=dtype)  # strides the kernel cannot express: one copy
    return a


def gemm(a: np.ndarray, b: np.ndarray, out: Optional[np.ndarray] = None, alpha=1.0, beta=0.0,
         nthreads: Optional[int] = None) -> np.ndarray:
    """out := alpha * a @ b + beta * out with fastconv's own GEMM (float32 or float64).

    a (m, k), b (k, n) and out (m, n) may have any strides (transposed views, slices, negative
    steps): they are passed as element strides, never copied. With beta == 0, out is never
    read (it may hold NaN). out=None allocates the result (beta must then be 0). nthreads
    defaults to fastconv.get_num_threads()."""
    ffi, lib = _native()
    if not isinstance(a, np.ndarray) or a.dtype not in _PREFIX:
        raise TypeError("gemm: a must be a float32 or float64 numpy array")
    dtype = a.dtype
    a = _gemm_operand(a, "a", dtype)
    b = _gemm_operand(b, "b", dtype)
    (m, k), (k2, n) = a.shape, b.shape
    if k != k2:
        raise ValueError(f"gemm: inner dimensions differ: a is {a.shape}, b is {b.shape}")
    if out is None:
        if beta != 0:
            raise ValueError("gemm: beta != 0 needs out=")
        out = np.empty((m, n), dtype=dtype)
    if not isinstance(out, np.ndarray) or out.shape != (m, n) or out.dtype != dtype:
        raise ValueError(f"gemm: out must be a {dtype} array of shape {(m, n)}")
    if not out.flags.writeable or not out.flags.aligned or any(
            s % out.itemsize for s in out.strides):
        raise ValueError("gemm: out must be writeable, aligned, with whole-element strides")
    if any(np.may_share_memory(out, x) and np.shares_memory(out, x) for x in (a, b)):
        raise ValueError("gemm: out must not overlap a or b")
    nt = get_num_threads() if nthreads is None else int(nthreads)
    p = _PREFIX[dtype]
    nbytes = getattr(lib, f"fc_{p}_gemm_workspace_size")(m, n, k, nt)
    from .. import workspace
    ws = workspace.scratch(nbytes)
    sa, sb, sc = element_strides(a), element_strides(b), element_strides(out)
    ct = _CTYPES[dtype]
    status = getattr(lib, f"fc_{p}_gemm")(
        m, n, k, alpha, ffi.cast(ct, _address(a)), sa[0], sa[1], ffi.cast(ct, _address(b)),
        sb[0], sb[1], beta, ffi.cast(ct, _address(out)), sc[0], sc[1], nt, _void_pointer(ws),
        ws.nbytes)
    check_status(status, "gemm")
    return out


def gemm_ukernel(isa: str, a_packed: np.ndarray, b_packed: np.ndarray, c: np.ndarray,
                 alpha=1.0, beta=0.0) -> None:
    """Runs one microkernel call of ``isa`` (tests): c[:m, :n] := alpha * A @ B + beta * c,
    with a_packed (k, MR) and b_packed (k, NR) C-contiguous packed panels, c (m, n) with
    m <= MR, n <= NR, any strides."""
    ffi, lib = _native()
    dtype = c.dtype
    p = _PREFIX[dtype]
    k = a_packed.shape[0]
    sc = element_strides(c)
    status = getattr(lib, f"fc_{p}_gemm_ukernel")(
        _isa_index(isa), k, ffi.cast(_CTYPES[dtype], a_packed.ctypes.data),
        ffi.cast(_CTYPES[dtype], b_packed.ctypes.data), alpha, beta,
        ffi.cast(_CTYPES[dtype], c.ctypes.data), sc[0], sc[1], c.shape[0], c.shape[1])
    check_status(status, "gemm_ukernel")
