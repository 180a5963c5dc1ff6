"""First call of each numba implementation in a fresh process (warm Numba cache expected):
PYTHONPATH=. NUMBA_CACHE_DIR=/tmp/nbcache python bench/numba_first_call.py"""
import time

t0 = time.perf_counter()
import numpy as np  # noqa: E402

import fastconv  # noqa: E402

t_import = time.perf_counter() - t0
x = np.random.rand(1, 16, 32, 32).astype(np.float32)
w = np.random.rand(16, 16, 3, 3).astype(np.float32)
print(f"import fastconv: {t_import:.2f}s")
for algo in ("direct", "im2col", "fft"):
    t = time.perf_counter()
    fastconv.conv2d(x, w, padding=1, algo=algo, backend="numba")
    first = time.perf_counter() - t
    t = time.perf_counter()
    fastconv.conv2d(x, w, padding=1, algo=algo, backend="numba")
    print(f"{algo}:numba first call {first:.3f}s, second {time.perf_counter() - t:.4f}s")
from fastconv.backends.numba_cpu import numba_cache_status  # noqa: E402
print("cache:", numba_cache_status())
