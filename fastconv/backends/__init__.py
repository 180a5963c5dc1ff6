"""Backends: where kernels run. Availability is probed lazily and once per process, so that
``import fastconv`` never fails for a missing compiler, Numba or GPU."""
from __future__ import annotations

import functools
from typing import Optional


def _probe_numpy() -> Optional[str]:
    return None


def _probe_c() -> Optional[str]:
    from . import c
    return c.unavailable_reason()


def _probe_numba() -> Optional[str]:
    try:
        import numba  # noqa: F401
    except Exception as exc:  # ImportError, or a broken llvmlite
        return f"numba cannot be imported: {exc}"
    return None


def _probe_cuda() -> Optional[str]:
    try:
        from numba import cuda
    except Exception as exc:
        return f"numba.cuda cannot be imported: {exc}"
    try:
        if not cuda.is_available():
            return "no CUDA GPU or driver (numba.cuda.is_available() is False)"
    except Exception as exc:
        return f"CUDA probe failed: {exc}"
    return None


PROBES = {"numpy": _probe_numpy, "c": _probe_c, "numba": _probe_numba, "cuda": _probe_cuda}


@functools.cache
def unavailable_reason(backend: str) -> Optional[str]:
    """None when ``backend`` can run here, else the reason it cannot."""
    return PROBES[backend]()
