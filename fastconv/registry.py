"""The implementations: one ordered list of ``algo:backend`` entries.

The dispatcher, the tests and the benchmarks all iterate this list, so a new kernel is one
function plus one entry here. Order is priority: most specialised first, the NumPy reference
last (it is the last resort when nothing else can run).

Each entry's ``run(problem, x, w, bias, y)`` receives arrays already in logical NCHW order
(``x`` (n, c_in, h, w), ``w`` (c_out, c_in/groups, kh, kw), ``y`` (n, c_out, h_out, w_out)) of
the problem's dtype, possibly strided, with ``flip`` already applied to ``w`` as a view, and
writes every element of ``y``. Its ``supports(problem)`` returns None or the reason it cannot.
An optional ``prepare(problem, w)`` transforms the weights once for a plan (fastconv.plan) and
returns ``apply(x, bias, y)``; without one, a plan keeps a copy of the weights and calls run.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import backends, reference
from .backends import c as c_backend
from .backends import numba_cuda as cuda_backend
from .backends import numba_entry
from .problem import ConvProblem

ALGOS = ("direct", "im2col", "fft", "winograd")
BACKENDS = ("c", "numba", "cuda")
NOT_IMPLEMENTED = "not implemented yet"

RunFn = Callable[..., None]
SupportsFn = Callable[[ConvProblem], Optional[str]]
ApplyFn = Callable[[np.ndarray, Optional[np.ndarray], np.ndarray], None]  # (x, bias, y)
PrepareFn = Callable[[ConvProblem, np.ndarray], Optional[ApplyFn]]  # None: nothing to prepare


def supports_everything(problem: ConvProblem) -> Optional[str]:
    return None


@dataclass(frozen=True)
class Implementation:
    algo: str
    backend: str
    run: Optional[RunFn] = None
    supports: SupportsFn = supports_everything
    prepare: Optional[PrepareFn] = None

    @property
    def name(self) -> str:
        return f"{self.algo}:{self.backend}"

    @property
    def reason(self) -> Optional[str]:
        """Why this implementation cannot run in this process (None when it can)."""
        if self.run is None:
            return NOT_IMPLEMENTED
        return backends.unavailable_reason(self.backend)

    @property
    def available(self) -> bool:
        return self.reason is None

    def rejection(self, problem: ConvProblem) -> Optional[str]:
        """Why this implementation cannot compute ``problem`` (None when it can)."""
        return self.reason or self.supports(problem)

    def likely_rejection(self, problem: ConvProblem) -> Optional[str]:
        """``rejection`` without importing the backend's package where a cheap check exists
        (backends.likely_unavailable_reason: numba installed, not imported): what the
        dispatcher ranks on; it confirms the implementation it chooses with ``reason``."""
        if self.run is None:
            return NOT_IMPLEMENTED
        return backends.likely_unavailable_reason(self.backend) or self.supports(problem)

    def prepared(self, problem: ConvProblem, w: np.ndarray) -> ApplyFn:
        """``apply(x, bias, y)`` with the weights ``w`` (logical, flip applied) fixed: the
        entry's prepare hook (weights transformed once) where it answers one, else a private
        copy of ``w`` and run
        (a plan's result must not change when the caller later writes to ``w``)."""
        prepared = self.prepare(problem, w) if self.prepare is not None else None
        if prepared is not None:
            return prepared
        return _KeptWeights(self, problem, np.array(w, copy=True))

    def bound(self, problem: ConvProblem, x, w, bias, y, fixed_w: bool = False) -> RunFn:
        """``run(x, w, bias, y)`` for operands with the dtypes and strides of these (``w``
        itself when ``fixed_w``: run then ignores its ``w``): the backend's binding where
        ``run`` has one (``run.bind``: the C backend makes its descriptor, finds the kernel
        and sizes the workspace once), else ``run`` with the problem filled in."""
        run = self.run
        bind = getattr(run, "bind", None)
        if bind is not None:
            return bind(problem, x, w, bias, y, fixed_w)
        if fixed_w:
            kept = w
            return lambda x, _w, bias, y: run(problem, x, kept, bias, y)
        return lambda x, w, bias, y: run(problem, x, w, bias, y)

    def __repr__(self) -> str:
        state = "available" if self.available else f"unavailable: {self.reason}"
        return f"<Implementation {self.name} ({state})>"


class _KeptWeights:
    """A plan's weights for an implementation without a prepare hook: a private copy and
    ``run``. ``bind(x, bias, y)`` gives ``run(x, w, bias, y)`` (w ignored) for operands like
    these (Implementation.bound with the kept weights)."""

    def __init__(self, impl: Implementation, problem: ConvProblem, w: np.ndarray):
        self.impl, self.problem, self.w = impl, problem, w

    def __call__(self, x, bias, y) -> None:
        self.impl.run(self.problem, x, self.w, bias, y)

    def bind(self, x, bias, y) -> RunFn:
        return self.impl.bound(self.problem, x, self.w, bias, y, fixed_w=True)


def prepare_fft_c(problem: ConvProblem, w: np.ndarray):
    """fft:c in a plan: plan and kernel spectra made once, only the data part per call."""
    return c_backend.FFTPrepared(problem, w).apply


def prepare_winograd_c(problem: ConvProblem, w: np.ndarray):
    """winograd:c in a plan: the kernel transform U made once, only the data stages per call."""
    return c_backend.WinogradPrepared(problem, w).apply


REFERENCE = Implementation("reference", "numpy", reference.run_problem)

REGISTRY: tuple[Implementation, ...] = (
    Implementation("direct", "c", c_backend.conv2d_direct, prepare=c_backend.prepare_direct),
    Implementation("im2col", "c", c_backend.conv2d_im2col),
    Implementation("fft", "c", c_backend.conv2d_fft, c_backend.supports_fft,
                   prepare_fft_c),
    Implementation("direct", "numba", numba_entry.run_direct),
    Implementation("im2col", "numba", numba_entry.run_im2col),
    Implementation("fft", "numba", numba_entry.run_fft, numba_entry.supports_fft),
    Implementation("direct", "cuda", cuda_backend.run_direct, cuda_backend.supports_direct),
    Implementation("im2col", "cuda", cuda_backend.run_im2col, cuda_backend.supports_im2col),
    Implementation("fft", "cuda", cuda_backend.run_fft, cuda_backend.supports_fft),
    # winograd F(2x2, 3x3) / F(4x4, 3x3): only the C kernel is written so far.
    Implementation("winograd", "c", c_backend.conv2d_winograd, c_backend.supports_winograd,
                   prepare_winograd_c),
    Implementation("winograd", "numba"),
    Implementation("winograd", "cuda"),
    REFERENCE,
)

BY_NAME = {impl.name: impl for impl in REGISTRY}


def implementations() -> list[Implementation]:
    """Every registered implementation, in priority order.

    Returns
    -------
    list of Implementation
        One entry per ``algo:backend`` pair (``direct:c``, ``fft:numba``, ``im2col:cuda``,
        ..., ``reference:numpy`` last), each with ``.name``, ``.algo``, ``.backend``,
        ``.available`` (can it run in this process) and ``.reason`` (why not: no compiler,
        no GPU, not written yet; None when available), and ``.rejection(problem)`` (why it
        cannot compute a given :class:`ConvProblem`, or None).

    Examples
    --------
    >>> import fastconv
    >>> [i.name for i in fastconv.implementations() if i.available][:3]
    ['direct:c', 'im2col:c', 'fft:c']
    """
    return list(REGISTRY)
