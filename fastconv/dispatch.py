"""Choosing an implementation for a problem.

Among the implementations the user allows that are available and accept the problem, the first
in the order of fastconv.cost.preference_key (backend, then the algorithm the problem favours)
runs; the fitted cost model, measured choices and explain() arrive with the dispatcher issue.
Choices are remembered per (problem, request).
"""
from __future__ import annotations

import functools
import warnings
from typing import Optional

from .cost import preference_key
from .problem import ConvProblem
from .registry import REFERENCE, REGISTRY, Implementation


def algo_names() -> tuple[str, ...]:
    return tuple(dict.fromkeys(impl.algo for impl in REGISTRY))


# Host arrays would have to travel to the GPU and back; until the cost model can weigh those
# transfers, backend="auto" never picks the cuda backend for them (device arrays go to it
# directly: fastconv.api asks for backend "cuda").
AUTO_SKIPS_CUDA = "backend='auto' does not ship host arrays to the GPU (ask for backend='cuda')"


def candidates(problem: ConvProblem, algos: Optional[tuple[str, ...]],
               backend: Optional[str]) -> list[tuple[Implementation, Optional[str]]]:
    """Every implementation the request allows, with None or the reason it cannot run."""
    return [(impl, impl.rejection(problem) or (AUTO_SKIPS_CUDA if backend is None
                                                and impl.backend == "cuda" else None))
            for impl in REGISTRY
            if (algos is None or impl.algo in algos)
            and (backend is None or impl.backend == backend)]


@functools.lru_cache(maxsize=1024)
def select(problem: ConvProblem, algos: Optional[tuple[str, ...]],
           backend: Optional[str]) -> Implementation:
    """The implementation to run; NotImplementedError (with every reason) when none can."""
    rank = preference_key(problem)
    options = sorted(candidates(problem, algos, backend), key=lambda option: rank(option[0]))
    for impl, why in options:
        if why is None:
            if impl is REFERENCE and algos is None and backend is None:
                warnings.warn(f"fastconv: no compiled implementation can run {problem.id}; "
                              "using the slow NumPy reference", RuntimeWarning, stacklevel=4)
            return impl
    wanted = " or ".join(filter(None, ["/".join(algos) if algos else None, backend])) or "any"
    reasons = "; ".join(f"{impl.name}: {why}" for impl, why in options) or "no such pair"
    raise NotImplementedError(f"{problem.id} is not supported by {wanted} implementation: "
                              f"{reasons}")
