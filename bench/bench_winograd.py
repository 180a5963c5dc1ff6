"""winograd:c against torch and onnxruntime on the 3x3 stride-1 layers of ResNet-50 and VGG-16.

    PYTHONPATH=. python bench/bench_winograd.py [--batch 1,8] [--threads 1,2] [--layers vgg16.conv3]
        [--rounds 3] [--burst 2] [--profile] [--sweep-block 12,48,96,0] [--tiles 2,4]

Per layer, batch and thread count: effective GFLOP/s (direct-convolution FLOPs / best time) of
winograd:c (a whole call: kernel transform included, as today), winograd:c's apply alone (the
call once a plan caches the kernel transform), im2col:c, torch (oneDNN) and onnxruntime (MLAS),
all float32 NCHW at the same thread count, timed interleaved (fastconv.timing.interleaved_best);
then ratio = t(winograd:c) / min(t(torch), t(onnxruntime)), the geometric mean of the ratios and
the total times over the rows per thread count and batch (the target: a total <= 0.6x).
--profile adds winograd:c's per-phase milliseconds (fc_profile).
--sweep-block times apply alone for the given block sizes in tiles (0: the kernel's rule).
--isa-cap avx2 also times the whole call with the C kernels capped at AVX2 beside the uncapped
one (the ratio < 1: the wider ISA is faster).
--tiles also times the whole call with each given output tile size forced (F(2x2, 3x3),
F(4x4, 3x3)) instead of the kernel's tile-size rule, and the apply of a plan made for each:
the columns f2, f4 and a2, a4 (effective GFLOP/s); with --check, the error of each.
"""
from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from fastconv import conv2d  # noqa: E402
from fastconv.backends import c as cb  # noqa: E402
from fastconv.peers import peer_runners  # noqa: E402
from fastconv.testing import SUITES, make_inputs, normwise_error, case_rng  # noqa: E402
from fastconv.threads import set_num_threads  # noqa: E402
from fastconv.timing import interleaved_best  # noqa: E402
from fastconv import reference  # noqa: E402


def layers():
    """The 3x3 stride-1 rows of ResNet-50 and every row of VGG-16."""
    return ([c for c in SUITES["resnet50"] if c.name.endswith(".3x3")]
            + list(SUITES["vgg16"]))


def profile_ms(case, x, w, b, threads, calls=3):
    ffi, _ = cb._native()
    prof = ffi.new("fc_profile *")
    problem = case.problem
    y = np.empty(case.out_shape, np.float32)
    with cb.profile_into(prof):
        for _ in range(calls):
            cb.conv2d_winograd(problem, x, w, b, y)
    return {k: 1e3 * getattr(prof, k) / prof.calls for k in
            ("kernel_transform", "input_transform", "multiply", "output_transform", "total")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--layers", default="", help="comma-separated substrings of layer names")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--burst", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-im2col", action="store_true")
    ap.add_argument("--check", action="store_true", help="print winograd:c's error vs the oracle")
    ap.add_argument("--sweep-block", default="")
    ap.add_argument("--tiles", default="", help="comma-separated output tile sizes to force")
    ap.add_argument("--isa-cap", default="", metavar="ISA",
                    help="also time the whole call with the C kernels capped at ISA (e.g. avx2) "
                    "next to the uncapped one (columns cap / full, and their time ratio)")
    args = ap.parse_args()
    import torch
    wanted = [s for s in args.layers.split(",") if s]
    cases = [c for c in layers() if not wanted or any(s in c.name for s in wanted)]
    tiles = [int(t) for t in args.tiles.split(",") if t]
    ratios = {}
    totals = {}  # (threads, batch) -> [t(wino), t(apply), t(faster peer)] summed over the rows
    for threads in [int(t) for t in args.threads.split(",")]:
        set_num_threads(threads)
        torch.set_num_threads(threads)
        for n in [int(b) for b in args.batch.split(",")]:
            print(f"\n== threads {threads}, batch {n} ==")
            print(f"{'layer':28s} {'wino':>7s} {'apply':>7s} {'im2col':>7s} {'torch':>7s} "
                  f"{'ort':>7s}  ratio  (effective GFLOP/s)")
            for case in cases:
                case = case.replace(n=n)
                x, w, b = make_inputs(case, case_rng(case))
                problem = case.problem
                y = np.empty(case.out_shape, np.float32)
                prepared = cb.WinogradPrepared(problem, w)
                fns = {"wino": lambda: conv2d(x, w, b, padding=1, algo="winograd", out=y),
                       "apply": lambda: prepared.apply(x, b, y)}
                if not args.no_im2col:
                    fns["im2col"] = lambda: conv2d(x, w, b, padding=1, algo="im2col", out=y)
                for name, fn in peer_runners(case, x, w, b, threads,
                                             names=("torch", "onnxruntime")).items():
                    fns["ort" if name == "onnxruntime" else name] = fn
                if args.sweep_block:
                    for nb in [int(s) for s in args.sweep_block.split(",")]:
                        p = cb.WinogradPrepared(problem, w, block_tiles=nb)
                        fns[f"nb{nb}"] = (lambda p=p: p.apply(x, b, y))
                if args.isa_cap:
                    def capped():
                        cb.set_isa(args.isa_cap)
                        try:
                            cb.conv2d_winograd(problem, x, w, b, y)
                        finally:
                            cb.set_isa(None)
                    fns["full"] = lambda: cb.conv2d_winograd(problem, x, w, b, y)
                    fns["cap"] = capped
                for m in tiles:
                    fns[f"f{m}"] = (lambda m=m: cb.conv2d_winograd(problem, x, w, b, y, tile=m))
                    p = cb.WinogradPrepared(problem, w, tile=m)
                    fns[f"a{m}"] = (lambda p=p: p.apply(x, b, y))
                best = interleaved_best(fns, rounds=args.rounds, burst=args.burst)
                gf = {k: problem.flops / t / 1e9 for k, t in best.items()}
                peer = min(best.get("torch", math.inf), best.get("ort", math.inf))
                ratio = best["wino"] / peer
                ratios[(threads, n, case.name)] = ratio
                tot = totals.setdefault((threads, n), [0.0, 0.0, 0.0])
                tot[0] += best["wino"]
                tot[1] += best["apply"]
                tot[2] += peer
                cols = " ".join(f"{gf.get(k, float('nan')):7.1f}"
                                for k in ("wino", "apply", "im2col", "torch", "ort"))
                line = f"{case.name:28s} {cols}  {ratio:5.2f}"
                if args.sweep_block:
                    line += "  " + " ".join(f"{k}:{v:.0f}" for k, v in gf.items()
                                            if k.startswith("nb"))
                if args.isa_cap:
                    line += (f"  {cb.cpu_isa()} {gf['full']:.0f} {args.isa_cap} {gf['cap']:.0f}"
                             f" t {cb.cpu_isa()}/{args.isa_cap} "
                             f"{best['full'] / best['cap']:.2f}")
                if tiles:
                    line += "  " + " ".join(f"{k}{m}:{gf[f'{k}{m}']:.0f}"
                                            for k in "fa" for m in tiles)
                if args.profile:
                    pr = profile_ms(case, x, w, b, threads)
                    line += ("  ms: kt {kernel_transform:.2f} in {input_transform:.2f} "
                             "mul {multiply:.2f} out {output_transform:.2f} "
                             "tot {total:.2f}").format(**pr)
                if args.check:
                    ref = reference.conv2d(x.astype(np.float64), w.astype(np.float64),
                                           b.astype(np.float64), padding=1)
                    for m in tiles or [0]:
                        cb.conv2d_winograd(problem, x, w, b, y, tile=m)
                        line += f"  err{f' f{m}' if m else ''} {normwise_error(y, ref):.1e}"
                print(line, flush=True)
    if totals:
        print("\ntotal time over the rows (target: winograd:c <= 0.6x the faster peer's):")
        for (threads, n), (t_wino, t_apply, t_peer) in totals.items():
            print(f"  threads {threads} batch {n}: winograd:c {t_wino * 1e3:8.2f} ms "
                  f"({t_wino / t_peer:.2f}x), plan-cached apply {t_apply * 1e3:8.2f} ms "
                  f"({t_apply / t_peer:.2f}x), faster peer per row {t_peer * 1e3:8.2f} ms")
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios.values()) / len(ratios))
        worst = max(ratios, key=ratios.get)
        print(f"\ngeomean ratio t(winograd:c) / min(t(torch), t(ort)): {geo:.3f} over "
              f"{len(ratios)} rows; worst {ratios[worst]:.2f} at {worst}")


if __name__ == "__main__":
    main()
