"""Backends: where kernels run. Availability is probed lazily and once per process, so that
``import fastconv`` never fails for a missing compiler, Numba or GPU."""
from __future__ import annotations

import functools
import importlib.util
import sys
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


# Importing Numba takes 0.3-0.8 s. The dispatcher ranks numba implementations on whether Numba
# is installed (found, not imported) and confirms the one it chooses with the full probe, so a
# process whose choices are all C kernels never imports it.
QUICK_PROBES = {"numba": "numba"}  # backend -> the package its cheap probe looks for


@functools.cache
def _installed_reason(package: str) -> Optional[str]:
    try:
        found = importlib.util.find_spec(package) is not None
    except (ImportError, ValueError) as exc:
        return f"{package} cannot be found: {exc}"
    return None if found else f"{package} cannot be imported: it is not installed"


def likely_unavailable_reason(backend: str) -> Optional[str]:
    """``unavailable_reason(backend)`` without importing the backend's package where a cheap
    check exists (numba: is it installed?); a None from the cheap check still needs the full
    probe before the backend runs. Once the package is imported, the full answer."""
    package = QUICK_PROBES.get(backend)
    if package is None or package in sys.modules:
        return unavailable_reason(backend)
    return _installed_reason(package)
