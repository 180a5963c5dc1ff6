"""Shared pytest set-up: the CUDA simulator when there is no GPU, and a deterministic hypothesis
profile."""
import ctypes.util
import os
import subprocess
import sys

import pytest


# ---- CUDA: a real GPU when there is one, else Numba's simulator -------------------------------
# The cuda backend's tests must run on every machine, CI included, which has no GPU. numba-cuda
# reads NUMBA_ENABLE_CUDASIM once, when numba.cuda is first imported, and nothing imports it
# before this file (fastconv probes backends lazily). So: respect an explicit setting (0 or 1);
# otherwise turn the simulator on when no CUDA driver library exists (the cheap, common CI
# case), or when a short subprocess finds no usable GPU behind the driver. A subprocess, so
# that this process's numba.cuda is imported only once the choice is made.
def _choose_cuda_simulator() -> bool:
    if "NUMBA_ENABLE_CUDASIM" in os.environ:
        return os.environ["NUMBA_ENABLE_CUDASIM"] not in ("", "0")
    if ctypes.util.find_library("cuda") is not None:
        try:
            probe = subprocess.run(
                [sys.executable, "-c", "from numba import cuda; print(cuda.is_available())"],
                capture_output=True, text=True, timeout=120)
            if probe.stdout.strip().endswith("True"):
                return False
        except (OSError, subprocess.SubprocessError):
            pass
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    return True


CUDA_SIMULATOR = _choose_cuda_simulator()
if CUDA_SIMULATOR:
    # The simulator runs each GPU thread as a Python thread and polls them from the launching
    # thread; a shorter GIL switch interval than the default 5 ms halves its run time.
    sys.setswitchinterval(5e-4)


def pytest_report_header(config):
    return ("cuda: Numba CUDA simulator (NUMBA_ENABLE_CUDASIM=1)" if CUDA_SIMULATOR
            else "cuda: real GPU (or numba.cuda unavailable)")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need real hardware (timings, device memory, cuDNN peers)."""
    if CUDA_SIMULATOR:
        skip = pytest.mark.skip(reason="needs a real CUDA GPU (running under the simulator)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


# ---- hypothesis -------------------------------------------------------------------------------
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is a test extra; test_properties skips without it
    pass
else:
    # "ci" (the default): derandomized, no example database, so every run draws the same
    # examples and a failure reproduces from the log alone. "dev" explores further:
    # HYPOTHESIS_PROFILE=dev pytest tests/test_properties.py
    settings.register_profile("ci", max_examples=80, deadline=None, derandomize=True,
                              database=None, print_blob=True,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile("dev", max_examples=1000, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---- shared fixtures ---------------------------------------------------------------------------
def _c_isas():
    """The ISAs this CPU runs, for tests that run a C kernel on each (none without the build)."""
    try:
        from fastconv.backends import c as c_backend
        if c_backend.unavailable_reason() is None:
            return c_backend.supported_isas()
    except ImportError:
        pass
    return [pytest.param(None, marks=pytest.mark.skip(reason="C extension not built"))]


@pytest.fixture(params=_c_isas())
def isa(request):
    """Each ISA this CPU runs in turn, as the C kernels' upper limit (fc_set_isa_limit)."""
    from fastconv.backends import c as c_backend
    c_backend.set_isa(request.param)
    yield request.param
    c_backend.set_isa(None)


@pytest.fixture
def isolated_dispatch(tmp_path, monkeypatch):
    """A private plan cache (tmp_path, yielded), no FASTCONV_ALGO/BACKEND forcing, and fresh
    in-memory choices around the test: nothing read from or written to the user's cache."""
    from fastconv import dispatch
    monkeypatch.setenv("FASTCONV_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("FASTCONV_ALGO", raising=False)
    monkeypatch.delenv("FASTCONV_BACKEND", raising=False)
    dispatch.select.cache_clear()
    yield tmp_path
    dispatch.select.cache_clear()
