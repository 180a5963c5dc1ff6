"""The C backend: cffi marshalling of problems and arrays into csrc/ kernels.

Only pointers, sizes and element strides cross the boundary (fastconv.h's fc_conv2d_desc);
workspaces are NumPy arrays allocated here; every C status goes through ``check_status``.
"""
from __future__ import annotations

import contextlib
import functools
import threading
from typing import Optional

import numpy as np

from .. import machine_params, workspace
from ..problem import CHANNELS_LAST, ConvProblem
from ..threads import get_num_threads

ISA_NAMES = ("scalar", "avx2", "avx512")  # index = fc_isa value


@functools.cache
def _native():
    """(ffi, lib) of the compiled extension, with this machine's parameters applied (cache
    sizes, GEMM blocks: fastconv.machine_params); raises ImportError when it was not built."""
    from .. import _native as native
    apply_machine_params(native.ffi, native.lib)
    return native.ffi, native.lib


_DTYPE_KEYS = (("float32", "f32", 4), ("float64", "f64", 8))


def apply_machine_params(ffi, lib) -> machine_params.Active:
    """Push the cache sizes and GEMM blocks into the extension: for every ISA this CPU runs
    and both dtypes, the tuned blocks when the tuning file holds them for this machine, else
    those derived from the OS's cache sizes, else the built-in table's. Recorded in
    machine_params.active() for ``fastconv info``."""
    caches = machine_params.read_cache_sizes()
    if caches.source != "built in":
        sizes = ffi.new("fc_cache_sizes *", (caches.l1d, caches.l2, caches.l3))
        if lib.fc_set_cache_sizes(sizes) != 0:  # sizes the kernels refuse: keep their own
            caches = machine_params.BUILT_IN_CACHES
    best = ISA_NAMES[lib.fc_cpu_isa()]
    tuned = machine_params.load_tuned(best)
    gemm, source = {}, {}
    for isa_index in range(lib.fc_cpu_isa() + 1):
        for dtype, prefix, itemsize in _DTYPE_KEYS:
            key = f"{dtype}:{ISA_NAMES[isa_index]}"
            blk = ffi.new("fc_gemm_blocking *")
            check_status(getattr(lib, f"fc_{prefix}_gemm_blocking")(isa_index, blk), "blocking")
            want, origin = None, "built in"
            stored = tuned.gemm.get(key) if tuned else None
            if stored and (stored["mr"], stored["nr"]) == (blk.mr, blk.nr):
                want, origin = stored, f"tuned on {tuned.date}"
            elif caches.source != "built in":
                want = machine_params.derive_gemm_blocking(blk.mr, blk.nr, itemsize, caches)
                origin = "derived from this CPU's caches"
            if want is not None:
                new = ffi.new("fc_gemm_blocking *", (blk.mr, blk.nr, want["mc"], want["kc"],
                                                      want["nc"]))
                if getattr(lib, f"fc_{prefix}_set_gemm_blocking")(isa_index, new) != 0:
                    origin = "built in"  # out of the kernel's bounds: the table's stay
                check_status(getattr(lib, f"fc_{prefix}_gemm_blocking")(isa_index, blk),
                             "blocking")
            gemm[key] = {f: int(getattr(blk, f)) for f in ("mr", "nr", "mc", "kc", "nc")}
            source[key] = origin
    active = machine_params.Active(
        caches=caches, gemm=gemm, gemm_source=source, cost=dict(tuned.cost) if tuned else {},
        cost_source=f"tuned on {tuned.date}" if tuned and tuned.cost else "built in")
    machine_params.set_active(active)
    return active


def reload_machine_params() -> machine_params.Active:
    """Apply the parameters again (after ``fastconv tune --machine`` wrote or removed the
    tuning file) and tell the layers that remember workspace sizes or choices."""
    ffi, lib = _native()
    active = apply_machine_params(ffi, lib)
    for callback in _isa_listeners:
        callback()
    return active


def set_gemm_blocking(dtype, isa: Optional[str] = None, *, mc: int, kc: int, nc: int) -> None:
    """Replace the GEMM cache blocks of ``dtype`` on ``isa`` (default: the active one) for
    this process (``fastconv tune --machine`` and tests use it; results do not depend on the
    blocks beyond rounding order). ValueError outside the kernel's bounds."""
    ffi, lib = _native()
    prefix = _PREFIX[np.dtype(dtype)]
    blk = ffi.new("fc_gemm_blocking *")
    index = _isa_index(isa)
    check_status(getattr(lib, f"fc_{prefix}_gemm_blocking")(index, blk), "gemm_blocking")
    new = ffi.new("fc_gemm_blocking *", (blk.mr, blk.nr, mc, kc, nc))
    if getattr(lib, f"fc_{prefix}_set_gemm_blocking")(index, new) != 0:
        raise ValueError(f"GEMM blocks mc={mc}, kc={kc}, nc={nc} are outside the kernel's "
                         f"bounds (mr {blk.mr}, nr {blk.nr})")
    for callback in _isa_listeners:
        callback()


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
    for callback in _isa_listeners:
        callback()


# Workspace sizes and the cost of each kernel depend on the ISA and the GEMM blocks: the layers
# above that remember choices or bound calls (fastconv.dispatch) register a callback here
# (imports run one way).
_isa_listeners: list = []


def on_isa_change(callback) -> None:
    """Call ``callback()`` (no arguments) whenever the ISA cap (``set_isa``) or the kernels'
    machine parameters (GEMM blocks, cache sizes) change."""
    if callback not in _isa_listeners:
        _isa_listeners.append(callback)


# ---- marshalling -------------------------------------------------------------------------
_CTYPES = {np.dtype(np.float32): "float *", np.dtype(np.float64): "double *"}
_PREFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def element_strides(a: np.ndarray) -> list[int]:
    # The API hands over only arrays whose byte strides are multiples of the item size.
    return [s // a.itemsize for s in a.strides]


def pointer(a: Optional[np.ndarray]):
    """The C pointer to ``a``'s first element: float * / double * for the compute dtypes,
    void * for byte buffers (workspaces, plans); NULL for None."""
    ffi, _ = _native()
    if a is None:
        return ffi.NULL
    return ffi.cast(_CTYPES.get(a.dtype, "void *"), a.ctypes.data)


def problem_desc(problem: ConvProblem):
    """A descriptor carrying the problem's sizes only (plan-time queries need no arrays)."""
    ffi, _ = _native()
    d = ffi.new("fc_conv2d_desc *")
    d.n, d.c_in, d.h, d.w = problem.x_shape
    d.c_out, d.kh, d.kw = problem.c_out, problem.kh, problem.kw
    d.h_out, d.w_out = problem.h_out, problem.w_out
    d.stride_h, d.stride_w = problem.stride
    d.dil_h, d.dil_w = problem.dilation
    d.pad_top, d.pad_left = problem.padding[0], problem.padding[2]
    d.groups = problem.groups
    d.nthreads = get_num_threads()
    return d


class _ProfileSlot(threading.local):
    """The fc_profile the descriptors built in this thread carry: set by fastconv.profile()'s
    recorder around one kernel call, None otherwise (descriptors then carry NULL)."""
    profile = None


PROFILE_SLOT = _ProfileSlot()


@contextlib.contextmanager
def profile_into(profile):
    """Descriptors built in this thread inside the block carry ``profile`` (an
    ``fc_profile *``): how fastconv.profile(), the tests and the benchmarks collect phases."""
    previous = PROFILE_SLOT.profile
    PROFILE_SLOT.profile = profile
    try:
        yield profile
    finally:
        PROFILE_SLOT.profile = previous


def new_profile():
    """A zeroed fc_profile (owned by the returned cdata)."""
    return _native()[0].new("fc_profile *")


def conv2d_desc(problem: ConvProblem, x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray],
                y: np.ndarray):
    """The descriptor of one call: the problem plus the element strides of its arrays, and
    the active fc_profile when fastconv.profile() is recording."""
    d = problem_desc(problem)
    d.x_stride = element_strides(x)
    d.w_stride = element_strides(w)
    d.y_stride = element_strides(y)
    d.bias_stride = element_strides(bias)[0] if bias is not None else 0
    if PROFILE_SLOT.profile is not None:
        d.profile = PROFILE_SLOT.profile
    return d


def weight_desc(problem: ConvProblem, w: np.ndarray):
    """The descriptor of a weight-only step (kernel spectra, Winograd kernel transform): the
    problem, the weight's strides and the active fc_profile."""
    d = problem_desc(problem)
    d.w_stride = element_strides(w)
    if PROFILE_SLOT.profile is not None:
        d.profile = PROFILE_SLOT.profile
    return d


def kernel(problem: ConvProblem, op: str):
    """The C function ``fc_<dtype>_<op>`` for the problem's dtype."""
    return getattr(_native()[1], f"fc_{_PREFIX[problem.np_dtype]}_{op}")


# ---- bound calls -----------------------------------------------------------------------------
# A call repeated with operands of the same dtypes and strides (fastconv.known_calls) needs the
# descriptor, the kernel function and the workspace size only once: a ``bind_*`` function
# settles them and returns ``run(x, w, bias, y)``, which only takes the pointers. Valid while
# the thread count, workspace limit and ISA cap stay as they were (the callers' signatures key
# on them). A run made while a profile is recording (PROFILE_SLOT) gets a copy of the
# descriptor that carries it.
_ARRAY_TYPES = {np.dtype(np.float32): "float[]", np.dtype(np.float64): "double[]"}


def bound_desc(problem: ConvProblem, x, w, bias, y):
    """conv2d_desc for a bound call: never carries a profile (run adds one per call)."""
    d = conv2d_desc(problem, x, w, bias, y)
    d.profile = _native()[0].NULL
    return d


def _profiled_desc(d):
    """A copy of descriptor ``d`` carrying this thread's recording fc_profile."""
    copy = _native()[0].new("fc_conv2d_desc *", d[0])
    copy.profile = PROFILE_SLOT.profile
    return copy


def pointer_function(a: Optional[np.ndarray]):
    """``pointer`` for arrays of ``a``'s dtype and strides, as fast as they allow: a
    C-contiguous array's buffer (ffi.from_buffer: no ctypes object, about 4x faster), else
    ``pointer``; NULL for None."""
    ffi = _native()[0]
    if a is None:
        null = ffi.NULL
        return lambda _: null
    if a.flags.c_contiguous and a.dtype in _ARRAY_TYPES:
        from_buffer, ctype = ffi.from_buffer, ffi.typeof(_ARRAY_TYPES[a.dtype])
        return lambda a: from_buffer(ctype, a)
    return pointer


def bound_pointers(x, w, bias, y, fixed_w: bool = False):
    """``pointers(x, w, bias, y)``: the four pointers of a bound call, for operands with the
    dtypes and strides of these; ``fixed_w``: w's pointer made once here (the function keeps
    ``w`` alive and ignores its ``w`` argument). The common case (C-contiguous operands, no
    bias) is one function call."""
    ffi = _native()[0]
    kept = w
    if fixed_w:
        w_pointer = pointer_function(w)(w)
    if (bias is None and x.dtype in _ARRAY_TYPES and x.flags.c_contiguous
            and y.flags.c_contiguous and (fixed_w or w.flags.c_contiguous)):
        from_buffer, ctype, null = ffi.from_buffer, ffi.typeof(_ARRAY_TYPES[x.dtype]), ffi.NULL
        if fixed_w:
            return lambda x, w, bias, y, kept=kept: (from_buffer(ctype, x), w_pointer, null,
                                                     from_buffer(ctype, y))
        return lambda x, w, bias, y: (from_buffer(ctype, x), from_buffer(ctype, w), null,
                                      from_buffer(ctype, y))
    px, pw, pb, py = (pointer_function(a) for a in (x, w, bias, y))
    if fixed_w:
        return lambda x, w, bias, y, kept=kept: (px(x), w_pointer, pb(bias), py(y))
    return lambda x, w, bias, y: (px(x), pw(w), pb(bias), py(y))


def conv2d_direct(problem: ConvProblem, x, w, bias, y) -> None:
    """direct:c: the channel-blocked kernel when its workspace query answers a size (dense
    problems within the workspace budget), else the w-vectorised kernel that needs none."""
    bind_direct(problem, x, w, bias, y)(x, w, bias, y)


def bind_direct(problem: ConvProblem, x, w, bias, y, fixed_w: bool = False):
    """direct:c bound to operands with the dtypes and strides of ``x``, ``w``, ``bias``, ``y``
    (see ``bound_pointers``): ``run(x, w, bias, y)``. The descriptor, the kernel and its
    workspace size are settled here once; ``fixed_w``: ``w`` itself is kept and run ignores
    its ``w`` argument (a plan's weights)."""
    size_fn, blocked_fn, plain_fn = _direct_functions(problem.np_dtype)
    d = bound_desc(problem, x, w, bias, y)
    nbytes = _blocked_workspace(problem, d)
    pointers = bound_pointers(x, w, bias, y, fixed_w)
    slot, call_desc = PROFILE_SLOT, _profiled_desc
    if nbytes:
        scratch, bytes_pointer = workspace.scratch, _native()[0].from_buffer

        def run(x, w, bias, y):
            ws = scratch(nbytes)
            status = blocked_fn(d if slot.profile is None else call_desc(d),
                                *pointers(x, w, bias, y), bytes_pointer(ws), ws.nbytes)
            if status:
                check_status(status, "direct:c")
    else:
        def run(x, w, bias, y):
            status = plain_fn(d if slot.profile is None else call_desc(d),
                              *pointers(x, w, bias, y))
            if status:
                check_status(status, "direct:c")
    return run


conv2d_direct.bind = bind_direct


def direct_prefers_blocked(d, dtype: np.dtype) -> bool:
    """Whether direct:c's channel-blocked kernel is expected to beat its workspace-free one on
    the problem of descriptor ``d`` (csrc/conv_direct.h states the rule and its measurements)."""
    return bool(_native()[1].fc_direct_blocked_preferred(d, np.dtype(dtype).itemsize))


def _blocked_workspace(problem: ConvProblem, d) -> int:
    """Workspace bytes of direct:c's channel-blocked kernel for descriptor ``d``, or 0 when the
    workspace-free kernel serves the problem (the blocked one is not preferred, cannot run it,
    or would pass the workspace budget)."""
    if not direct_prefers_blocked(d, problem.np_dtype):
        return 0
    return _direct_functions(problem.np_dtype)[0](d, workspace.get_workspace_limit())


class DirectPrepared:
    """direct:c's per-weight state where the channel-blocked kernel serves the problem (see
    ``prepare_direct``): the weights packed once for the active ISA, as a fastconv.plan with
    weights keeps them; a call packs only the bias and the input. A copy of the weights stays
    so that a changed ISA cap (``set_isa``) packs again, once, for the new ISA."""

    def __init__(self, problem: ConvProblem, w: np.ndarray):
        self.problem = problem
        self.w = np.array(w, copy=True)
        self._packed = self._pack()

    def _pack(self) -> tuple[int, np.ndarray]:
        """(ISA index, packed buffer) for the active ISA."""
        packed_size, pack, _, _ = _direct_packed_functions(self.problem.np_dtype)
        d = weight_desc(self.problem, self.w)
        packed = _aligned_workspace(packed_size(d))
        check_status(pack(d, pointer(self.w), pointer(packed), packed.size), "direct:c")
        return _native()[1].fc_active_isa(), packed

    def _packed_for_active_isa(self) -> np.ndarray:
        isa, packed = self._packed
        if isa != _native()[1].fc_active_isa():
            self._packed = self._pack()  # one tuple: threads sharing the plan see old or new
            isa, packed = self._packed
        return packed

    def __call__(self, x, bias, y) -> None:
        self.bind(x, bias, y)(x, None, bias, y)

    def bind(self, x, bias, y):
        """``run(x, w, bias, y)`` (``w`` ignored) for operands with the dtypes and strides of
        these, as ``bind_direct``: the packed weights, or the kept ones through the
        workspace-free kernel where conv2d_direct would take that one now (another ISA cap or
        workspace limit, an output layout the plan did not expect), so that a plan's results
        are always a bare call's."""
        ffi = _native()[0]
        d = bound_desc(self.problem, x, x, bias, y)  # the weight's strides are not used here
        if not _blocked_workspace(self.problem, d):
            return bind_direct(self.problem, x, self.w, bias, y, fixed_w=True)
        _, _, ws_size, apply_fn = _direct_packed_functions(self.problem.np_dtype)
        packed = self._packed_for_active_isa()
        packed_pointer = ffi.from_buffer(packed)
        nbytes = max(int(ws_size(d, packed_pointer)), 1)
        px, pb, py = pointer_function(x), pointer_function(bias), pointer_function(y)
        slot, call_desc = PROFILE_SLOT, _profiled_desc
        scratch, bytes_pointer = workspace.scratch, ffi.from_buffer

        def run(x, w, bias, y, packed=packed):  # packed: kept alive with the pointer
            ws = scratch(nbytes)
            status = apply_fn(d if slot.profile is None else call_desc(d), packed_pointer,
                              px(x), pb(bias), py(y), bytes_pointer(ws), ws.nbytes)
            if status:
                check_status(status, "direct:c")
        return run


def prepare_direct(problem: ConvProblem, w: np.ndarray) -> Optional[DirectPrepared]:
    """direct:c in a plan: a DirectPrepared where conv2d_direct would take the channel-blocked
    kernel (dense enough, within the workspace budget), else None (the plain kernel has nothing
    to keep but the weights)."""
    if problem.n == 0:
        return None
    d = problem_desc(problem)
    # whether the calls' output will be channels-last (the rule reads y's channel stride)
    d.y_stride[1] = 1 if problem.layout in CHANNELS_LAST else problem.h_out * problem.w_out
    if not _blocked_workspace(problem, d):
        return None
    return DirectPrepared(problem, w)


@functools.cache
def _direct_packed_functions(dtype: np.dtype):
    """(packed size, pack, apply workspace size, apply) of direct:c's two-step form."""
    lib = _native()[1]
    name = f"fc_{_PREFIX[dtype]}_conv2d_direct_blocked"
    return (getattr(lib, name + "_packed_size"), getattr(lib, name + "_pack"),
            getattr(lib, name + "_apply_workspace_size"), getattr(lib, name + "_apply"))


@functools.cache
def _direct_functions(dtype: np.dtype):
    """(blocked workspace-size query, blocked kernel, workspace-free kernel) of direct:c."""
    lib = _native()[1]
    name = f"fc_{_PREFIX[dtype]}_conv2d_direct"
    return (getattr(lib, name + "_blocked_workspace_size"), getattr(lib, name + "_blocked"),
            getattr(lib, name))


def conv2d_im2col(problem: ConvProblem, x, w, bias, y) -> None:
    """im2col:c: lowering + GEMM, in blocks of output rows under the workspace budget."""
    bind_im2col(problem, x, w, bias, y)(x, w, bias, y)


def bind_im2col(problem: ConvProblem, x, w, bias, y, fixed_w: bool = False):
    """im2col:c bound to operands like these, as ``bind_direct``: ``run(x, w, bias, y)``."""
    size_fn, run_fn = _im2col_functions(problem.np_dtype)
    d = bound_desc(problem, x, w, bias, y)
    nbytes = size_fn(d, workspace.get_workspace_limit())
    pointers = bound_pointers(x, w, bias, y, fixed_w)
    slot, call_desc = PROFILE_SLOT, _profiled_desc
    scratch, bytes_pointer = workspace.scratch, _native()[0].from_buffer

    def run(x, w, bias, y):
        ws = scratch(nbytes)
        status = run_fn(d if slot.profile is None else call_desc(d), *pointers(x, w, bias, y),
                        bytes_pointer(ws), ws.nbytes)
        if status:
            check_status(status, "im2col:c")
    return run


conv2d_im2col.bind = bind_im2col


@functools.cache
def _im2col_functions(dtype: np.dtype):
    """(workspace-size query, kernel) of im2col:c for dtype, looked up once."""
    lib = _native()[1]
    name = f"fc_{_PREFIX[dtype]}_conv2d_im2col"
    return getattr(lib, name + "_workspace_size"), getattr(lib, name)


# ---- GEMM ----------------------------------------------------------------------------------
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
    ws = workspace.scratch(nbytes)
    sa, sb, sc = element_strides(a), element_strides(b), element_strides(out)
    status = getattr(lib, f"fc_{p}_gemm")(
        m, n, k, alpha, pointer(a), sa[0], sa[1], pointer(b),
        sb[0], sb[1], beta, pointer(out), sc[0], sc[1], nt, pointer(ws),
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
        _isa_index(isa), k, pointer(a_packed), pointer(b_packed), alpha, beta, pointer(c),
        sc[0], sc[1], c.shape[0], c.shape[1])
    check_status(status, "gemm_ukernel")

# ---- fft:c ---------------------------------------------------------------------------------
# Plan, kernel spectra and workspace are NumPy buffers; the C side builds the plan (tile sizes,
# root tables) in the first, transforms the weight into the second, and works in the third.
# A bare call makes all three (the kernel spectra are part of its time); a fastconv.plan with
# weights keeps the plan and spectra (FFTPrepared) and makes only the workspace's contents.


def _aligned_workspace(nbytes: int) -> np.ndarray:
    """A 64-byte aligned buffer of at least one byte (C wants a valid pointer even for 0)."""
    return workspace.aligned_empty(max(int(nbytes), 1))


def fft_tiles(problem: ConvProblem) -> tuple[int, int]:
    """The (tile_h, tile_w) FFT sizes fft:c's cost model picks (tile_h is 1 for conv1d)."""
    return _fft_tiles(problem, get_num_threads(), active_isa())


@functools.lru_cache(maxsize=256)
def _fft_tiles(problem: ConvProblem, nthreads: int, isa: str) -> tuple[int, int]:
    ffi, lib = _native()
    th, tw = ffi.new("int64_t *"), ffi.new("int64_t *")
    check_status(lib.fc_fft_conv_choose_tiles(problem_desc(problem), problem.np_dtype.itemsize,
                                              th, tw), "fft:c")
    return int(th[0]), int(tw[0])


def fft_sizes(problem: ConvProblem, tiles=(0, 0), mode: int = -1) -> tuple[int, int, int]:
    """(plan, kernel spectra, workspace) bytes of fft:c for ``problem`` with ``tiles`` ((0, 0):
    the cost model's choice) and threading ``mode`` (-1: the cost model's choice)."""
    if tuple(tiles) == (0, 0):
        tiles = fft_tiles(problem)
    return _fft_sizes(problem, tuple(tiles), mode, get_num_threads(), active_isa())


@functools.lru_cache(maxsize=256)
def _fft_sizes(problem: ConvProblem, tiles, mode: int, nthreads: int,
               isa: str) -> tuple[int, int, int]:
    ffi, lib = _native()
    out = ffi.new("size_t[3]")
    check_status(lib.fc_fft_conv_sizes(problem_desc(problem), problem.np_dtype.itemsize,
                                       tiles[0], tiles[1], mode, out, out + 1, out + 2), "fft:c")
    return int(out[0]), int(out[1]), int(out[2])


def supports_fft(problem: ConvProblem) -> Optional[str]:
    if problem.n == 0:
        return None  # an empty batch: the API returns before any kernel runs
    try:
        sizes = fft_sizes(problem)
    except (KernelError, NotImplementedError) as exc:  # sizes beyond what the plan can hold
        return f"the FFT plan cannot be made: {exc}"
    return workspace.over_limit(sizes[1] + sizes[2], "its kernel spectra and workspace")


class _FFTSetup:
    """Everything about an fft:c call that does not depend on data, made once per (problem,
    tiles, mode, threads, ISA): the plan buffer (tile sizes, root tables; the kernels only
    read it), its pointer, and the spectra and workspace sizes."""

    def __init__(self, problem: ConvProblem, tiles, mode: int):
        ffi, lib = _native()
        plan_b, self.spectra_bytes, self.ws_bytes = fft_sizes(problem, tiles, mode)
        self.spectra_bytes = -(-self.spectra_bytes // 64) * 64
        self.plan = _aligned_workspace(plan_b)
        check_status(getattr(lib, f"fc_{_PREFIX[problem.np_dtype]}_conv2d_fft_plan")(
            problem_desc(problem), tiles[0], tiles[1], mode, pointer(self.plan), self.plan.size),
            "fft:c")
        self.plan.flags.writeable = False
        self.plan_ptr = pointer(self.plan)
        self.fn = getattr(lib, f"fc_{_PREFIX[problem.np_dtype]}_conv2d_fft")

    def buffers(self):
        """(spectra, workspace) for one call, from one allocation."""
        both = _aligned_workspace(self.spectra_bytes + self.ws_bytes)
        return both[:self.spectra_bytes], both[self.spectra_bytes:]


@functools.lru_cache(maxsize=64)
def _fft_setup_cached(problem: ConvProblem, tiles, mode: int, nthreads: int,
                      isa: str) -> _FFTSetup:
    return _FFTSetup(problem, tiles if tiles != (0, 0) else fft_tiles(problem), mode)


def _fft_setup(problem: ConvProblem, tiles=(0, 0), mode: int = -1) -> _FFTSetup:
    return _fft_setup_cached(problem, tuple(tiles), mode, get_num_threads(), active_isa())


class FFTPrepared:
    """fft:c's per-weight state: the plan (tile sizes, root tables), the kernel spectra and the
    workspace, as a fastconv.plan with weights keeps them. ``apply`` runs only the data
    part (input transforms, contraction, inverse transforms)."""

    def __init__(self, problem: ConvProblem, w: np.ndarray, tiles=(0, 0), mode: int = -1):
        _, lib = _native()
        self.problem = problem
        self._prefix = _PREFIX[problem.np_dtype]
        d = weight_desc(problem, w)
        setup = _fft_setup(problem, tiles, mode)
        self.plan = setup.plan
        self.spectra = _aligned_workspace(setup.spectra_bytes)
        self.ws_bytes = setup.ws_bytes
        ws = workspace.scratch(max(self.ws_bytes, 1))
        check_status(getattr(lib, f"fc_{self._prefix}_conv2d_fft_kernel_spectra")(
            pointer(self.plan), d, pointer(w), pointer(self.spectra), self.spectra.size,
            pointer(ws), ws.size), "fft:c")

    def apply(self, x, bias, y) -> None:
        _, lib = _native()
        d = conv2d_desc(self.problem, x, x, bias, y)  # the weight's strides are not used here
        ws = workspace.scratch(max(self.ws_bytes, 1))  # this thread's: plans are shared
        check_status(getattr(lib, f"fc_{self._prefix}_conv2d_fft_apply")(
            pointer(self.plan), d, pointer(self.spectra), pointer(x), pointer(bias), pointer(y),
            pointer(ws), ws.size), "fft:c")


def conv2d_fft(problem: ConvProblem, x, w, bias, y, tiles=(0, 0), mode: int = -1) -> None:
    """fft:c: plan, then kernel spectra, then apply. ``tiles`` (tile_h,
    tile_w) and ``mode`` (2-D threading: 0 work-shared stages, 1 tile-parallel) override the
    cost model (tests force many tiles and each mode on small problems)."""
    setup = _fft_setup(problem, tiles, mode)
    spectra, ws = setup.buffers()
    check_status(setup.fn(setup.plan_ptr, conv2d_desc(problem, x, w, bias, y), pointer(w),
                          pointer(x), pointer(bias), pointer(y), pointer(spectra), spectra.size,
                          pointer(ws), ws.size), "fft:c")


# ---- raw transforms (tests and experiments; one thread) ------------------------------------
_COMPLEX = {np.dtype(np.float32): np.complex64, np.dtype(np.float64): np.complex128}


def _raw(kind: int, n0: int, n1: int, real_dtype: np.dtype):
    _, lib = _native()
    nbytes = lib.fc_fft_workspace_size(kind, n0, n1, real_dtype.itemsize)
    if nbytes == 0:
        raise ValueError(f"invalid transform size {n0}" + (f" x {n1}" if kind == 2 else ""))
    return _aligned_workspace(nbytes)


def _float_dtype(a: np.ndarray) -> np.dtype:
    return np.dtype(np.float64) if a.dtype in (np.float64, np.complex128) else np.dtype(np.float32)


def rfft(x, n: Optional[int] = None) -> np.ndarray:
    """numpy.fft.rfft over the last axis by fastconv's own FFT (float32 stays float32)."""
    x = np.asarray(x)
    dt = _float_dtype(x)
    x = np.ascontiguousarray(x, dtype=dt)
    n = x.shape[-1] if n is None else n
    if n != x.shape[-1]:
        raise ValueError("rfft: n must equal x.shape[-1]")
    rows = x.reshape(-1, n)
    y = np.empty((rows.shape[0], n // 2 + 1), dtype=_COMPLEX[dt])
    ws = _raw(1, n, 0, dt)
    fn = getattr(_native()[1], f"fc_{_PREFIX[dt]}_rfft")
    check_status(fn(n, rows.shape[0], pointer(rows), pointer(y.view(dt)), pointer(ws), ws.size),
                 "rfft")
    return y.reshape(x.shape[:-1] + (n // 2 + 1,))


def irfft(X, n: int) -> np.ndarray:
    """numpy.fft.irfft(X, n) over the last axis (X has n // 2 + 1 bins)."""
    X = np.asarray(X)
    dt = _float_dtype(X)
    X = np.ascontiguousarray(X, dtype=_COMPLEX[dt])
    if X.shape[-1] != n // 2 + 1:
        raise ValueError("irfft: X.shape[-1] must be n // 2 + 1")
    rows = X.reshape(-1, n // 2 + 1)
    y = np.empty((rows.shape[0], n), dtype=dt)
    ws = _raw(1, n, 0, dt)
    fn = getattr(_native()[1], f"fc_{_PREFIX[dt]}_irfft")
    check_status(fn(n, rows.shape[0], pointer(rows.view(dt)), pointer(y), pointer(ws), ws.size),
                 "irfft")
    return y.reshape(X.shape[:-1] + (n,))


def cfft(x, inverse: bool = False) -> np.ndarray:
    """numpy.fft.fft (or ifft) over the last axis, complex64 or complex128."""
    x = np.asarray(x)
    dt = _float_dtype(x)
    x = np.ascontiguousarray(x, dtype=_COMPLEX[dt])
    n = x.shape[-1]
    rows = x.reshape(-1, n)
    y = np.empty_like(rows)
    ws = _raw(0, n, 0, dt)
    fn = getattr(_native()[1], f"fc_{_PREFIX[dt]}_cfft")
    check_status(fn(n, rows.shape[0], pointer(rows.view(dt)), pointer(y.view(dt)),
                    int(bool(inverse)), pointer(ws), ws.size), "cfft")
    return y.reshape(x.shape)


def rfft2(x) -> np.ndarray:
    """2-D real FFT of an (h, w) array, h even, halved along axis 0 as the convolution does:
    numpy.fft.rfftn(x, axes=(1, 0)), shape (h // 2 + 1, w)."""
    x = np.asarray(x)
    dt = _float_dtype(x)
    x = np.ascontiguousarray(x, dtype=dt)
    h, w = x.shape
    y = np.empty((h // 2 + 1, w), dtype=_COMPLEX[dt])
    ws = _raw(2, h, w, dt)
    fn = getattr(_native()[1], f"fc_{_PREFIX[dt]}_rfft2")
    check_status(fn(h, w, pointer(x), pointer(y.view(dt)), pointer(ws), ws.size), "rfft2")
    return y


def irfft2(X, h: int) -> np.ndarray:
    """Inverse of :func:`rfft2`: (h // 2 + 1, w) half spectrum -> (h, w) real."""
    X = np.asarray(X)
    dt = _float_dtype(X)
    X = np.ascontiguousarray(X, dtype=_COMPLEX[dt])
    w = X.shape[1]
    if X.shape[0] != h // 2 + 1:
        raise ValueError("irfft2: X.shape[0] must be h // 2 + 1")
    y = np.empty((h, w), dtype=dt)
    ws = _raw(2, h, w, dt)
    fn = getattr(_native()[1], f"fc_{_PREFIX[dt]}_irfft2")
    check_status(fn(h, w, pointer(X.view(dt)), pointer(y), pointer(ws), ws.size), "irfft2")
    return y


# ---- winograd:c --------------------------------------------------------------------------------
# F(2x2, 3x3) or F(4x4, 3x3), the tile size chosen per problem by the C side's rule unless a
# caller asks for one (``tile``): the kernel transform (U, with a header naming its ISA, tile
# size and channels) and the
# workspace (the transformed inputs and products of one block of tiles) are NumPy buffers.
# A bare call makes U every time (part of its time; when U exceeds L2 and the tiles form one
# block, the C side makes it panel by panel inside the products and the kernel buffer stays
# untouched); a fastconv.plan with weights keeps it (WinogradPrepared).


def supports_winograd(problem: ConvProblem) -> Optional[str]:
    if (problem.kh, problem.kw) != (3, 3):
        return f"winograd F(m x m, 3x3) needs a 3x3 kernel, not {problem.kh}x{problem.kw}"
    if problem.stride != (1, 1):
        return f"winograd needs stride 1, not {problem.stride}"
    if problem.dilation != (1, 1):
        return f"winograd needs dilation 1, not {problem.dilation}"
    if problem.n == 0:
        return None  # an empty batch: the API returns before any kernel runs
    kernel_bytes, ws_bytes = winograd_sizes(problem)
    return workspace.over_limit(kernel_bytes + ws_bytes, "its kernel transform and workspace")


@functools.lru_cache(maxsize=256)
def winograd_tile(problem: ConvProblem, tile: int = 0) -> int:
    """The output tile side (2 or 4) winograd:c uses for ``problem``: ``tile``, or for 0 the C
    side's rule (csrc/winograd.c: F(2x2, 3x3) on small images at small batch)."""
    ffi, lib = _native()
    out = ffi.new("int64_t *")
    check_status(lib.fc_winograd_output_tile(problem_desc(problem), problem.np_dtype.itemsize,
                                             int(tile), out), "winograd:c")
    return int(out[0])


def winograd_sizes(problem: ConvProblem, block_tiles: int = 0, tile: int = 0) -> tuple[int, int]:
    """(kernel transform, workspace) bytes of winograd:c for the active ISA and thread count;
    ``block_tiles`` 0 takes the kernel's block rule, ``tile`` 0 its tile-size rule."""
    return _winograd_sizes(problem, int(block_tiles), int(tile), get_num_threads(), active_isa())


@functools.lru_cache(maxsize=256)
def _winograd_sizes(problem: ConvProblem, block_tiles: int, tile: int, nthreads: int,
                    isa: str) -> tuple[int, int]:
    ffi, lib = _native()
    out = ffi.new("size_t[2]")
    check_status(lib.fc_winograd_conv_sizes(problem_desc(problem), problem.np_dtype.itemsize,
                                            tile, block_tiles, out, out + 1), "winograd:c")
    return int(out[0]), int(out[1])


class WinogradPrepared:
    """winograd:c's per-weight state: the transformed kernel U, as a fastconv.plan with weights
    keeps it; ``apply`` runs only the data stages in the calling thread's scratch. ``tile``
    (2 or 4; 0: the C side's rule) is fixed here: U is made for one tile size."""

    def __init__(self, problem: ConvProblem, w: np.ndarray, block_tiles: int = 0,
                 tile: int = 0):
        _, lib = _native()
        self.problem, self.block_tiles, self.tile = problem, int(block_tiles), int(tile)
        self._prefix = _PREFIX[problem.np_dtype]
        kernel_bytes, _ = winograd_sizes(problem, block_tiles, tile)
        self.kernel = _aligned_workspace(kernel_bytes)
        d = weight_desc(problem, w)
        check_status(getattr(lib, f"fc_{self._prefix}_conv2d_winograd_kernel_transform")(
            d, pointer(w), self.tile, pointer(self.kernel), self.kernel.size), "winograd:c")

    @property
    def ws_bytes(self) -> int:
        return winograd_sizes(self.problem, self.block_tiles, self.tile)[1]

    def apply(self, x, bias, y) -> None:
        _, lib = _native()
        d = conv2d_desc(self.problem, x, x, bias, y)  # the weight's strides are not used here
        # the calling thread's scratch (plans are shared between threads), sized for the thread
        # count of this call (one V + M buffer per thread when they take whole blocks)
        ws = workspace.scratch(max(self.ws_bytes, 1))
        check_status(getattr(lib, f"fc_{self._prefix}_conv2d_winograd_apply")(
            d, pointer(self.kernel), pointer(x), pointer(bias), pointer(y), self.block_tiles,
            pointer(ws), ws.size), "winograd:c")


def conv2d_winograd(problem: ConvProblem, x, w, bias, y, block_tiles: int = 0,
                    tile: int = 0) -> None:
    """winograd:c: kernel transform and apply in one call. ``block_tiles`` overrides the block
    rule (tests force many blocks on small problems), ``tile`` (2 or 4) the tile-size rule
    (tests and bench/bench_winograd.py run both)."""
    _, lib = _native()
    # reused between calls: no fresh pages to fault
    kernel, ws = workspace.scratch_arrays(np.uint8, *winograd_sizes(problem, block_tiles, tile))
    d = conv2d_desc(problem, x, w, bias, y)
    check_status(getattr(lib, f"fc_{_PREFIX[problem.np_dtype]}_conv2d_winograd")(
        d, pointer(w), pointer(x), pointer(bias), pointer(y), int(tile), int(block_tiles),
        pointer(kernel), kernel.size, pointer(ws), ws.size), "winograd:c")
