"""Plans: planning kept apart from execution (opt_einsum, FFTW, cuDNN's find).

``fastconv.plan(x_shape, weight_shape, ...)`` validates the arguments once, chooses an
implementation (heuristic: the fitted cost model; measure: times the candidates on real data
and remembers the winner in the plan cache) and, given ``weight=``, prepares the weights once
(fft:c keeps its kernel spectra). The ConvPlan runs with ``plan(x)`` or ``plan(x, w, bias)``
and prints every candidate with ``plan.explain()``.

A ConvPlan may be shared by threads: prepared weights are read-only and every call takes the
calling thread's scratch workspace (tests/test_threads.py runs 8 threads on one plan).
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np

from . import api, dispatch, known_calls, plan_cache, profiling
from . import threads as _threads
from .known_calls import KnownCall, array_key
from .problem import ConvProblem
from .registry import REFERENCE, Implementation
from .threads import get_num_threads
from .timing import interleaved_best

MODES = ("heuristic", "measure")
# Measure mode times only candidates the cost model puts within this factor of its best
# estimate (every one with prune=None): the fitted model is within ~2x on the data it was
# fitted on, so the winner is never pruned, and hopeless candidates (the direct loops on a
# 31x31 kernel, say) cost no seconds of timing.
PRUNE = 5.0


@dataclasses.dataclass(frozen=True)
class Row:
    impl: str
    status: str                 # "chosen", "accepted", "rejected", "pruned"
    estimate: Optional[float]   # seconds
    measured: Optional[float]   # seconds (measure mode, or a plan-cache entry)
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Every implementation considered for a problem; str() is the table users read."""
    problem: ConvProblem
    request: str
    mode: str
    source: str
    threads: int
    rows: tuple[Row, ...]

    @property
    def chosen(self) -> str:
        return next(r.impl for r in self.rows if r.status == "chosen")

    def __str__(self) -> str:
        head = [f"problem  {self.problem.id}  ({self.problem.flops / 1e9:.3g} GFLOP)",
                f"request  {self.request}, mode {self.mode}, {self.threads} threads",
                f"choice   {self.chosen}  ({self.source})", ""]
        table = [("implementation", "status", "estimate ms", "measured ms", "reason")]
        for r in self.rows:
            table.append((r.impl, r.status, _ms(r.estimate), _ms(r.measured), r.reason))
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = ["  ".join(cell.ljust(w) if i == 0 or i == 1 else cell.rjust(w)
                           for i, (cell, w) in enumerate(zip(row[:4], widths)))
                 + ("  " + row[4] if row[4] else "") for row in table]
        return "\n".join(head + lines)

    def __repr__(self) -> str:
        return f"<Explanation {self.problem.id}: {self.chosen} ({self.source})>"


def _ms(seconds: Optional[float]) -> str:
    return "" if seconds is None else f"{seconds * 1e3:.4g}"


class ConvPlan:
    """A chosen implementation for one problem, optionally with prepared weights.

    Made by :func:`fastconv.plan`, not constructed directly. ``p(x)`` runs with the weights
    given at plan time (pre-transformed where the implementation can: fft:c keeps its kernel
    spectra, winograd:c its transformed kernel); ``p(x, w, bias)`` runs with other weights of
    the same shape. A plan may be shared by threads.

    Attributes
    ----------
    problem : ConvProblem
        The problem planned for.
    impl : Implementation
        The implementation chosen (``p.impl.name``: ``"algo:backend"``).
    x_shape, weight_shape : tuple of int
        The shapes given to :func:`fastconv.plan`.
    """

    def __init__(self, problem: ConvProblem, impl: Implementation, explanation: Explanation,
                 x_shape: tuple[int, ...], weight_shape: tuple[int, ...],
                 weight: Optional[np.ndarray] = None):
        self.problem = problem
        self.impl = impl
        self._explanation = explanation
        self.x_shape, self.weight_shape = tuple(x_shape), tuple(weight_shape)
        self._placeholder_w = np.broadcast_to(np.zeros((), problem.np_dtype), weight_shape)
        self._apply = None if weight is None else impl.prepared(problem, weight)
        self._known: dict = {}  # call signature -> KnownCall (fastconv.known_calls)

    @property
    def has_weights(self) -> bool:
        """Whether the plan was made with ``weight=`` (``p(x)`` then needs no weights)."""
        return self._apply is not None

    def explain(self) -> Explanation:
        """Every implementation considered: status, reason, estimate, measured time.

        Returns
        -------
        Explanation
            ``str()`` of it is the table :func:`fastconv.explain` prints.
        """
        return self._explanation

    def _validated(self, x, w, bias) -> api.PreparedCall:
        p = self.problem
        call = api.prepare(p.spatial_dims, x, self._placeholder_w if w is None else w, bias,
                           *_user_geometry(p), p.groups, p.layout, p.flip, dtype=p.np_dtype)
        if call.problem != p:
            raise ValueError(f"the arguments describe {call.problem.id}, but this plan was made "
                             f"for {p.id} (x shape {self.x_shape}, weight shape "
                             f"{self.weight_shape}, dtype {p.dtype})")
        return call

    def __call__(self, x, w=None, bias=None, *, out=None):
        """Run the convolution.

        Parameters
        ----------
        x : array_like
            Input of the plan's ``x_shape`` (any strides; cast to the plan's dtype).
        w : array_like, optional
            Weights of the plan's ``weight_shape``; default: the weights prepared at plan
            time.
        bias : array_like or None, optional
            ``(C_out,)``.
        out : numpy.ndarray, optional
            As :func:`fastconv.conv2d`.

        Returns
        -------
        numpy.ndarray
            As :func:`fastconv.conv2d`.

        Raises
        ------
        ValueError
            The plan has no weights and ``w`` is not given, or the arguments describe
            another problem than the plan's (shape, dtype), or any argument
            :func:`fastconv.conv2d` would refuse.
        TypeError
            As :func:`fastconv.conv2d`.
        """
        key = known = None
        if type(x) is np.ndarray and profiling.recorder is None:
            wk = () if w is None else array_key(w)
            bk = () if bias is None else array_key(bias)
            ok = () if out is None else array_key(out)
            if wk is not None and bk is not None and ok is not None:
                key = (x.shape, x.strides, x.dtype, wk, bk, ok,
                       _threads._num_threads or get_num_threads(), dispatch.generation)
                known = self._known.get(key)
                if known is not None:  # validated before: only the data is new
                    result = known(x, w, bias, out)
                    if result is not None:
                        return result
        if w is None and self._apply is None:
            raise ValueError("this plan was made without weight=: pass w (and bias) per call")
        call = self._validated(x, w, bias)
        run = self._run_prepared if w is None else self.impl.run
        if key is not None and known is None and 0 not in self.problem.out_shape:
            known_calls.remember(self._known, key, KnownCall(
                self.problem, self._bind_prepared if w is None else self._bind, x, w, bias, out))
        return api.execute(call, self.impl.name, run, out, (x, w, bias))

    def _run_prepared(self, problem, x4, w4, b4, y):
        """run() with the weights prepared at plan time (``w4`` is the placeholder)."""
        self._apply(x4, b4, y)

    def _bind(self, x4, w4, b4, y):
        """A KnownCall's runner for weights given per call."""
        return self.impl.bound(self.problem, x4, w4, b4, y)

    def _bind_prepared(self, x4, w4, b4, y):
        """A KnownCall's runner with the prepared weights (``w4`` is None): the prepared
        state's own binding where it has one (``bind(x, bias, y)``), else its apply."""
        bind = getattr(self._apply, "bind", None)
        if bind is not None:
            return bind(x4, b4, y)
        apply = self._apply
        return lambda x4, w4, b4, y: apply(x4, b4, y)

    def __repr__(self) -> str:
        weights = ", weights prepared" if self._apply is not None else ""
        return f"<ConvPlan {self.problem.id}: {self.impl.name}{weights}>"


def _user_geometry(p: ConvProblem):
    """(stride, padding, dilation) of a problem in the form api.prepare takes back."""
    if p.spatial_dims == 1:
        return p.stride[1:], p.padding[2:], p.dilation[1:]
    return p.stride, ((p.padding[0], p.padding[1]), (p.padding[2], p.padding[3])), p.dilation


# ---- planning --------------------------------------------------------------------------------
def _problem_of(x_shape, weight_shape, dtype, stride, padding, dilation, groups, layout, flip,
                weight) -> tuple[ConvProblem, Optional[np.ndarray]]:
    x_shape, weight_shape = tuple(x_shape), tuple(weight_shape)
    if len(x_shape) not in (3, 4):
        raise ValueError(f"x_shape must have 4 (conv2d) or 3 (conv1d) dimensions, got {x_shape}")
    spatial_dims = len(x_shape) - 2
    if layout is None:
        layout = "NCHW" if spatial_dims == 2 else "NCL"
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype must be float32 or float64, got {dtype}")
    x = np.broadcast_to(np.zeros((), dtype), x_shape)
    if weight is not None and tuple(np.shape(weight)) != weight_shape:
        raise ValueError(f"weight has shape {np.shape(weight)}, but weight_shape is "
                         f"{weight_shape}")
    w = np.broadcast_to(np.zeros((), dtype), weight_shape) if weight is None else weight
    call = api.prepare(spatial_dims, x, w, None, stride, padding, dilation, groups, layout, flip,
                       dtype=dtype)
    return call.problem, (call.w if weight is not None else None)


def _prepared_run(impl, problem: ConvProblem, w4, x4, b4, y):
    """``run(x, w, bias, y)`` (``w`` ignored) of ``impl`` with ``w4`` prepared as a plan
    prepares it, bound to these operands where the prepared state can be."""
    apply = impl.prepared(problem, w4)
    bind = getattr(apply, "bind", None)
    if bind is not None:
        return bind(x4, b4, y)
    return lambda x, w, bias, y: apply(x, bias, y)


def _measure(problem: ConvProblem, x_shape, weight_shape, opts, weight, prune):
    """{impl name: seconds} of the accepted candidates within ``prune`` x the best estimate
    (the reference only when nothing else runs), on standard-normal data of the problem's
    layout, through the same views the API passes; with ``weight``, each with those weights
    prepared once, as the plan will run."""
    accepted = [o for o in opts if o.reason is None]
    compiled = [o for o in accepted if o.impl is not REFERENCE] or accepted
    best_estimate = min(o.estimate for o in compiled)
    # (o.impl.reason: the full availability probe, which the dispatcher's ranking skipped for
    # candidates it did not choose: numba is imported here, to time its kernels)
    to_time = [o for o in compiled
               if (prune is None or o.estimate <= prune * best_estimate)
               and o.impl.reason is None] or [o for o in accepted if o.impl is REFERENCE]
    rng = np.random.default_rng(0)
    dtype = problem.np_dtype
    x = rng.standard_normal(x_shape).astype(dtype)
    w = (rng.standard_normal(weight_shape).astype(dtype) if weight is None
         else np.asarray(weight, dtype))
    b = rng.standard_normal(problem.c_out).astype(dtype)
    p = problem
    call = api.prepare(p.spatial_dims, x, w, b, *_user_geometry(p), p.groups, p.layout, p.flip,
                       dtype=dtype)
    y = api.logical_output(p, np.empty(p.user_out_shape, dtype))
    # each bound to these operands, as a repeated conv2d call runs it (fastconv.known_calls),
    # or, for a plan made with its weights, as that plan runs: weights prepared once
    if weight is None:
        runs = {o.impl.name: o.impl.bound(p, call.x, call.w, call.bias, y) for o in to_time}
    else:
        runs = {o.impl.name: _prepared_run(o.impl, p, call.w, call.x, call.bias, y)
                for o in to_time}
    # In turns rather than one after the other, each turn after a short sleep
    # (timing.SETTLE_SECONDS): a candidate timed right after another backend's worker threads
    # (numba's OpenMP) went idle would otherwise meet them still spinning on the cores, and a
    # disturbance from another process hits every candidate alike.
    return interleaved_best({name: (lambda run=run: run(call.x, call.w, call.bias, y))
                             for name, run in runs.items()}, rounds=4, burst=3, slow=0.5)


def plan(x_shape: Sequence[int], weight_shape: Sequence[int], *, dtype="float32", stride=1,
         padding=0, dilation=1, groups=1, layout=None, flip=False, algo="auto", backend="auto",
         mode="heuristic", weight=None, prune: Optional[float] = PRUNE,
         remeasure: bool = False) -> ConvPlan:
    """Validate a convolution once, choose its implementation, and prepare its weights.

    Planning is kept apart from execution (as in opt_einsum, FFTW and cuDNN's find): the
    returned :class:`ConvPlan` runs the chosen implementation with no further checks of the
    geometry, and prints every candidate with ``.explain()``.

    Parameters
    ----------
    x_shape : sequence of int
        Shape of the input: 4 ints (conv2d) or 3 (conv1d), in ``layout``.
    weight_shape : sequence of int
        Shape of the kernel, in ``layout``'s weight order.
    dtype : {"float32", "float64"}, optional
        Compute dtype. Default "float32".
    stride, padding, dilation, groups, flip, algo, backend : optional
        As :func:`fastconv.conv2d` / :func:`fastconv.conv1d`.
    layout : str, optional
        Default "NCHW", or "NCL" for 3-D shapes.
    mode : {"heuristic", "measure"}, optional
        "heuristic" (default): a measured choice from the plan cache if one exists for this
        problem, request, thread count, CPU, ISA and version, else the cost model's lowest
        estimate. "measure": the candidates are timed on random data (unless the plan cache
        already holds a measurement and ``remeasure`` is False) and the winner is stored in
        the plan cache, where later ``algo="auto"`` calls find it.
    weight : array_like, optional
        The weights, prepared once (``p(x)`` then runs without them). Must have
        ``weight_shape``.
    prune : float or None, optional
        Measure mode times only candidates whose estimate is within this factor of the best
        estimate (default 5.0); None times every accepted candidate.
    remeasure : bool, optional
        Measure mode: time again even when the plan cache has an entry. Default False.

    Returns
    -------
    ConvPlan

    Raises
    ------
    ValueError
        An unknown ``mode``, shapes of the wrong length, ``weight`` not of ``weight_shape``,
        or any argument :func:`fastconv.conv2d` would refuse.
    TypeError
        A dtype other than float32 / float64, or an argument of the wrong type.
    NotImplementedError
        An explicit ``algo`` / ``backend`` that cannot run the problem.
    MemoryError
        Every implementation the request allows needs more workspace than the limit.

    See Also
    --------
    explain, tune

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> w = np.random.rand(64, 64, 3, 3).astype(np.float32)
    >>> p = fastconv.plan((1, 64, 56, 56), w.shape, padding=1, weight=w)
    >>> y = p(np.random.rand(1, 64, 56, 56).astype(np.float32))
    >>> y.shape
    (1, 64, 56, 56)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    problem, w4 = _problem_of(x_shape, weight_shape, dtype, stride, padding, dilation, groups,
                              layout, flip, weight)
    algos, backend_name = api._parse_algo(algo), api._parse_backend(backend)
    algos, backend_name = dispatch.effective_request(algos, backend_name)
    threads = get_num_threads()
    prepared = weight is not None
    choice = dispatch.choose(problem, algos, backend_name, threads,
                             use_cache=not (mode == "measure" and remeasure), prepared=prepared)
    impl, source, timings = choice.impl, choice.source, {}
    if choice.cached is not None:
        timings = choice.cached.timings
    accepted = [o for o in choice.options if o.reason is None]
    measured_here = choice.cached is not None and choice.source.endswith("weights prepared)")
    if (mode == "measure" and len(accepted) > 1
            and (choice.cached is None or (prepared and not measured_here))):
        timings = _measure(problem, x_shape, weight_shape, choice.options, weight, prune)
        best = min(timings, key=timings.get)
        impl = next(o.impl for o in accepted if o.impl.name == best)
        source = "measured"
        plan_cache.store(plan_cache.make_key(problem, algos, backend_name, threads, prepared),
                         plan_cache.Entry(best, timings[best], timings))
        dispatch.select.cache_clear()  # conv2d(algo="auto") picks the measured choice up
    rows = []
    for o in choice.options:
        if o.reason is not None:
            status = "rejected"
        elif o.impl is impl:
            status = "chosen"
        elif mode == "measure" and source == "measured" and o.impl.name not in timings:
            status = "pruned"
        else:
            status = "accepted"
        rows.append(Row(o.impl.name, status, o.estimate, timings.get(o.impl.name),
                        o.reason or ""))
    request = (f"algo={'/'.join(algos) if algos else 'auto'}, "
               f"backend={backend_name or 'auto'}")
    explanation = Explanation(problem, request, mode, source, threads, tuple(rows))
    return ConvPlan(problem, impl, explanation, tuple(x_shape), tuple(weight_shape),
                    None if weight is None else w4)


def explain(x_shape: Sequence[int], weight_shape: Sequence[int], **kwargs) -> Explanation:
    """Why the dispatcher picks what it picks for a problem.

    Parameters
    ----------
    x_shape, weight_shape : sequence of int
        As :func:`plan`.
    **kwargs
        Every other argument of :func:`plan` (``padding``, ``stride``, ``dtype``, ``algo``,
        ``mode``, ...).

    Returns
    -------
    Explanation
        ``print()`` it for a table: the problem id and GFLOP, the request, mode and threads,
        the choice and where it came from (heuristic, plan cache, measured, only option),
        then one row per implementation with its status (chosen, accepted, rejected,
        pruned), the cost model's estimate, the measured time, and the reason for a
        rejection. ``.chosen`` is the chosen name, ``.rows`` the rows.

    Raises
    ------
    ValueError, TypeError, NotImplementedError, MemoryError
        As :func:`plan`.
    """
    return plan(x_shape, weight_shape, **kwargs).explain()


@dataclasses.dataclass(frozen=True)
class TuneResult:
    """One layer tuned by :func:`tune`: ``case`` (its id), ``impl`` (the winner), ``seconds``
    (its measured time), ``source`` ("measured", or "plan cache" when already known)."""
    case: str
    impl: str
    seconds: Optional[float]
    source: str


def tune(cases, *, remeasure: bool = False, prune: Optional[float] = PRUNE,
         progress=None) -> list[TuneResult]:
    """Measure the implementations for every layer of a table and remember the winners.

    Runs :func:`plan` with ``mode="measure"`` for each case, filling the on-disk plan cache
    that later ``algo="auto"`` calls read (``fastconv tune --suite NAME`` from the shell).

    Parameters
    ----------
    cases : iterable of fastconv.testing.Case
        Layers, e.g. ``fastconv.testing.SUITES["resnet50"]``.
    remeasure : bool, optional
        Time again layers the plan cache already holds. Default False.
    prune : float or None, optional
        As :func:`plan`.
    progress : callable, optional
        Called with each :class:`TuneResult` as it is made.

    Returns
    -------
    list of TuneResult
        Per case: ``case`` (its id), ``impl`` (the winner), ``seconds`` (its measured time),
        ``source`` ("measured", or "plan cache" when it was already known).

    Raises
    ------
    ValueError, TypeError, MemoryError
        As :func:`plan`, for a case that cannot be planned.
    """
    results = []
    for case in cases:
        p = plan(case.x_shape, case.weight_shape, dtype=case.dtype, mode="measure",
                 remeasure=remeasure, prune=prune, **case.kwargs)
        ex = p.explain()
        chosen = next(r for r in ex.rows if r.status == "chosen")
        result = TuneResult(case.id, p.impl.name, chosen.measured, ex.source)
        results.append(result)
        if progress is not None:
            progress(result)
    return results
