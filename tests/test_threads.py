"""fastconv inside multi-threaded programs: concurrent calls are correct, and the C kernels
release the GIL so Python threads running them overlap."""
import os
import threading
import time

import numpy as np
import pytest

import fastconv
from fastconv.testing import SMOKE, case_rng, make_inputs, normwise_error, oracle, tolerance

C_IMPLS = [i for i in fastconv.implementations() if i.backend == "c"]


def _run_threads(target, count):
    errors, threads = [], []

    def guarded(i):
        try:
            target(i)
        except BaseException as exc:  # reported in the main thread
            errors.append(exc)
    for i in range(count):
        threads.append(threading.Thread(target=guarded, args=(i,)))
        threads[-1].start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_eight_threads_different_problems():
    """8 threads, each looping over its own slice of problems and implementations, every result
    checked against the oracle computed beforehand."""
    jobs = []
    for case in SMOKE:
        x, w, b = make_inputs(case, case_rng(case))
        ref = oracle(case, x, w, b)
        for impl in fastconv.implementations():
            if impl.available and impl.backend in ("c", "numba") \
                    and impl.rejection(case.problem) is None:
                jobs.append((case, impl, x, w, b, ref))
    assert len(jobs) >= 8

    def work(i):
        for case, impl, x, w, b, ref in jobs[i::8] * 3:
            y = case.conv(x, w, b, algo=impl.algo, backend=impl.backend, **case.kwargs)
            err = normwise_error(y, ref)
            assert err <= tolerance(case.dtype, impl.algo), (impl.name, case.id, err)
    _run_threads(work, 8)


def test_eight_threads_one_problem_shared_inputs():
    """8 threads convolving the same read-only arrays (the same cached dispatch decision and
    the same weights), each into its own output."""
    case = SMOKE[0]
    x, w, b = make_inputs(case, case_rng(case))
    for a in (x, w, b):
        if a is not None:
            a.flags.writeable = False
    ref = oracle(case, x, w, b)
    # whichever implementation "auto" picks: the loosest tolerance of the CPU algorithms
    LOOSEST = max(tolerance(case.dtype, i.algo) for i in fastconv.implementations()
                  if i.backend == "c")
    outs = [np.full(case.out_shape, np.nan, case.dtype) for _ in range(8)]

    def work(i):
        for _ in range(20):
            case.conv(x, w, b, out=outs[i], **case.kwargs)
            assert normwise_error(outs[i], ref) <= LOOSEST
    _run_threads(work, 8)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two cores")
@pytest.mark.skipif(not C_IMPLS or not C_IMPLS[0].available, reason="C extension not built")
def test_c_kernels_release_the_gil():
    """While one Python thread is inside a C kernel, another keeps running: the cffi calls drop
    the GIL. Asserted on the longest pause of a spinning thread during calls of about 0.2 s
    each (a GIL-holding kernel would pause it for a whole call), not on throughput, which a
    busy machine's other processes decide."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((64, 32, 3, 3)).astype(np.float32)
    previous = fastconv.get_num_threads()
    fastconv.set_num_threads(1)
    try:
        def kernel_seconds(x, out):
            best = float("inf")
            for _ in range(2):
                start = time.perf_counter()
                fastconv.conv2d(x, w, algo="direct", backend="c", out=out)
                best = min(best, time.perf_counter() - start)
            return best

        def inputs(n):
            return (rng.standard_normal((n, 32, 64, 64)).astype(np.float32),
                    np.empty((n, 64, 62, 62), np.float32))
        x, out = inputs(1)
        n = min(200, max(1, int(np.ceil(0.2 / kernel_seconds(x, out)))))
        x, out = inputs(n)
        call_seconds = kernel_seconds(x, out)
        done, pauses = threading.Event(), [0.0]

        def spin():
            last = time.perf_counter()
            while not done.is_set():
                now = time.perf_counter()
                pauses[0] = max(pauses[0], now - last)
                last = now
        spinner = threading.Thread(target=spin)
        spinner.start()
        try:
            for _ in range(2):
                fastconv.conv2d(x, w, algo="direct", backend="c", out=out)
        finally:
            done.set()
            spinner.join()
        assert pauses[0] < call_seconds / 2, (
            f"a Python thread paused {pauses[0]:.3f} s during C calls of {call_seconds:.3f} s")
    finally:
        fastconv.set_num_threads(previous)


@pytest.mark.parametrize("algo", ["fft", "winograd", "im2col", "direct"])
def test_eight_threads_one_shared_plan(algo):
    """One ConvPlan (weights prepared once: kernel spectra, Winograd transform) used by 8
    threads at once, each with its own input and output: no shared scratch between them."""
    from fastconv.testing import c2
    case = c2(1, 8, 20, 20, 8, 3, 3, padding=1)
    impls = [i for i in fastconv.implementations()
             if i.algo == algo and i.backend == "c" and i.available]
    if not impls:
        pytest.skip(f"{algo}:c is not available")
    x0, w, b = make_inputs(case, case_rng(case))
    plan = fastconv.plan(case.x_shape, case.weight_shape, padding=1, algo=algo, backend="c",
                         weight=w)
    rng = np.random.default_rng(5)
    xs = [rng.standard_normal(case.x_shape).astype(np.float32) for _ in range(8)]
    refs = [oracle(case, x, w, None) for x in xs]

    def work(i):
        out = np.full(case.out_shape, np.nan, np.float32)
        for _ in range(25):
            plan(xs[i], out=out)
            err = normwise_error(out, refs[i])
            assert err <= tolerance(case.dtype, algo), (i, err)
    _run_threads(work, 8)
