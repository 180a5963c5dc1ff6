"""GEMM and im2col:c throughput: fastconv's own GEMM next to NumPy's matmul (OpenBLAS), in the
same process, interleaved, best of N.

    python bench/bench_gemm.py                  # 1 and 2 threads, full sweep
    python bench/bench_gemm.py --threads 1 --quick
    python bench/bench_gemm.py --repeat 15      # more samples per entry (noisy machines)
    python bench/bench_gemm.py --clock cpu      # 1-thread rows by thread CPU time (loaded box)

Sections, per thread count:
  gemm    square 64..2048 and the conv-derived shapes (M x K x N = C_out x C_in*kh*kw x H*W of
          ResNet-50's layers), fastconv.backends.c.gemm vs numpy.matmul, float32
  1x1     three ResNet-50 1x1-convolution shapes through fastconv.conv2d(algo="im2col",
          backend="c") vs numpy.matmul on the same matrices (weight @ input as (C_in, H*W))
  skinny  1x1 convolutions of 1x1 to 4x4 images (classifier heads), batch 1-8, through
          fastconv.conv2d next to numpy.matmul on the same matrices and torch's conv2d
  3x3     ResNet-50's 3x3 layers (batch 1) through im2col:c (1 thread only) next to torch's
          conv2d (oneDNN, 1 thread) on the same arrays; the numpy column is matmul on the
          lowered shape alone (no lowering), for scale; "lower" is the share of our time
          spent lowering (fc_profile.input_transform).

Each thread count runs in its own subprocess, so NumPy's OpenBLAS gets the same count through
OPENBLAS_NUM_THREADS (read once when OpenBLAS loads) and fastconv through
FASTCONV_NUM_THREADS; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed (they slow OpenBLAS
on this machine). Timing: one sample is enough back-to-back calls to last >= 20 ms; ours and
numpy's samples alternate, with a pause before each (2 ms at 1 thread, 150 ms with threads) so
neither library's idle threads are still spinning when the other starts; the best sample of
each is reported.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

SQUARE = [64, 128, 256, 512, 1024, 2048]
# (M, K, N) of ResNet-50 (batch 1) lowered to GEMM: 1x1 layers (K = C_in) and 3x3 layers
# (K = 9 C_in), plus three 1x1 convolution shapes.
CONV_SHAPES = [
    (1024, 1024, 1024), (256, 64, 3136), (512, 2048, 196),
    (64, 256, 3136), (128, 512, 784), (256, 1024, 196), (2048, 512, 49),
    (64, 576, 3136), (128, 1152, 784), (256, 2304, 196), (512, 4608, 49),
]
# (M, K, N) = (C_out, C_in, H*W)
ONE_BY_ONE = [(1024, 1024, 1024), (256, 64, 3136), (512, 2048, 196)]
# name, C_in = C_out, input size, stride: ResNet-50's 3x3 convolutions (padding 1)
RESNET_3X3 = [
    ("conv2_x 64@56 s1", 64, 56, 1),
    ("conv3_x 128@28 s1", 128, 28, 1),
    ("conv4_x 256@14 s1", 256, 14, 1),
    ("conv5_x 512@7 s1", 512, 7, 1),
    ("conv3_1 128@56 s2", 128, 56, 2),
    ("conv4_1 256@28 s2", 256, 28, 2),
    ("conv5_1 512@14 s2", 512, 14, 2),
]


CLOCK = time.perf_counter  # --clock cpu (1 thread): time.thread_time, see main()


def sample(fn, min_time=0.02):
    """Seconds per call of one sample: enough back-to-back calls to last min_time."""
    reps = 1
    while True:
        t0 = CLOCK()
        for _ in range(reps):
            fn()
        dt = CLOCK() - t0
        if dt >= min_time or reps >= 1 << 16:
            return dt / reps
        reps = max(reps * 2, int(reps * min_time / max(dt, 1e-9)) + 1)


# Pause before each sample so the other library's idle threads have stopped spinning: GOMP
# spins ~0.3 ms before sleeping, OpenBLAS's thread server busy-yields for up to 2^28 cycles
# (~0.1 s) after a threaded call. With one thread neither has a pool, 2 ms is plenty.
PAUSE = {1: 0.002}
PAUSE_THREADED = 0.15


def best_of(fns, repeat, threads=1):
    """Best seconds per call of each function, their samples interleaved."""
    for fn in fns:
        fn()  # first calls (thread pools, page faults) stay out of the timing
    pause = PAUSE.get(threads, PAUSE_THREADED)
    best = [float("inf")] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            time.sleep(pause)
            best[i] = min(best[i], sample(fn))
    return best


def best_pair(ours, theirs, repeat, threads=1):
    return tuple(best_of([ours, theirs], repeat, threads))


def row(label, threads, flops, t_ours, t_numpy, note=""):
    go, gn = flops / t_ours / 1e9, flops / t_numpy / 1e9
    print(f"{label:<26} {threads:>3} {go:>9.1f} {gn:>9.1f} {go / gn:>7.2f}  {note}", flush=True)


def header(title):
    print(f"\n{title}")
    print(f"{'shape':<26} {'thr':>3} {'ours':>9} {'numpy':>9} {'ratio':>7}   (GFLOP/s)")


def child(threads: int, quick: bool, repeat: int, clock: str) -> None:
    global CLOCK
    if clock == "cpu" and threads == 1:
        CLOCK = time.thread_time

    import fastconv
    from fastconv.backends import c as cb

    fastconv.set_num_threads(threads)
    rng = np.random.default_rng(0)
    f32 = np.float32
    print(f"# fastconv {fastconv.__file__}, isa {cb.active_isa()}, blocking "
          f"{cb.gemm_blocking()}, threads {threads}, OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS')}, clock "
          f"{'thread CPU time' if CLOCK is time.thread_time else 'wall'}", flush=True)

    header(f"GEMM float32, {threads} thread(s): fastconv.backends.c.gemm vs numpy.matmul")
    squares = [s for s in SQUARE if not quick or s <= 1024]
    shapes = [(s, s, s) for s in squares] + (CONV_SHAPES[:4] if quick else CONV_SHAPES)
    for m, k, n in shapes:
        a, b = rng.standard_normal((m, k)).astype(f32), rng.standard_normal((k, n)).astype(f32)
        c1, c2 = np.empty((m, n), f32), np.empty((m, n), f32)
        to, tn = best_pair(lambda a=a, b=b, c1=c1: cb.gemm(a, b, out=c1),
                           lambda a=a, b=b, c2=c2: np.matmul(a, b, out=c2), repeat, threads)
        row(f"{m}x{k}x{n}", threads, 2 * m * n * k, to, tn)

    header(f"1x1 convolution, {threads} thread(s): conv2d(algo='im2col', backend='c') vs "
           "numpy.matmul (MxKxN = C_out x C_in x HW); note: the im2col:c kernel alone "
           "(prepared arguments, no API validation)")
    from fastconv.api import prepare
    for m, k, n in ONE_BY_ONE:
        side = round(n ** 0.5)
        x = rng.standard_normal((1, k, side, n // side)).astype(f32)
        w = rng.standard_normal((m, k, 1, 1)).astype(f32)
        y = np.empty((1, m, side, n // side), f32)
        wm, xm, ym = w.reshape(m, k), x.reshape(k, n), np.empty((m, n), f32)
        call = prepare(2, x, w, None, 1, 0, 1, 1, "NCHW", False)
        to, tk, tn = best_of(
            [lambda x=x, w=w, y=y: fastconv.conv2d(x, w, algo="im2col", backend="c", out=y),
             lambda call=call, y=y: cb.conv2d_im2col(call.problem, call.x, call.w, None, y),
             lambda wm=wm, xm=xm, ym=ym: np.matmul(wm, xm, out=ym)], repeat, threads)
        flops = 2 * m * n * k
        row(f"{m}x{k}x{n}", threads, flops, to, tn,
            f"kernel {flops / tk / 1e9:.1f} ({tn / tk:.2f})")

    skinny(rng, repeat, threads)
    if threads == 1:
        resnet_3x3(rng, repeat)


# (batch, C_in, side, C_out): 1x1 convolutions whose output has few pixels: classifier heads
# (a fully connected layer as a 1x1 convolution of a 1x1 image) and late 2x2 / 4x4 feature maps.
SKINNY = [(1, 1024, 1, 1000), (8, 1024, 1, 1000), (1, 2048, 1, 1000), (4, 2048, 1, 1000),
          (1, 512, 2, 512), (2, 256, 4, 512), (8, 512, 4, 256)]


def skinny(rng, repeat, threads):
    """1x1 convolutions of 1x1 to 4x4 images, batch 1-8, through fastconv.conv2d (algo="auto",
    the whole call) next to numpy.matmul of the same matrices (weight @ input as (C_in, N*H*W),
    no layout work) and torch.nn.functional.conv2d."""
    import fastconv
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    print(f"\nSmall-N products, {threads} thread(s): 1x1 convolution, fastconv.conv2d "
          "(auto) vs numpy.matmul on the same matrices, and torch" +
          (" (not installed)" if torch is None else "") + "; ms per call, ratio = ours / numpy")
    print(f"{'N x C_in x HxW -> C_out':<26} {'ours':>8} {'numpy':>8} {'torch':>8} {'ratio':>6}"
          "  chosen")
    for n, c_in, side, c_out in SKINNY:
        x = rng.standard_normal((n, c_in, side, side)).astype(np.float32)
        w = rng.standard_normal((c_out, c_in, 1, 1)).astype(np.float32)
        y = np.empty((n, c_out, side, side), np.float32)
        wm = w.reshape(c_out, c_in)
        xm = np.ascontiguousarray(x.transpose(1, 0, 2, 3).reshape(c_in, -1))
        ym = np.empty((c_out, xm.shape[1]), np.float32)
        fns = [lambda x=x, w=w, y=y: fastconv.conv2d(x, w, out=y),
               lambda wm=wm, xm=xm, ym=ym: np.matmul(wm, xm, out=ym)]
        if torch is not None:
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)
            fns.append(lambda tx=tx, tw=tw: torch.nn.functional.conv2d(tx, tw))
        times = best_of(fns, repeat, threads)
        tt = f"{times[2] * 1e3:8.4f}" if torch is not None else f"{'-':>8}"
        chosen = fastconv.plan(x.shape, w.shape).impl.name
        print(f"{n}x{c_in}x{side}x{side} -> {c_out:<10} {times[0] * 1e3:8.4f} "
              f"{times[1] * 1e3:8.4f} {tt} {times[0] / times[1]:6.2f}  {chosen}", flush=True)


def lowering_share(x, w, stride, repeat):
    """Fraction of im2col:c's time spent lowering (fc_profile input_transform / total, best
    sample of each), from the raw kernel with a profile attached."""
    from fastconv.api import prepare
    from fastconv.backends import c as cb
    ffi = cb._native()[0]
    call = prepare(2, x, w, None, stride, 1, 1, 1, "NCHW", False)
    y = np.empty(call.problem.out_shape, x.dtype)
    size_fn, run_fn = cb._im2col_functions(x.dtype)
    d = cb.conv2d_desc(call.problem, call.x, call.w, None, y)
    ws = np.empty(size_fn(d, 256 << 20) + 64, np.uint8)
    d.profile = prof = ffi.new("fc_profile *")
    lower, total = float("inf"), float("inf")
    for _ in range(max(repeat, 5) + 1):
        prof.total = prof.input_transform = 0.0
        cb.check_status(run_fn(d, cb.pointer(call.x), cb.pointer(call.w), ffi.NULL,
                               cb.pointer(y), cb.pointer(ws), ws.nbytes), "im2col:c")
        lower, total = min(lower, prof.input_transform), min(total, prof.total)
    return lower / total


def resnet_3x3(rng, repeat):
    """ResNet-50's 3x3 layers through im2col:c next to torch.nn.functional.conv2d (oneDNN) on
    the same arrays, 1 thread each; numpy's matmul on the lowered M x K x N alone for scale."""
    import fastconv
    f32 = np.float32
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        torch = None
    print("\nResNet-50 3x3 layers, batch 1, 1 thread: im2col:c (fastconv.conv2d) vs "
          "torch.nn.functional.conv2d" + (" (not installed)" if torch is None else "") +
          "; numpy = matmul on the lowered M x K x N only; lower = share of im2col:c's time "
          "spent lowering (fc_profile)")
    print(f"{'layer':<20} {'ours':>7} {'torch':>7} {'ratio':>6} {'numpy':>7} {'lower':>6}  "
          "(GFLOP/s)  M x K x N")
    for name, ch, size, stride in RESNET_3X3:
        x = rng.standard_normal((1, ch, size, size)).astype(f32)
        w = rng.standard_normal((ch, ch, 3, 3)).astype(f32)
        out_size = (size + 2 - 3) // stride + 1
        y = np.empty((1, ch, out_size, out_size), f32)
        m, k, n = ch, 9 * ch, out_size * out_size
        wm = w.reshape(m, k)
        low = rng.standard_normal((k, n)).astype(f32)
        ym = np.empty((m, n), f32)
        fns = [lambda x=x, w=w, y=y, s=stride: fastconv.conv2d(
                   x, w, padding=1, stride=s, algo="im2col", backend="c", out=y),
               lambda wm=wm, low=low, ym=ym: np.matmul(wm, low, out=ym)]
        if torch is not None:
            tx, tw = torch.from_numpy(x), torch.from_numpy(w)
            fns.append(lambda tx=tx, tw=tw, s=stride: torch.nn.functional.conv2d(
                tx, tw, padding=1, stride=s))
        times = best_of(fns, repeat)
        flops = 2 * m * n * k
        go, gn = flops / times[0] / 1e9, flops / times[1] / 1e9
        gt = flops / times[2] / 1e9 if torch is not None else float("nan")
        share = lowering_share(x, w, stride, repeat)
        print(f"{name:<20} {go:>7.1f} {gt:>7.1f} {go / gt:>6.2f} {gn:>7.1f} {share:>6.0%}  "
              f"{m}x{k}x{n}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--quick", action="store_true", help="fewer shapes and samples")
    ap.add_argument("--repeat", type=int, default=None, help="samples per entry (default 9, "
                    "quick 4)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: time 1-thread runs by the thread's CPU time (both libraries run "
                    "in the calling thread), so time slices lost to other processes on a "
                    "shared machine do not count; threaded runs always use the wall clock")
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    repeat = args.repeat or (4 if args.quick else 9)
    if args.child is not None:
        child(args.child, args.quick, repeat, args.clock)
        return
    for t in args.threads:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), FASTCONV_NUM_THREADS=str(t))
        for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS"):
            env.pop(var, None)
        cmd = [sys.executable, os.path.abspath(__file__), "--child", str(t),
               "--repeat", str(repeat), "--clock", args.clock] + (["--quick"] if args.quick
                                                                   else [])
        subprocess.run(cmd, env=env, check=True)


if __name__ == "__main__":
    main()
