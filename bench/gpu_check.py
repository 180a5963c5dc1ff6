#!/usr/bin/env python
"""Check and time every cuda implementation on a GPU, next to cuDNN; one table.

    python bench/gpu_check.py           # a CUDA GPU: ResNet-50 3x3 / 1x1 layers at batch 32
                                        # and the large-kernel cases (< 5 minutes)
    python bench/gpu_check.py --tiny    # anywhere: tiny shapes under Numba's CUDA simulator
                                        # (checks only; its times mean nothing)

Every row: the implementation's normwise error against a reference (torch.nn.functional.conv2d
on cuDNN in float32 with TF32 off when torch with CUDA is present, else the float64 NumPy oracle
on the first image of the batch) and its tolerance from fastconv.testing; the median time of
``--repeats`` calls after ``--warmup`` untimed ones (JIT compilation included there), measured
with CUDA events around the public API call on device-resident inputs (so no host transfers);
GFLOP/s from the direct definition's FLOP count; the ratio to cuDNN timed the same way.
Inputs are torch CUDA tensors when torch is present (fastconv takes them through
__cuda_array_interface__, without copies), else Numba device arrays.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tiny", action="store_true",
                   help="tiny shapes under the CUDA simulator (NUMBA_ENABLE_CUDASIM=1)")
    p.add_argument("--repeats", type=int, default=20, help="timed calls per row (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first")
    p.add_argument("--budget", type=float, default=2.0,
                   help="seconds of timed calls per row at most (fewer repeats beyond it)")
    p.add_argument("--only", default="", help="substring filter on implementation names")
    return p.parse_args(argv)


def cases(tiny: bool):
    from fastconv.testing import MODEL_LAYERS, c1, c2
    if tiny:
        return [c2(2, 3, 9, 10, 4, 3, 3, padding=1, name="tiny.3x3"),
                c2(2, 8, 5, 6, 6, 1, 1, name="tiny.1x1"),
                c2(1, 4, 9, 9, 4, 3, 3, stride=2, padding=1, groups=2, name="tiny.s2.g2"),
                c2(1, 2, 16, 16, 2, 7, 7, padding=3, name="tiny.k7"),
                c1(1, 2, 24, 3, 5, padding=2, name="tiny.conv1d")]
    resnet = [case.replace(n=32) for case in MODEL_LAYERS
              if case.name.startswith("resnet50.") and case.kernel in ((3, 3), (1, 1))]
    large = [c2(1, 1, 1024, 1024, 1, 31, 31, padding=15, name="large.1024.k31"),
             c2(1, 3, 512, 512, 16, 15, 15, padding=7, name="large.512.3to16.k15")]
    return resnet + large


class Torch:
    """cuDNN through torch (float32, TF32 off), or None when torch or its GPU is missing."""

    @staticmethod
    def load(tiny: bool):
        if tiny:
            return None
        try:
            import torch
        except ImportError:
            return None
        if not torch.cuda.is_available():
            return None
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
        return torch


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.tiny:  # before anything imports numba.cuda
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
    # small tiny-shape grids would print a NumbaPerformanceWarning per launch
    os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np
    from numba import cuda

    from fastconv import implementations
    from fastconv.backends import numba_cuda
    from fastconv.testing import normwise_error, oracle, tolerance

    if not cuda.is_available():
        print("no CUDA GPU (numba.cuda.is_available() is False); try --tiny", file=sys.stderr)
        return 2
    torch = Torch.load(args.tiny)
    impls = [i for i in implementations() if i.backend == "cuda" and args.only in i.name]
    if numba_cuda.simulator():
        mode = "CUDA simulator (no timings)"
    else:
        name = cuda.get_current_device().name
        mode = name.decode() if isinstance(name, bytes) else str(name)
    print(f"fastconv gpu_check: {mode}; peer: "
          f"{'torch ' + torch.__version__ + ' cuDNN fp32, TF32 off' if torch else 'none'}")

    def timed(fn):
        """Median milliseconds over CUDA events (warm-up calls untimed)."""
        for _ in range(args.warmup):
            fn()
        cuda.synchronize()
        times, spent = [], 0.0
        for _ in range(args.repeats):
            start, end = cuda.event(), cuda.event()
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(cuda.event_elapsed_time(start, end))
            spent += times[-1] / 1e3
            if spent > args.budget and len(times) >= 3:
                break
        return statistics.median(times)

    header = (f"{'layer':52s} {'impl':12s} {'error':>9s} {'tol':>7s} {'ok':>4s} {'ms':>9s} "
              f"{'GFLOP/s':>9s} {'cuDNN ms':>9s} {'vs cuDNN':>8s}")
    print(header)
    print("-" * len(header))
    failures, t_start = 0, time.perf_counter()
    for case in cases(args.tiny):
        p = case.problem
        rng = np.random.default_rng(0)
        x = rng.standard_normal(case.x_shape).astype(case.dtype)
        w = rng.standard_normal(case.weight_shape).astype(case.dtype)
        b = rng.standard_normal(case.c_out).astype(case.dtype)
        peer_ms, ref, ref_images = None, None, case.n
        if torch is not None and case.spatial_dims == 2 and case.layout == "NCHW":
            xt, wt, bt = (torch.from_numpy(a).cuda() for a in (x, w, b))
            pad = (p.padding[0], p.padding[2])
            peer = lambda: torch.nn.functional.conv2d(xt, wt, bt, p.stride, pad,  # noqa: E731
                                                      p.dilation, p.groups)
            ref = peer().cpu().numpy().astype(np.float64)
            peer_ms = timed(peer)
            inputs = (xt, wt, bt)
        else:
            inputs = tuple(cuda.to_device(a) for a in (x, w, b))
        if ref is None:  # the oracle on the first image keeps big batches cheap on the host
            ref_images = 1
            ref = oracle(case.replace(n=1), x[:1], w, b)
        for impl in impls:
            why = impl.rejection(p)
            if why:
                print(f"{case.id[:52]:52s} {impl.name:12s} skipped: {why}")
                continue
            call = lambda: case.conv(*inputs, **case.kwargs, algo=impl.algo,  # noqa: E731
                                     backend="cuda")
            y = call()
            y_host = (y.cpu().numpy() if hasattr(y, "cpu") else
                      y.copy_to_host() if hasattr(y, "copy_to_host") else np.asarray(y))
            err = normwise_error(y_host[:ref_images], ref)
            tol = tolerance(case.dtype, impl.algo)
            ok = err <= tol
            failures += not ok
            if args.tiny or numba_cuda.simulator():
                ms_text = gf_text = ratio_text = "-"
            else:
                ms = timed(call)
                ms_text, gf_text = f"{ms:9.3f}", f"{p.flops / ms / 1e6:9.1f}"
                ratio_text = f"{peer_ms / ms:8.2f}" if peer_ms else "-"
            peer_text = f"{peer_ms:9.3f}" if peer_ms else "-"
            print(f"{case.id[:52]:52s} {impl.name:12s} {err:9.2e} {tol:7.0e} "
                  f"{'yes' if ok else 'NO':>4s} {ms_text:>9s} {gf_text:>9s} {peer_text:>9s} "
                  f"{ratio_text:>8s}", flush=True)
    print(f"{failures} failure(s); {time.perf_counter() - t_start:.1f} s"
          + ("; geometry: simulator blocks" if numba_cuda.simulator() else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
