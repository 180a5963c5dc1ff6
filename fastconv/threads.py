"""The number of threads every fastconv kernel uses: one process-wide setting.

Default: ``FASTCONV_NUM_THREADS`` if set, else every core this process may run on. C kernels
receive the count in their problem descriptor and run their parallel loops on fastconv's own
thread pool (the calling thread plus count - 1 workers that sleep between calls), so setting it
never touches other libraries' pools (OpenMP, MKL, OpenBLAS, onnxruntime).
"""
from __future__ import annotations

import numbers
import os

_num_threads: int | None = None


def _default_threads() -> int:
    env = os.environ.get("FASTCONV_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            raise ValueError(f"FASTCONV_NUM_THREADS must be a positive integer, got {env!r}")
        if value < 1:
            raise ValueError(f"FASTCONV_NUM_THREADS must be a positive integer, got {env!r}")
        return value
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def get_num_threads() -> int:
    """The number of threads every fastconv kernel uses.

    Returns
    -------
    int
        The value of the last :func:`set_num_threads`; else ``FASTCONV_NUM_THREADS``; else
        every core this process may run on (its CPU affinity).

    Raises
    ------
    ValueError
        ``FASTCONV_NUM_THREADS`` is set to something other than a positive integer.
    """
    global _num_threads
    if _num_threads is None:
        _num_threads = _default_threads()
    return _num_threads


def set_num_threads(n: int) -> None:
    """Set the number of threads every fastconv kernel uses, process-wide.

    C kernels receive the count in their problem descriptor and run on fastconv's own thread
    pool, so this never touches other libraries' thread pools. Remembered dispatcher
    choices are per thread count.

    Parameters
    ----------
    n : int
        Threads, >= 1. With several dask or other worker threads per machine, give each
        kernel one thread.

    Raises
    ------
    TypeError
        ``n`` is not an int.
    ValueError
        ``n`` < 1.
    """
    global _num_threads
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _num_threads = int(n)
