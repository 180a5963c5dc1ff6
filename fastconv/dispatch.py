"""Choosing an implementation for a problem: the one place the decision is made.

Order of concerns (as in scipy's choose_conv_method and oneDNN's dispatch list):
1. the request: the user's ``algo``/``backend``, or FASTCONV_ALGO / FASTCONV_BACKEND when the
   call says "auto" (process-wide forcing, for profiling);
2. feasibility: availability in this process and each implementation's supports();
3. guards, under "auto" only: accuracy guards (cost.guard) and host arrays kept off the GPU;
4. a measured choice from the persistent plan cache (fastconv.plan_cache) when one exists for
   this problem, request, thread count, CPU, ISA and version;
5. otherwise the lowest estimate of the fitted cost model (fastconv.cost); the NumPy
   reference only when nothing else can run.

``select`` remembers its answers in memory (an LRU keyed by problem, request and thread count),
so repeated calls pay one dictionary lookup. ``select.cache_clear()`` forgets them (after
changing FASTCONV_ALGO / FASTCONV_BACKEND, or the registry in tests) and bumps ``generation``,
which the API's remembered call signatures key on.
"""
from __future__ import annotations

import functools
import os
import warnings
from typing import NamedTuple, Optional

from . import cost, plan_cache, workspace
from . import threads as _threads
from .backends import c as c_backend
from .problem import ConvProblem
from .registry import NOT_IMPLEMENTED, REFERENCE, REGISTRY, Implementation
from .threads import get_num_threads


def algo_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(impl.algo for impl in REGISTRY))


def backend_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(impl.backend for impl in REGISTRY))


# Host arrays would have to travel to the GPU and back; the cost model has no transfer term yet
# (no GPU to fit it on), so backend="auto" never picks the cuda backend for them (device arrays
# go to it directly: fastconv.api asks for backend "cuda").
AUTO_SKIPS_CUDA = "backend='auto' does not ship host arrays to the GPU (ask for backend='cuda')"


class Option(NamedTuple):
    """One implementation considered for a problem."""
    impl: Implementation
    reason: Optional[str]      # None: it can run; else why not
    estimate: Optional[float]  # estimated seconds (accepted options only)


class Choice(NamedTuple):
    impl: Implementation
    source: str                # "heuristic", "plan cache", "only option", ...
    options: tuple[Option, ...]
    cached: Optional[plan_cache.Entry]


# ---- the request ---------------------------------------------------------------------------
ENV_ALGO, ENV_BACKEND = "FASTCONV_ALGO", "FASTCONV_BACKEND"


def forced_request() -> tuple[Optional[tuple[str, ...]], Optional[str]]:
    """(algos, backend) forced by FASTCONV_ALGO (a name or comma-separated names) and
    FASTCONV_BACKEND; None where unset or "auto". ValueError names a bad variable."""
    algos = os.environ.get(ENV_ALGO, "").strip()
    backend = os.environ.get(ENV_BACKEND, "").strip()
    forced_algos = None
    if algos and algos != "auto":
        forced_algos = tuple(a.strip() for a in algos.split(",") if a.strip())
        unknown = [a for a in forced_algos if a not in algo_names()]
        if unknown or not forced_algos:
            raise ValueError(f"{ENV_ALGO}={algos!r}: unknown algorithm; choose from "
                             f"{algo_names()}")
    if backend == "auto" or not backend:
        return forced_algos, None
    if backend not in backend_names():
        raise ValueError(f"{ENV_BACKEND}={backend!r}: unknown backend; choose from "
                         f"{backend_names()}")
    return forced_algos, backend


def effective_request(algos, backend):
    """The request after FASTCONV_ALGO / FASTCONV_BACKEND fill in what the call left "auto"."""
    if algos is not None and backend is not None:
        return algos, backend
    env_algos, env_backend = forced_request()
    return (algos if algos is not None else env_algos,
            backend if backend is not None else env_backend)


# ---- candidates ------------------------------------------------------------------------------
def candidates(problem: ConvProblem, algos: Optional[tuple[str, ...]],
               backend: Optional[str]) -> list[tuple[Implementation, Optional[str]]]:
    """Every implementation the request allows, with None or the reason it cannot run."""
    return [(option.impl, option.reason) for option in options(problem, algos, backend)]


def _rejection(impl: Implementation, problem: ConvProblem, algos, backend) -> Optional[str]:
    if backend is None and impl.backend == "cuda":
        # decided without probing for a GPU (importing numba.cuda takes most of a second)
        return NOT_IMPLEMENTED if impl.run is None else AUTO_SKIPS_CUDA
    why = impl.likely_rejection(problem)  # confirmed by choose() for the one chosen
    if why is None and algos is None:
        why = cost.guard(problem, impl.algo)
    return why


def options(problem: ConvProblem, algos: Optional[tuple[str, ...]],
            backend: Optional[str], prepared: bool = False) -> list[Option]:
    """The implementations the request allows: accepted ones by estimated cost (the reference
    last), then the rejected ones with their reasons, in registry order. ``prepared``: the
    estimates of a plan holding prepared weights (those with a prepare hook skip the weights'
    transform)."""
    accepted, rejected = [], []
    for impl in REGISTRY:
        if (algos is not None and impl.algo not in algos) or (backend is not None
                                                              and impl.backend != backend):
            continue
        why = _rejection(impl, problem, algos, backend)
        if why is None:
            estimate = cost.estimate(problem, impl.algo, impl.backend,
                                     prepared and impl.prepare is not None)
            accepted.append(Option(impl, None, estimate))
        else:
            rejected.append(Option(impl, why, None))
    accepted.sort(key=lambda o: (o.impl is REFERENCE, o.estimate))  # stable: ties keep order
    return accepted + rejected


def choose(problem: ConvProblem, algos: Optional[tuple[str, ...]], backend: Optional[str],
           threads: int, use_cache: bool = True, prepared: bool = False) -> Choice:
    """The choice for an already effective request, with every option and where it came from;
    NotImplementedError (with every reason) when nothing can run, MemoryError when only the
    workspace limit stands in the way. ``prepared``: for a plan made with its weights (a
    measurement of such plans comes first, then one of calls bringing their weights)."""
    opts = tuple(options(problem, algos, backend, prepared))
    while True:
        choice = _choose_among(problem, algos, backend, threads, use_cache, opts, prepared)
        # options() ranked on a cheap availability check (numba installed, not imported):
        # the full probe confirms the one chosen, and a failure rejects it and chooses again
        reason = choice.impl.reason
        if reason is None:
            return choice
        opts = tuple(Option(o.impl, reason, None) if o.impl is choice.impl else o
                     for o in opts)


def _choose_among(problem: ConvProblem, algos, backend, threads: int, use_cache: bool,
                  opts: tuple[Option, ...], prepared: bool = False) -> Choice:
    accepted = [o for o in opts if o.reason is None]
    if not accepted:
        wanted = " or ".join(filter(None, ["/".join(algos) if algos else None, backend])) or "any"
        reasons = "; ".join(f"{o.impl.name}: {o.reason}" for o in opts) or "no such pair"
        # only the workspace limit stands in the way: a memory refusal, before any allocation
        error = (MemoryError if opts and all(isinstance(o.reason, workspace.OverLimit)
                                             for o in opts) else NotImplementedError)
        raise error(f"{problem.id} is not supported by {wanted} implementation: {reasons}")
    entry = None
    if use_cache and len(accepted) > 1:
        for with_weights in ((True, False) if prepared else (False,)):
            entry = plan_cache.lookup(plan_cache.make_key(problem, algos, backend, threads,
                                                          with_weights))
            if entry is None:
                continue
            for option in accepted:
                if option.impl.name == entry.impl:
                    source = ("plan cache (measured, weights prepared)" if with_weights
                              else "plan cache (measured)")
                    return Choice(option.impl, source, opts, entry)
    source = "only option" if len(accepted) == 1 else "heuristic (cost model)"
    return Choice(accepted[0].impl, source, opts, entry)


@functools.lru_cache(maxsize=1024)
def _select(problem: ConvProblem, algos: Optional[tuple[str, ...]], backend: Optional[str],
            threads: int) -> Implementation:
    auto = algos is None and backend is None
    algos, backend = effective_request(algos, backend)
    impl = choose(problem, algos, backend, threads).impl
    if impl is REFERENCE and auto and algos is None and backend is None:
        warnings.warn(f"fastconv: no compiled implementation can run {problem.id}; "
                      "using the slow NumPy reference", RuntimeWarning, stacklevel=5)
    return impl


def select(problem: ConvProblem, algos: Optional[tuple[str, ...]],
           backend: Optional[str]) -> Implementation:
    """The implementation to run (remembered per problem, request and thread count);
    NotImplementedError (with every reason) when none can (MemoryError: the workspace limit)."""
    # threads._num_threads directly: this runs on every conv2d call (None until first asked)
    return _select(problem, algos, backend, _threads._num_threads or get_num_threads())


# Bumped whenever remembered choices are forgotten (select.cache_clear: FASTCONV_ALGO /
# FASTCONV_BACKEND changed, a measured plan stored, the workspace limit, the ISA cap or the C
# kernels' machine parameters changed): the API's and the plans' remembered call signatures
# (fastconv.known_calls) key on it, so none outlives a change.
generation = 0


def _cache_clear() -> None:
    global generation
    _select.cache_clear()
    generation += 1


select.cache_clear = _cache_clear
select.cache_info = _select.cache_info
# the workspace limit decides which kernels fit (workspace.over_limit), and the ISA cap and
# machine parameters the C kernels' workspaces and speed: forget on a change
workspace.on_limit_change(_cache_clear)
c_backend.on_isa_change(_cache_clear)
