"""Each numba algorithm against its C counterpart (target: <= 2x its time), same process,
interleaved, 2 threads, torch not imported (OpenMP pools fight). Prints time ratios numba / C.

PYTHONPATH=. NUMBA_CACHE_DIR=/tmp/nbcache python bench/numba_vs_c.py [--rounds N] [--algos fft,...]
    [filter ...]
"""
import sys

import numpy as np

import fastconv
from fastconv.registry import BY_NAME
from fastconv.testing import SUITES
from fastconv.timing import interleaved_best

THREADS = 2
fastconv.set_num_threads(THREADS)
assert "torch" not in sys.modules

ALGOS = ("direct", "im2col", "fft")
CASES = [c for c in SUITES["resnet50"]
         if c.kernel in ((1, 1), (3, 3))]
CASES += [c for c in SUITES["image_filter"] if c.c_in == 3]
argv = sys.argv[1:]
rounds = 5
if "--rounds" in argv:
    i = argv.index("--rounds")
    rounds = int(argv[i + 1])
    del argv[i:i + 2]
if "--algos" in argv:
    i = argv.index("--algos")
    ALGOS = tuple(argv[i + 1].split(","))
    del argv[i:i + 2]
if argv:
    CASES = [c for c in CASES if any(a in c.name for a in argv)]

print(f"{'layer':34s}" + "".join(f"{a + ' c ms':>13s}{a + ' nb ms':>13s}{'ratio':>7s}"
                                 for a in ALGOS))
for case in CASES:
    p = case.problem
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape).astype(case.dtype)
    w = rng.standard_normal(case.weight_shape).astype(case.dtype)
    b = rng.standard_normal(case.c_out).astype(case.dtype)
    line = f"{case.name:34s}"
    for algo in ALGOS:
        fns = {}
        for backend in ("c", "numba"):
            impl = BY_NAME[f"{algo}:{backend}"]
            if impl.rejection(p) is None:
                out = np.empty(case.out_shape, case.dtype)
                fns[backend] = (lambda impl=impl, out=out: case.conv(
                    x, w, b, **case.kwargs, algo=impl.algo, backend=impl.backend, out=out))
        t = interleaved_best(fns, rounds=rounds) if len(fns) == 2 else {}
        if t:
            line += (f"{t['c'] * 1e3:13.2f}{t['numba'] * 1e3:13.2f}"
                     f"{t['numba'] / t['c']:7.2f}")
        else:
            line += f"{'-':>13s}{'-':>13s}{'-':>7s}"
    print(line, flush=True)
