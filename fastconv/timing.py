"""Wall-clock timing that the CLI, the benchmarks and (later) the dispatcher's measure mode share.

The first call (JIT compilation, planning, page faults on fresh buffers) is never timed; the
figure reported is the best of several runs, the least disturbed by the other core's load.
"""
from __future__ import annotations

import time
from typing import Callable


def best_time(fn: Callable[[], object], *, min_repeats: int = 3, max_repeats: int = 30,
              min_total: float = 0.2, max_total: float = 3.0) -> float:
    """Seconds of the fastest of several calls of ``fn`` after one untimed warm-up call.

    Repeats at least ``min_repeats`` times and until ``min_total`` seconds have been spent,
    but at most ``max_repeats`` times, and stops early once ``max_total`` seconds are spent.
    """
    fn()
    best = float("inf")
    spent = 0.0
    for i in range(max_repeats):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best = min(best, elapsed)
        spent += elapsed
        if spent >= max_total or (i + 1 >= min_repeats and spent >= min_total):
            break
    return best


def gflops(flops: int, seconds: float) -> float:
    return flops / seconds / 1e9


# Seconds slept before each burst of interleaved timing. OpenMP runtimes' workers spin after a
# parallel region (libgomp: GOMP_SPINCOUNT = 300000 rounds, about 10 ms here), and numba's
# parallel kernels (its "omp" threading layer) and torch run on OpenMP: a C kernel of fastconv's
# own pool timed right after them shares the cores with those spinners. Measured, direct:c on
# 64x56x56 3x3, 2 threads, bursts of 3 alternating with direct:numba: best of 15 calls 2.24 ms
# (1.16 alone), so the dispatcher's measured choice went to numba.
SETTLE_SECONDS = 0.02
# Shortest burst, in seconds: a burst repeats the call until it has lasted this long (and at
# least ``burst`` calls). After the settle sleep the pool's other threads are asleep, and on a
# virtual machine their wake-up can outlast a small layer's call several times: with bursts of
# 3 calls a 14x14 depthwise layer that runs in 0.047 ms back to back was timed at 0.19 ms (one
# thread, cold caches). Bursts of a few milliseconds end warm.
MIN_BURST_SECONDS = 0.005
MAX_BURST_CALLS = 200


def interleaved_best(fns: dict[str, Callable[[], object]], *, rounds: int = 5, burst: int = 3,
                     slow: float = 1.0, settle: float = SETTLE_SECONDS,
                     min_burst: float = MIN_BURST_SECONDS) -> dict[str, float]:
    """name -> seconds of the fastest call, timing the callables in turn rather than one after
    the other, so a disturbance on a shared machine hits all of them alike.

    Each callable runs once untimed, then ``rounds`` rounds give each a burst of back-to-back
    calls (at least ``burst``, and until the burst has lasted ``min_burst`` seconds, at most
    MAX_BURST_CALLS), each burst after ``settle`` seconds of sleep (the previous library's
    spinning worker threads go quiet; see SETTLE_SECONDS), so the first calls of a burst meet
    idle threads and the later ones run warm. Callables whose first call took more than
    ``slow`` seconds get two rounds of one call.
    """
    times = interleaved_times(fns, rounds=rounds, burst=burst, slow=slow, settle=settle,
                              min_burst=min_burst)
    return {name: min(samples) for name, samples in times.items()}


def interleaved_times(fns: dict[str, Callable[[], object]], *, rounds: int = 5, burst: int = 3,
                      slow: float = 1.0, settle: float = SETTLE_SECONDS,
                      min_burst: float = MIN_BURST_SECONDS) -> dict[str, list[float]]:
    """name -> every timed call's seconds, in order, of :func:`interleaved_best`'s schedule
    (the raw samples benchmark reports keep)."""
    first = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - start
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(rounds):
        for name, fn in fns.items():
            is_slow = first[name] > slow
            if is_slow and r >= 2:
                continue
            if settle > 0 and len(fns) > 1:
                time.sleep(settle)
            calls, spent = 0, 0.0
            while calls < (1 if is_slow else burst) or (
                    not is_slow and spent < min_burst and calls < MAX_BURST_CALLS):
                start = time.perf_counter()
                fn()
                elapsed = time.perf_counter() - start
                samples[name].append(elapsed)
                calls, spent = calls + 1, spent + elapsed
    return samples
