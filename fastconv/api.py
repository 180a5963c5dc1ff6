"""conv2d and conv1d: validate arguments into a ConvProblem, ask the dispatcher, run; never
compute here.

Everything a user can get wrong is caught (by ``fastconv.arguments``) with a one-line TypeError
or ValueError that names the argument, before any kernel runs. What reaches a kernel is a
ConvProblem plus arrays in logical NCHW order (views wherever possible: channels-last layouts,
flipped kernels and conv1d are strides, not copies).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from . import dispatch, known_calls, profiling
from . import threads as _threads
# argument normalisation lives one layer down (shared with fastconv.reference); its names stay
# reachable as fastconv.api.prepare etc. for the gradients, fastconv.dask, plans and tests
from .arguments import (  # noqa: F401
    INT64_MAX,
    PADDING_MODES,
    PreparedCall,
    _as_real_array,
    _compute_dtype,
    _kernel_operand,
    _logical_input,
    _logical_weight,
    _nonnegative_int,
    _operands,
    _padding,
    _per_dim,
    _positive_int,
    _w_layout_text,
    _x_layout_text,
    logical_output,
    prepare,
)
from .known_calls import KnownCall, array_key, values_key
from .problem import ConvProblem

BACKEND_NAMES = ("c", "numba", "cuda", "numpy")


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCHW",
           flip=False, algo="auto", backend="auto", out=None):
    """2-D convolution (cross-correlation, as in PyTorch) of ``x`` with ``weight``.

    Computes what ``torch.nn.functional.conv2d`` computes, on NumPy arrays, with the
    implementation the dispatcher picks (or the one ``algo`` / ``backend`` ask for).

    Parameters
    ----------
    x : array_like
        Input, ``(N, C_in, H, W)``; ``(N, H, W, C_in)`` with ``layout="NHWC"``. Any real
        dtype, any strides (non-contiguous, read-only, offset and big-endian arrays work; the
        input is never modified). A CUDA array (``__cuda_array_interface__``: CuPy, torch
        CUDA tensors, Numba device arrays) is computed on the GPU by a ``cuda``
        implementation.
    weight : array_like
        Kernel, ``(C_out, C_in/groups, kH, kW)``; ``(kH, kW, C_in/groups, C_out)`` ("HWIO")
        with ``layout="NHWC"``.
    bias : array_like or None, optional
        ``(C_out,)``, added to every output pixel of its channel. Default None.
    stride : int or (int, int), optional
        Step between output pixels, per spatial dimension, each >= 1. Default 1.
    padding : int, tuple or str, optional
        Zero padding. An int pads every side alike; per dimension, an int or a
        ``(before, after)`` pair (ONNX-style asymmetric: ``((top, bottom), (left, right))``);
        ``"valid"`` (none); ``"same"`` (output ``ceil(in / stride)``, an odd extra row or
        column at the end, as TF/JAX SAME and ONNX SAME_UPPER); ``"same_lower"`` (the extra
        at the start). Default 0.
    dilation : int or (int, int), optional
        Spacing between kernel taps, each >= 1. Default 1.
    groups : int, optional
        Channel groups, dividing both C_in and C_out; ``groups == C_in`` is a depthwise
        convolution. Default 1.
    layout : {"NCHW", "NHWC"}, optional
        Memory order of ``x``, ``weight`` and the result. Default "NCHW".
    flip : bool, optional
        True computes the mathematical convolution (kernel flipped in space), as
        ``scipy.signal.convolve2d`` does. Default False (cross-correlation).
    algo : str or tuple of str, optional
        ``"auto"`` (the dispatcher chooses, see :func:`fastconv.explain`), ``"direct"``,
        ``"im2col"``, ``"fft"``, ``"winograd"``, ``"reference"``, or a tuple of names to
        choose among. Default "auto".
    backend : str, optional
        ``"auto"``, ``"c"``, ``"numba"``, ``"cuda"``, or ``"numpy"`` (the float64
        reference). ``"auto"`` never ships host arrays to the GPU. Default "auto".
    out : numpy.ndarray, optional
        Preallocated output of exactly the result's shape and dtype, any strides, not
        overlapping the inputs. Not supported for CUDA arrays.

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, H_out, W_out)`` (``(N, H_out, W_out, C_out)`` for NHWC) with
        ``H_out = (H + pad_top + pad_bottom - dilation * (kH - 1) - 1) // stride + 1``, in
        float32 or float64: other real dtypes are promoted as
        ``np.result_type(x, weight, np.float32)``. ``out`` when given. For CUDA inputs, a
        Numba device array.

    Raises
    ------
    TypeError
        An argument of the wrong type (a float stride, a non-bool ``flip``), or an array
        that is complex, object, string or long double.
    ValueError
        Shapes that do not fit together, a value out of range (stride 0, negative padding,
        groups that do not divide the channels, a kernel larger than the padded input), an
        unknown ``layout``, ``algo``, ``backend`` or padding mode, or an unusable ``out``
        (wrong shape or dtype, read-only, overlapping an input). The message names the
        argument. Raised before any kernel runs.
    NotImplementedError
        An explicit ``algo`` / ``backend`` that cannot run this problem (the message says
        "not supported" and gives each implementation's reason); CUDA arrays with a
        backend other than ``"cuda"``, or with ``out``.
    MemoryError
        The output cannot be allocated (the message gives its size), or an explicitly
        requested fft / winograd kernel would need more scratch memory than the workspace
        limit (:func:`fastconv.set_workspace_limit`).

    See Also
    --------
    conv1d : the 1-D convolution.
    plan : validate and choose once, then run many times.
    explain : why the dispatcher picks what it picks.
    fastconv.reference.conv2d : the float64 oracle with the same arguments.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x = np.random.rand(8, 64, 56, 56).astype(np.float32)
    >>> w = np.random.rand(128, 64, 3, 3).astype(np.float32)
    >>> fastconv.conv2d(x, w, padding="same").shape
    (8, 128, 56, 56)
    >>> fastconv.conv2d(x, w, stride=2, padding=1, algo="direct", backend="c").shape
    (8, 128, 28, 28)
    """
    return _convolve(2, x, weight, bias, stride, padding, dilation, groups, layout, flip, algo,
                     backend, out)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCL",
           flip=False, algo="auto", backend="auto", out=None):
    """1-D convolution (cross-correlation, as in PyTorch) of ``x`` with ``weight``.

    Computes what ``torch.nn.functional.conv1d`` computes; every argument means what it means
    for :func:`conv2d`, with one spatial dimension.

    Parameters
    ----------
    x : array_like
        Input, ``(N, C_in, L)``; ``(N, L, C_in)`` with ``layout="NLC"``.
    weight : array_like
        Kernel, ``(C_out, C_in/groups, K)``; ``(K, C_in/groups, C_out)`` with
        ``layout="NLC"``.
    bias : array_like or None, optional
        ``(C_out,)``. Default None.
    stride, dilation : int or (int,), optional
        Each >= 1. Default 1.
    padding : int, (int, int) or str, optional
        An int, a ``(before, after)`` pair, ``"valid"``, ``"same"`` or ``"same_lower"``.
        Default 0.
    groups : int, optional
        Channel groups. Default 1.
    layout : {"NCL", "NLC"}, optional
        Memory order of ``x``, ``weight`` and the result. Default "NCL".
    flip : bool, optional
        True computes the mathematical convolution (kernel reversed), as
        ``numpy.convolve``. Default False.
    algo : str or tuple of str, optional
        As :func:`conv2d` (``"winograd"`` is 2-D only). Default "auto".
    backend : str, optional
        As :func:`conv2d`. Default "auto".
    out : numpy.ndarray, optional
        Preallocated output of exactly the result's shape and dtype.

    Returns
    -------
    numpy.ndarray
        ``(N, C_out, L_out)`` (``(N, L_out, C_out)`` for NLC), float32 or float64.

    Raises
    ------
    TypeError, ValueError, NotImplementedError, MemoryError
        As :func:`conv2d`.

    See Also
    --------
    conv2d, fastconv.reference.conv1d

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> signal = np.random.rand(1, 1, 48000)
    >>> fastconv.conv1d(signal, np.ones((1, 1, 9)) / 9, padding="same").shape
    (1, 1, 48000)
    """
    return _convolve(1, x, weight, bias, stride, padding, dilation, groups, layout, flip, algo,
                     backend, out)


def _convolve(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout, flip,
              algo, backend, out):
    key = _call_key(spatial_dims, x, weight, bias, out,
                    (stride, padding, dilation, groups, layout, flip, algo, backend))
    known = None
    if key is not None:
        known = _KNOWN_CALLS.get(key)
        if known is not None:  # validated and dispatched before: only the data is new
            result = known(x, weight, bias, out)
            if result is not None:
                return result
    algos = _parse_algo(algo)
    backend_name = _parse_backend(backend)
    if any(_on_cuda_device(a) for a in (x, weight, bias)):
        return _convolve_on_device(spatial_dims, x, weight, bias, stride, padding, dilation,
                                   groups, layout, flip, algos, backend_name, out)
    call = prepare(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout,
                   flip)
    # the output first: an impossible size fails fast, before the cost model looks at it
    output = _output(call.problem, out, (x, weight, bias))
    impl = dispatch.select(call.problem, algos, backend_name)  # in-memory LRU once known
    if key is not None and known is None and 0 not in call.problem.out_shape:
        problem = call.problem
        known = KnownCall(problem, lambda x4, w4, b4, y: impl.bound(problem, x4, w4, b4, y),
                          x, weight, bias, out)
        known_calls.remember(_KNOWN_CALLS, key, known)
    return execute(call, impl.name, impl.run, out, (x, weight, bias), output)


# ---- repeated calls ------------------------------------------------------------------------
# A call with the signature of an earlier valid call (fastconv.known_calls: shapes, strides and
# dtypes of the arrays, the other arguments and their types, the thread count, the dispatcher's
# generation and the dispatcher itself) is run by the KnownCall remembered for it, without
# validation, dispatch or descriptor building. Only NumPy arrays and plain int / str / bool /
# tuple arguments make a key (a list or a torch tensor is validated every time), and none while
# fastconv.profile() records (its calls take the full, timed path).
_KNOWN_CALLS: dict[tuple, KnownCall] = {}


def _call_key(spatial_dims, x, weight, bias, out, values):
    if type(x) is not np.ndarray or type(weight) is not np.ndarray \
            or profiling.recorder is not None:
        return None
    b = () if bias is None else array_key(bias)
    o = () if out is None else array_key(out)
    v = values_key(values)
    if b is None or o is None or v is None:
        return None
    return (spatial_dims, x.shape, x.strides, x.dtype, weight.shape, weight.strides,
            weight.dtype, b, o, v, _threads._num_threads or _threads.get_num_threads(),
            dispatch.generation, dispatch.select)


def execute(call: PreparedCall, impl_name: str, run, out, inputs, output=None):
    """``run(problem, x, w, bias, y)`` (implementation ``impl_name``'s, or a plan's prepared
    one) on a validated call, into ``out`` or a new array (``output``: what ``_output``
    already returned for them): the output handling (and the profiling hook) conv2d and
    ConvPlan share."""
    problem = call.problem
    result, y, copy_back = output if output is not None else _output(problem, out, inputs)
    if 0 in problem.out_shape:
        return result
    if profiling.recorder is None:
        run(problem, call.x, call.w, call.bias, y)
    else:  # inside fastconv.profile(): timed, C phases collected
        profiling.recorder.record(problem, impl_name, run, problem, call.x, call.w, call.bias, y)
    if copy_back:
        logical_output(problem, result)[...] = y
    return result


# ---- CUDA device arrays ------------------------------------------------------------------
def _on_cuda_device(a) -> bool:
    """Whether ``a`` lives on a CUDA device: __cuda_array_interface__ (CuPy, torch CUDA
    tensors, Numba device arrays) or a Numba device array (the simulator's lack the interface).
    Attribute checks only: nothing is imported or copied."""
    return hasattr(a, "__cuda_array_interface__") or bool(getattr(a, "__cuda_ndarray__", False))


def _convolve_on_device(spatial_dims, x, weight, bias, stride, padding, dilation, groups,
                        layout, flip, algos, backend_name, out):
    """Device inputs: validated by the same ``prepare`` on zero-stride host placeholders of
    their shapes and dtypes (no copy), computed by a cuda implementation on the device, and
    answered with a device array in the user's layout (host weight or bias are copied over)."""
    if backend_name not in (None, "cuda"):
        raise NotImplementedError(f"CUDA device arrays are not supported by backend "
                                  f"{backend_name!r}: use backend='cuda' (or 'auto')")
    if out is not None:
        raise NotImplementedError("out= is not supported for CUDA device arrays: the result "
                                  "is returned as a new device array")
    from .backends import numba_cuda
    shadows = [None if a is None else _as_real_array(numba_cuda.host_placeholder(a), name)
               for a, name in ((x, "x"), (weight, "weight"), (bias, "bias"))]
    dtype = _compute_dtype(*shadows)
    # placeholders already in the compute dtype, so that prepare() converts nothing
    shadows = [None if a is None else np.broadcast_to(np.zeros((), dtype), a.shape)
               for a in shadows]
    problem = prepare(spatial_dims, *shadows, stride, padding, dilation, groups, layout, flip,
                      dtype=dtype).problem
    impl = dispatch.select(problem, algos, "cuda")
    return numba_cuda.run_on_device(impl, problem, x, weight, bias)


def _parse_algo(algo) -> Optional[tuple[str, ...]]:
    """None for "auto", else the tuple of algorithm names to choose among."""
    known = dispatch.algo_names()
    if isinstance(algo, str):
        if algo == "auto":
            return None
        names = (algo,)
    elif isinstance(algo, (list, tuple)) and algo:
        names = tuple(algo)
    else:
        raise TypeError(f"algo must be 'auto', an algorithm name or a tuple of names, got "
                        f"{algo!r}")
    for name in names:
        if not isinstance(name, str) or name not in known:
            raise ValueError(f"algo {name!r} is unknown; choose from {('auto',) + known}")
    return names


def _parse_backend(backend) -> Optional[str]:
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, got {type(backend).__name__}")
    if backend == "auto":
        return None
    if backend not in BACKEND_NAMES:
        raise ValueError(f"backend {backend!r} is unknown; choose from "
                         f"{('auto',) + BACKEND_NAMES}")
    return backend


# ---- output ------------------------------------------------------------------------------
def _output(problem: ConvProblem, out, inputs):
    """(array returned to the user, logical array the kernel writes, whether that array is a
    temporary to copy back: ``out`` with strides the kernels cannot take)."""
    shape, dtype = problem.user_out_shape, problem.np_dtype
    if out is None:
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        try:
            result = np.empty(shape, dtype=dtype)
        except (MemoryError, ValueError):
            raise MemoryError(f"cannot allocate the output {shape} {dtype} "
                              f"({nbytes / 2**30:.3g} GiB)") from None
        return result, logical_output(problem, result), False
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype:
        raise ValueError(f"out must have shape {shape} and dtype {dtype}, got {out.shape} "
                         f"{out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    for arr in inputs:
        if isinstance(arr, np.ndarray) and _overlaps(out, arr):
            raise ValueError("out must not overlap the inputs (x, weight, bias)")
    if out.flags.aligned and all(s % dtype.itemsize == 0 for s in out.strides):
        return out, logical_output(problem, out), False
    return out, np.empty(problem.out_shape, dtype=dtype), True


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    try:
        return bool(np.shares_memory(a, b, max_work=10_000))
    except np.exceptions.TooHardError:
        return True  # cannot prove they are disjoint: refuse rather than corrupt

