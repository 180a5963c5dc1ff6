"""The C kernels' parallel loops (csrc/parallel.c): threads claim chunks of work dynamically, so
which thread computes which chunk changes from call to call; the results must not."""
import multiprocessing
import os

import numpy as np
import pytest

import fastconv
from fastconv.testing import c2, case_rng, make_inputs, normwise_error, oracle, tolerance

C_IMPLS = [i for i in fastconv.implementations() if i.backend == "c" and i.available]

# Big enough that every C implementation cuts it into many chunks at 2 threads.
CASE = c2(2, 24, 30, 30, 40, 3, 3, padding=1)
DEPTHWISE = c2(2, 32, 40, 40, 32, 3, 3, padding=1, groups=32)


@pytest.fixture
def threads():
    previous = fastconv.get_num_threads()
    yield fastconv.set_num_threads
    fastconv.set_num_threads(previous)


@pytest.mark.parametrize("case", [CASE, DEPTHWISE], ids=["dense", "depthwise"])
@pytest.mark.parametrize("impl", C_IMPLS, ids=lambda i: i.name)
def test_repeated_calls_bit_identical(impl, case, threads):
    """Ten calls at 2 threads give the same bits: no chunk's result depends on the thread
    that ran it or on the order chunks were taken in."""
    if impl.rejection(case.problem):
        pytest.skip(impl.rejection(case.problem))
    threads(2)
    x, w, b = make_inputs(case, case_rng(case))
    first = case.conv(x, w, b, algo=impl.algo, backend=impl.backend, **case.kwargs)
    assert normwise_error(first, oracle(case, x, w, b)) <= tolerance(case.dtype, impl.algo)
    for _ in range(9):
        again = case.conv(x, w, b, algo=impl.algo, backend=impl.backend, **case.kwargs)
        np.testing.assert_array_equal(again, first)


@pytest.mark.parametrize("count", [1, 3, 8])
@pytest.mark.parametrize("impl", C_IMPLS, ids=lambda i: i.name)
def test_more_threads_than_cores(impl, count, threads):
    """Thread counts above the core count (workers started on demand) and odd ones."""
    if impl.rejection(CASE.problem):
        pytest.skip(impl.rejection(CASE.problem))
    threads(count)
    x, w, b = make_inputs(CASE, case_rng(CASE))
    y = CASE.conv(x, w, b, algo=impl.algo, backend=impl.backend, **CASE.kwargs)
    assert normwise_error(y, oracle(CASE, x, w, b)) <= tolerance(CASE.dtype, impl.algo)


def _child_error(queue):
    try:
        fastconv.set_num_threads(2)
        x, w, b = make_inputs(CASE, case_rng(CASE))
        errors = []
        for impl in C_IMPLS:
            if impl.rejection(CASE.problem) is None:
                y = CASE.conv(x, w, b, algo=impl.algo, backend=impl.backend, **CASE.kwargs)
                errors.append(normwise_error(y, oracle(CASE, x, w, b)) /
                              tolerance(CASE.dtype, impl.algo))
        queue.put(max(errors))
    except BaseException as exc:  # reported by the parent
        queue.put(repr(exc))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_runs_threaded_kernels(threads):
    """A child forked after the pool's threads started (a multiprocessing worker, a dask
    process) has only the forking thread: its first parallel call starts workers afresh
    instead of waiting for threads that do not exist."""
    threads(2)
    x, w, b = make_inputs(CASE, case_rng(CASE))
    fastconv.conv2d(x, w, b, algo="im2col", backend="c", padding=1)  # the pool is running
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_error, args=(queue,), daemon=True)
    child.start()
    child.join(120)
    if child.is_alive():  # hung in a parallel loop (as libgomp's teams did after a fork)
        child.kill()
        child.join()
    assert child.exitcode == 0, "the forked child did not finish"
    result = queue.get(timeout=5)
    assert isinstance(result, float), result
    assert result <= 1.0


def _compiler():
    import shutil
    import sysconfig
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(cc.split()[0])


@pytest.mark.skipif(_compiler() is None, reason="needs a C compiler (tests/c/pool_check.c)")
@pytest.mark.parametrize("count", [2, 3])
def test_pool_runs_every_chunk_once(count, tmp_path):
    """Back-to-back parallel loops whose chunk counts go up and down (tests/c/pool_check.c):
    a thread that found one job's chunks all claimed must not claim a chunk of the next one
    with the old job's state (it would run twice and the caller would never wake)."""
    import pathlib
    import subprocess
    root = pathlib.Path(__file__).resolve().parents[1]
    exe = tmp_path / "pool_check"
    subprocess.run([_compiler(), "-std=c99", "-O2", "-pthread", f"-I{root / 'csrc'}",
                    str(root / "tests" / "c" / "pool_check.c"), str(root / "csrc" / "parallel.c"),
                    "-o", str(exe)], check=True, capture_output=True)
    try:
        result = subprocess.run([str(exe), str(count), "100000"], capture_output=True,
                                text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("pool_check hung (a lost wake-up or a chunk counted twice)")
    assert result.returncode == 0, result.stderr
