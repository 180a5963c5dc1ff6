"""direct:c against torch (oneDNN) on dense layers, at 1 and 2 threads.

    PYTHONPATH=. python bench/bench_direct.py [--threads 1,2] [--rounds 7] [--only conv1d]
                                              [--profile]

Rows: the ResNet-50 3x3 layers (stride 1 and the stride-2 ones) and conv1 (7x7 stride 2) at
batch 1, res2's 3x3 in NHWC, and the 1-D audio filter bank (batch 8, 16 -> 32 channels, kernel
9, length 16000). Ours is the public call ``conv2d(..., algo="direct", backend="c", out=y)``
(validation, descriptor, per-call weight and input re-layout included); torch is
``torch.nn.functional.conv2d`` / ``conv1d`` from ``fastconv.peers``. The two are timed
interleaved (``fastconv.timing.interleaved_best``) with both libraries at the same thread
count, so a disturbance on the shared machine hits both alike; GFLOP/s are direct-convolution
FLOPs over the best call. ``--profile`` adds fc_profile's split of our best-of-five call
(weight re-layout, input packing, the loops).
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import fastconv  # noqa: E402
from fastconv import api, peers, testing, timing  # noqa: E402
from fastconv.backends import c as cb  # noqa: E402


def cases() -> list[testing.Case]:
    rows = [c for c in testing.SUITES["resnet50"]
            if c.name.endswith((".3x3", ".3x3_s2")) or c.name == "resnet50.conv1"]
    rows.append(testing.c2(1, 64, 56, 56, 64, 3, 3, padding=1, layout="NHWC",
                           name="resnet50.res2.3x3.nhwc"))
    rows.append(testing.c1(8, 16, 16000, 32, 9, padding=4, name="audio.conv1d_k9"))
    return rows


def profile_split(case: testing.Case, x, w, b, y) -> str:
    """'pack w / pack x / loops' milliseconds of the fastest of five profiled kernel calls."""
    ffi, lib = cb._native()
    size_fn, blocked_fn, _ = cb._direct_functions(case.problem.np_dtype)
    call = api.prepare(case.spatial_dims, x, w, b, case.stride, case.padding, case.dilation,
                       case.groups, case.layout, case.flip)  # logical NCHW views, as the API
    x, w, b, y = call.x, call.w, call.bias, api.logical_output(call.problem, y)
    d = cb.conv2d_desc(call.problem, x, w, b, y)
    nbytes = size_fn(d, fastconv.workspace.get_workspace_limit())
    if not nbytes:
        return "w-vectorised kernel (no phases)"
    ws = fastconv.workspace.scratch(nbytes)
    best = None
    for _ in range(5):
        prof = ffi.new("fc_profile *")
        d.profile = prof
        cb.check_status(blocked_fn(d, cb.pointer(x), cb.pointer(w), cb.pointer(b), cb.pointer(y),
                                   cb.pointer(ws), ws.nbytes), "direct:c")
        if best is None or prof.total < best[0]:
            best = (prof.total, prof.kernel_transform, prof.input_transform, prof.multiply)
    return "pack w {:.3f} / pack x {:.3f} / loops {:.3f} ms".format(*(t * 1e3 for t in best[1:]))


def run(threads: int, rounds: int, only: str, profile: bool) -> None:
    fastconv.set_num_threads(threads)
    print(f"\ndirect:c vs torch, float32, {threads} thread(s), isa {cb.active_isa()}, "
          f"best of {rounds} interleaved rounds")
    head = f"{'layer':26} {'problem':28} {'GFLOP':>6} {'ours':>7} {'torch':>7} {'ratio':>6}"
    print(head + ("  profile (ours)" if profile else ""))
    print("-" * len(head))
    for case in cases():
        if only and only not in case.name:
            continue
        rng = testing.case_rng(case)
        x, w, b = testing.make_inputs(case, rng)
        prob = case.problem
        y = np.empty(case.out_shape, dtype=x.dtype)

        def ours():
            return case.conv(x, w, b, algo="direct", backend="c", out=y, **case.kwargs)
        torch_run = peers.peer_runner("torch", case, x, w, b, threads)
        ref = peers.peer_output("torch", case, torch_run())
        got = ours()
        err = np.linalg.norm(got - ref) / np.linalg.norm(ref)
        best = timing.interleaved_best({"ours": ours, "torch": torch_run}, rounds=rounds)
        gf = {k: timing.gflops(prob.flops, t) for k, t in best.items()}
        line = (f"{case.name:26} {prob.id:28} {prob.flops / 1e9:6.2f} {gf['ours']:7.1f} "
                f"{gf['torch']:7.1f} {gf['ours'] / gf['torch']:5.2f}x")
        if err > 1e-4:
            line += f"  ERROR vs torch {err:.2g}"
        if profile:
            line += "  " + profile_split(case, x, w, b, y)
        print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--only", default="", help="substring of the layer names to run")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    print(f"# fastconv {fastconv.__file__}")
    for t in (int(s) for s in args.threads.split(",")):
        run(t, args.rounds, args.only, args.profile)


if __name__ == "__main__":
    main()
