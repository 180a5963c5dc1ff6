"""numba implementations vs torch (and direct:c) in one process, 2 threads, best of N.

PYTHONPATH=. NUMBA_CACHE_DIR=/tmp/nbcache python bench/numba_vs_torch.py [--f64] [filter]
"""
import sys

import numpy as np

import fastconv
from fastconv.registry import BY_NAME
from fastconv.testing import MODEL_LAYERS, c2
from fastconv.timing import best_time, gflops

THREADS = 2
fastconv.set_num_threads(THREADS)
try:
    import torch
    torch.set_num_threads(THREADS)
except ImportError:
    torch = None

CASES = [c for c in MODEL_LAYERS if c.name.startswith("resnet50.") and c.name != "resnet50.conv1"]
CASES.append(c2(1, 3, 256, 256, 8, 15, 15, padding=7, name="img3to8.15x15"))
args = [a for a in sys.argv[1:] if not a.startswith("--")]
if args:
    CASES = [c for c in CASES if any(a in c.name for a in args)]
IMPLS = ["direct:numba", "im2col:numba", "fft:numba", "direct:c"]

rows = []
for case in CASES:
    if "--f64" in sys.argv:
        case = case.replace(dtype="float64")
    p = case.problem
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape).astype(case.dtype)
    w = rng.standard_normal(case.weight_shape).astype(case.dtype)
    b = rng.standard_normal(case.c_out).astype(case.dtype)
    out = np.empty(case.out_shape, case.dtype)
    res = {}
    if torch is not None:
        xt, wt, bt = map(torch.from_numpy, (x, w, b))
        pad = p.padding
        f = lambda: torch.nn.functional.conv2d(
            torch.nn.functional.pad(xt, (pad[2], pad[3], pad[0], pad[1]))
            if len(set(pad)) > 1 else xt,
            wt, bt, stride=p.stride, padding=0 if len(set(pad)) > 1 else pad[0],
            dilation=p.dilation, groups=p.groups)
        with torch.no_grad():
            res["torch"] = best_time(f)
    for name in IMPLS:
        impl = BY_NAME[name]
        if impl.rejection(p) is not None:
            res[name] = float("nan")
            continue
        if name == "direct:c" and p.flops > 3e8:
            res[name] = float("nan")   # the placeholder naive C kernel: too slow to time here
            continue
        res[name] = best_time(lambda: case.conv(x, w, b, **case.kwargs, algo=impl.algo,
                                                backend=impl.backend, out=out))
    line = f"{case.name:28s} {p.id:34s}" + "".join(
        f" {k}={v*1e3:8.2f}ms({gflops(p.flops, v):5.1f})" for k, v in res.items())
    print(line, flush=True)
