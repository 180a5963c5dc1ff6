"""direct:c on depthwise layers and single-channel image filtering against torch, onnxruntime
and OpenCV, float32, batch 1 and 8.

    PYTHONPATH=. python bench/bench_depthwise.py [--threads 2] [--rounds 7] [--batches 1,8]
                                                 [--only dw7x7,filter]

Layers: every MobileNetV2 depthwise row of fastconv.testing.SUITES["mobilenet_v2"] (3x3, stride
1 and 2, 112..7 px), the ConvNeXt 7x7 (NHWC, 56 px) and RepLKNet 31x31 rows of
SUITES["large_kernel"] (the 31x31 also at 28 px), and the 512x512 7x7
single-channel filter of SUITES["image_filter"]. Peers come from fastconv.peers (the same calls
as every other benchmark); all run at ``--threads`` threads and are timed interleaved with ours
(fastconv.timing.interleaved_best: best call of ``--rounds`` rounds of bursts). Our time is a
full public-API call, fastconv.conv2d(..., algo="direct", backend="c", out=out). The totals sum
the best times over the rows every listed library ran; "x torch" is our time over torch's
(target: <= 0.7) and "x ort" over onnxruntime's (target: <= 1).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import fastconv  # noqa: E402
from fastconv import peers, timing  # noqa: E402
from fastconv.testing import SUITES, case_rng, make_inputs, normwise_error, oracle  # noqa: E402
from fastconv.threads import set_num_threads  # noqa: E402

PEERS = ("torch", "onnxruntime", "cv2")


def layers():
    """The depthwise and filtering rows at batch 1 (batch set later)."""
    rows = [c for c in SUITES["mobilenet_v2"] if ".dw" in c.name]
    for c in SUITES["large_kernel"]:
        if "dw7x7" in c.name:
            rows.append(c)
        elif "dw31" in c.name:
            rows += [c.replace(size=(28, 28), name=c.name.replace("stage1", "stage1@28px")), c]
    rows += [c for c in SUITES["image_filter"] if c.name == "filter.gray512.7x7"]
    return rows


def ours(case, x, w, b):
    out = np.empty(case.out_shape, dtype=case.dtype)

    def run():
        return fastconv.conv2d(x, w, b, **case.kwargs, algo="direct", backend="c", out=out)
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--burst", type=int, default=3)
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--only", default="", help="comma-separated substrings of layer names")
    ap.add_argument("--check", action="store_true", help="also print our error vs the oracle")
    args = ap.parse_args(argv)
    set_num_threads(args.threads)
    only = [s for s in args.only.split(",") if s]
    names = ("ours",) + PEERS
    header = (f"{'layer':38s} {'N':>2s} {'MFLOP':>8s} " + " ".join(f"{n[:6]:>7s}" for n in names)
              + f" {'x torch':>8s} {'x ort':>6s}")
    print(f"GFLOP/s, float32, {args.threads} threads, best of {args.rounds} interleaved rounds")
    print(header)
    totals = {}
    for batch in (int(s) for s in args.batches.split(",")):
        for base in layers():
            if only and not any(s in base.name for s in only):
                continue
            case = base.replace(n=batch)
            x, w, b = make_inputs(case, case_rng(case))
            fns = {"ours": ours(case, x, w, b)}
            fns.update(peers.peer_runners(case, x, w, b, args.threads, names=PEERS))
            if args.check:
                err = normwise_error(fns["ours"](), oracle(case, x, w, b))
            best = timing.interleaved_best(fns, rounds=args.rounds, burst=args.burst)
            flops = case.problem.flops
            cells = " ".join(f"{timing.gflops(flops, best[n]):7.1f}" if n in best else
                             f"{'-':>7s}" for n in names)
            rt = best["ours"] / best["torch"] if "torch" in best else float("nan")
            ro = best["ours"] / best["onnxruntime"] if "onnxruntime" in best else float("nan")
            print(f"{base.name:38s} {batch:2d} {flops / 1e6:8.1f} {cells} {rt:8.2f} {ro:6.2f}"
                  + (f"  err {err:.1e}" if args.check else ""), flush=True)
            if "cv2" not in best:  # depthwise rows: the "x torch" target's total is over these
                for n in ("ours", "torch", "onnxruntime"):
                    totals[(batch, n)] = totals.get((batch, n), 0.0) + best[n]
    for batch in sorted({bt for bt, _ in totals}):
        t = {n: totals[(batch, n)] for n in ("ours", "torch", "onnxruntime")}
        print(f"total depthwise, N={batch}: ours {t['ours'] * 1e3:.2f} ms, torch "
              f"{t['torch'] * 1e3:.2f} ms, onnxruntime {t['onnxruntime'] * 1e3:.2f} ms; "
              f"x torch {t['ours'] / t['torch']:.2f}, x ort {t['ours'] / t['onnxruntime']:.2f}")


if __name__ == "__main__":
    main()
