"""fft:c against every installed peer on six large-kernel cases (float32, "same" padding k // 2).

    PYTHONPATH=. python bench/bench_fft.py [--threads 2] [--rounds 7] [--cases 1,5]

Every implementation runs once untimed, then ``--rounds`` rounds time each of them in turn
(interleaved, so a disturbance on the shared machine hits all of them alike), each with a burst
of ``--burst`` back-to-back calls (the first call of a burst may find the previous runtime's
spinning OpenMP / onnxruntime workers still on the cores; the others run warm); the table
shows each one's best call. Peers taking more than a second per call get two rounds of one
call. Peers, all float32 and all at ``--threads`` threads:

- scipy.signal.fftconvolve / oaconvolve: the cross-correlation as a convolution with the
  flipped kernel, mode="same", broadcast over (batch, C_out, C_in) and summed over C_in (one
  call, faster than a Python loop over channel pairs); scipy.fft's ``workers`` = threads.
- torch.nn.functional.conv2d / conv1d (torch.set_num_threads).
- onnxruntime: a one-node Conv model, CPUExecutionProvider, intra_op_num_threads = threads.
- cv2.filter2D (single-channel cases only): float32, BORDER_CONSTANT, centred anchor: the same
  zero-padded "same" correlation; OpenCV switches to a DFT for large kernels.

fft:c's time includes everything a call does today: plan (tile sizes, root tables), the kernel
spectra (the weight's FFT) and the data transforms; "apply" is the data part alone, what a call
costs once a plan object caches the spectra. Errors are normwise relative to the float64 oracle.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import fastconv  # noqa: E402
from fastconv import api, reference  # noqa: E402
from fastconv.backends import c as cb  # noqa: E402
from fastconv.threads import set_num_threads  # noqa: E402

# (label, n, c_in, c_out, spatial size, kernel)
CASES = [
    ("1024x1024 1->1 k31", 1, 1, 1, (1024, 1024), (31, 31)),
    ("512x512 3->16 k15", 1, 3, 16, (512, 512), (15, 15)),
    ("512x512 1->1 k63", 1, 1, 1, (512, 512), (63, 63)),
    ("4x 128x128 8->8 k21", 4, 8, 8, (128, 128), (21, 21)),
    ("conv1d 48000 k513", 1, 1, 1, (48000,), (513,)),
    ("conv1d 8x 16->32 16000 k65", 8, 16, 32, (16000,), (65,)),
]


def peers(x, w, threads):
    """name -> callable computing the same float32 output (n, c_out, *size), where installed."""
    out = {}
    dims = x.ndim - 2
    pad = [k // 2 for k in w.shape[2:]]
    wf = np.ascontiguousarray(w[(Ellipsis,) + (slice(None, None, -1),) * dims])
    axes = tuple(range(-dims, 0))
    try:
        import scipy.fft
        import scipy.signal
    except ImportError:
        pass
    else:
        xb, wb = x[:, None], wf[None]  # (n, 1, c_in, ...) and (1, c_out, c_in, ...)
        # mode="same" would crop the broadcast (c_out) axis to x's shape: take "full" and crop
        # the centred window, which is exactly padding k // 2 for odd k
        crop = (Ellipsis,) + tuple(slice(k // 2, k // 2 + s)
                                   for k, s in zip(w.shape[2:], x.shape[2:]))

        def scipy_fn(fn):
            def run():
                with scipy.fft.set_workers(threads):
                    return fn(xb, wb, mode="full", axes=axes)[crop].sum(axis=2)
            return run
        out["scipy.fftconvolve"] = scipy_fn(scipy.signal.fftconvolve)
        out["scipy.oaconvolve"] = scipy_fn(scipy.signal.oaconvolve)
    try:
        import torch
    except ImportError:
        pass
    else:
        torch.set_num_threads(threads)
        xt, wt = torch.from_numpy(x), torch.from_numpy(w)
        conv = torch.nn.functional.conv2d if dims == 2 else torch.nn.functional.conv1d

        def torch_run():
            with torch.no_grad():
                return conv(xt, wt, padding=pad).numpy()
        out["torch"] = torch_run
    try:
        import onnx  # noqa: F401  (onnx.helper below)
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        pass
    else:
        y_shape = [x.shape[0], w.shape[0], *x.shape[2:]]
        node = helper.make_node("Conv", ["x", "w"], ["y"], pads=pad + pad,
                                kernel_shape=list(w.shape[2:]))
        graph = helper.make_graph(
            [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)],
            [helper.make_tensor("w", TensorProto.FLOAT, w.shape, w.ravel())])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        sess = ort.InferenceSession(model.SerializeToString(), opts,
                                    providers=["CPUExecutionProvider"])
        out["onnxruntime"] = lambda: sess.run(None, {"x": x})[0]
    if x.shape[:2] == (1, 1) and w.shape[:2] == (1, 1):
        try:
            import cv2
        except ImportError:
            pass
        else:
            cv2.setNumThreads(threads)
            img = x[0, 0] if dims == 2 else x[0, 0][None, :]
            ker = w[0, 0] if dims == 2 else w[0, 0][None, :]
            out["cv2.filter2D"] = lambda: cv2.filter2D(
                img, -1, ker, borderType=cv2.BORDER_CONSTANT).reshape(x.shape)
    return out


def ours(x, w, threads):
    """fft:c through the public API (everything per call), and the apply step alone."""
    dims = x.ndim - 2
    conv = fastconv.conv2d if dims == 2 else fastconv.conv1d
    pad = w.shape[-1] // 2
    call = api.prepare(dims, x, w, None, 1, pad, 1, 1, "NCHW" if dims == 2 else "NCL", False)
    prep = cb.FFTPrepared(call.problem, call.w)
    y = np.empty(call.problem.out_shape, np.float32)

    def apply():
        prep.apply(call.x, None, y)
        return y
    return {"fft:c": lambda: conv(x, w, padding=pad, algo="fft", backend="c"),
            "fft:c apply": apply}, call.problem


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--burst", type=int, default=3, help="back-to-back calls per round")
    ap.add_argument("--cases", default="", help="comma-separated 1-based case numbers")
    ap.add_argument("--no-error", action="store_true", help="skip the float64 oracle")
    ap.add_argument("--sweep", type=int, default=0, metavar="N",
                    help="time case N over a grid of tile sizes against the cost model")
    args = ap.parse_args(argv)
    set_num_threads(args.threads)
    if args.sweep:
        return sweep(args.sweep, args.rounds, args.burst)
    picked = [int(c) for c in args.cases.split(",") if c] or range(1, len(CASES) + 1)
    print(f"fastconv {fastconv.__file__}; isa {cb.active_isa()}; threads {args.threads}; "
          f"best of {args.rounds} interleaved rounds x {args.burst} calls; times in ms")
    rows = []
    for idx in picked:
        label, n, ci, co, size, k = CASES[idx - 1]
        rng = np.random.default_rng(idx)
        x = rng.standard_normal((n, ci, *size)).astype(np.float32)
        w = rng.standard_normal((co, ci, *k)).astype(np.float32)
        mine, problem = ours(x, w, args.threads)
        fns = {**mine, **peers(x, w, args.threads)}
        results, first = {}, {}
        for name, fn in fns.items():  # warm-up (and the outputs for the error column)
            t0 = time.perf_counter()
            results[name] = fn()
            first[name] = time.perf_counter() - t0
        best = {name: float("inf") for name in fns}
        for r in range(args.rounds):
            for name, fn in fns.items():
                if first[name] > 1.0 and r >= 2:
                    continue  # peers taking seconds per call: two rounds of one call
                # a burst of back-to-back calls: the first may find the previous runtime's
                # spinning workers still on the cores, the next ones run warm
                for _ in range(args.burst if first[name] <= 1.0 else 1):
                    t0 = time.perf_counter()
                    fn()
                    best[name] = min(best[name], time.perf_counter() - t0)
        err = {}
        if not args.no_error:
            ref = (reference.conv2d if len(size) == 2 else reference.conv1d)(
                x, w, padding=k[-1] // 2)
            scale = np.linalg.norm(ref)
            for name, y in results.items():
                err[name] = float(np.linalg.norm(np.asarray(y, np.float64).reshape(ref.shape)
                                                 - ref) / scale)
        rows.append((idx, label, problem, cb.fft_tiles(problem), best, err))
        report_case(rows[-1])
    summary(rows)


def sweep(idx, rounds, burst):
    """fft:c (everything per call) for tilings around the cost model's choice: measured time
    (best call, tilings interleaved) next to the model's estimate, best first."""
    label, n, ci, co, size, k = CASES[idx - 1]
    rng = np.random.default_rng(idx)
    x = rng.standard_normal((n, ci, *size)).astype(np.float32)
    w = rng.standard_normal((co, ci, *k)).astype(np.float32)
    dims = len(size)
    call = api.prepare(dims, x, w, None, 1, k[-1] // 2, 1, 1, "NCHW" if dims == 2 else "NCL",
                       False)
    y = np.empty(call.problem.out_shape, np.float32)
    ffi, lib = cb._native()
    d = cb._fft_desc(call.problem)
    chosen = cb.fft_tiles(call.problem)
    smooth = sorted({2**a * 3**b * 5**c for a in range(1, 14) for b in range(3) for c in range(2)})

    def around(t, lo):  # even sizes with few factors 3 and 5, within a factor 2 of the choice
        return sorted({s for s in smooth if s >= lo and t / 2 <= s <= t * 2} | {t})
    ths = [1] if dims == 1 else around(chosen[0], k[0])
    tiles = [(th, tw) for th in ths for tw in around(chosen[1], k[-1])
             if lib.fc_fft_conv_cost(d, 4, th, tw) >= 0]
    best = {t: float("inf") for t in tiles}
    for t in tiles:
        cb.conv2d_fft(call.problem, call.x, call.w, None, y, t)  # warm-up, plan cache
    for _ in range(rounds):
        for t in tiles:
            for _ in range(burst):
                t0 = time.perf_counter()
                cb.conv2d_fft(call.problem, call.x, call.w, None, y, t)
                best[t] = min(best[t], time.perf_counter() - t0)
    print(f"[{idx}] {label}: cost model's choice {chosen[0]}x{chosen[1]}")
    for t in sorted(tiles, key=best.get)[:15]:
        mark = "  <- chosen" if t == chosen else ""
        print(f"    {t[0]:5d} x {t[1]:5d}  {best[t] * 1e3:9.3f} ms  model "
              f"{lib.fc_fft_conv_cost(d, 4, t[0], t[1]) / 1e6:9.3f} ms{mark}")
    rank = sorted(tiles, key=best.get).index(chosen) + 1 if chosen in best else None
    print(f"    chosen ranks {rank} of {len(tiles)}; "
          f"{best.get(chosen, float('nan')) / min(best.values()):.2f}x the best measured")


def report_case(row):
    idx, label, problem, tiles, best, err = row
    print(f"\n[{idx}] {label}  ({problem.id}, {problem.flops / 1e9:.2f} GFLOP direct; "
          f"fft tiles {tiles[0]}x{tiles[1]})")
    for name, t in best.items():
        e = f"  err {err[name]:.1e}" if name in err else ""
        print(f"    {name:20s} {t * 1e3:10.3f} ms{e}")


def summary(rows):
    print("\n| case | fft:c ms (apply) | best of scipy/torch/ort | ratio | cv2.filter2D | vs cv2 "
          "| err |")
    print("|---|---|---|---|---|---|---|")
    for idx, label, problem, tiles, best, err in rows:
        ours_t = best["fft:c"]
        pe = {k: v for k, v in best.items() if not k.startswith("fft:c") and k != "cv2.filter2D"}
        bname = min(pe, key=pe.get) if pe else None
        cv = best.get("cv2.filter2D")
        cells = [f"{idx} {label}", f"{ours_t * 1e3:.2f} ({best['fft:c apply'] * 1e3:.2f})",
                 f"{pe[bname] * 1e3:.2f} {bname}" if bname else "-",
                 f"{ours_t / pe[bname]:.2f}x" if bname else "-",
                 f"{cv * 1e3:.2f}" if cv else "-", f"{ours_t / cv:.2f}x" if cv else "-",
                 f"{err['fft:c']:.1e}" if err else "-"]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
