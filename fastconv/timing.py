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
