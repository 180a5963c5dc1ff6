"""The ``fastconv`` command: ``fastconv info`` and ``fastconv bench``."""
from __future__ import annotations

import argparse
import platform
import sys
from typing import Callable, Optional

import numpy as np

from . import __version__, get_num_threads, implementations, set_num_threads
from .testing import Case, c1, c2, case_rng, make_inputs
from .timing import best_time, gflops

# The quick suite: one layer of each kind a user meets (dense 3x3, 1x1, deep 3x3 on a small
# image, the strided 7x7 stem, a depthwise 3x3, a 1-D audio conv), small enough that every
# implementation and peer finishes in well under a minute on two cores.
QUICK_SUITE: tuple[Case, ...] = (
    c2(1, 64, 56, 56, 64, 3, 3, padding=1, name="resnet50.res2.3x3"),
    c2(1, 256, 56, 56, 64, 1, 1, name="resnet50.res2.1x1_reduce"),
    c2(1, 512, 7, 7, 512, 3, 3, padding=1, name="resnet50.res5.3x3"),
    c2(1, 3, 224, 224, 64, 7, 7, stride=2, padding=3, name="resnet50.conv1"),
    c2(1, 144, 56, 56, 144, 3, 3, padding=1, groups=144, name="mobilenet_v2.b2.dw"),
    c1(8, 16, 16000, 32, 9, padding=4, name="audio.conv1d_k9"),
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def c_backend_summary() -> str:
    from .backends import c
    reason = c.unavailable_reason()
    if reason:
        return f"unavailable ({reason})"
    return (f"ISA {c.active_isa()} (CPU supports {', '.join(c.supported_isas())}), "
            f"OpenMP {'on' if c.have_openmp() else 'off (one thread)'}")


def numba_summary() -> str:
    try:
        import numba
    except Exception as exc:
        return f"not importable ({exc})"
    from .backends.numba_cpu import numba_cache_status
    return (f"{numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads available; "
            f"cache {numba_cache_status()}")


def cmd_info(args) -> int:
    print(f"fastconv {__version__}  (numpy {np.__version__}, Python {platform.python_version()})")
    print(f"CPU:      {cpu_model()} ({platform.machine()})")
    print(f"C:        {c_backend_summary()}")
    print(f"Numba:    {numba_summary()}")
    print(f"Threads:  {get_num_threads()}  (set_num_threads / FASTCONV_NUM_THREADS)")
    print()
    rows = [(impl.name, "yes" if impl.available else "no", impl.reason or "")
            for impl in implementations()]
    print_table(("implementation", "available", "reason"), rows)
    return 0


def fastconv_runner(case: Case, impl) -> Callable[[], object]:
    x, w, b = make_inputs(case, case_rng(case))
    out = np.empty(case.out_shape, case.dtype)
    return lambda: case.conv(x, w, b, algo=impl.algo, backend=impl.backend, out=out,
                             **case.kwargs)


def torch_runner(case: Case) -> Optional[Callable[[], object]]:
    """torch.nn.functional.conv{1,2}d on the same problem, or None (no torch, channels-last,
    flip, asymmetric padding)."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    problem = case.problem
    top, bottom, left, right = problem.padding
    if case.channels_last or case.flip or top != bottom or left != right:
        return None
    x, w, b = (None if a is None else torch.from_numpy(a)
               for a in make_inputs(case, case_rng(case)))
    if problem.spatial_dims == 1:
        return lambda: F.conv1d(x, w, b, problem.stride[1], left, problem.dilation[1],
                                problem.groups)
    return lambda: F.conv2d(x, w, b, problem.stride, (top, left), problem.dilation,
                            problem.groups)


def cmd_bench(args) -> int:
    if args.threads:
        set_num_threads(args.threads)
    threads = get_num_threads()
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    impls = [impl for impl in implementations() if impl.available and impl.backend != "numpy"]
    if args.impl:
        impls = [impl for impl in impls if impl.name in args.impl]
    budget = dict(min_repeats=3, max_repeats=10, min_total=0.1, max_total=1.0) if args.quick \
        else dict(min_repeats=5, max_repeats=50, min_total=0.5, max_total=5.0)
    peers = ["torch"] if torch is not None else []
    header = ("layer", "problem", "GFLOP") + tuple(i.name for i in impls) + tuple(peers) + (
        "best/peer",)
    rows = []
    for case in QUICK_SUITE:
        problem = case.problem
        rates = {}
        for impl in impls:
            if impl.rejection(problem):
                continue
            rates[impl.name] = gflops(problem.flops, best_time(fastconv_runner(case, impl),
                                                               **budget))
        peer_rates = {}
        runner = torch_runner(case) if torch is not None else None
        if runner is not None:
            peer_rates["torch"] = gflops(problem.flops, best_time(runner, **budget))
        ours = max(rates.values(), default=float("nan"))
        peer = max(peer_rates.values(), default=float("nan"))
        rows.append((case.name, problem.id, f"{problem.flops / 1e9:.2f}")
                    + tuple(f"{rates[i.name]:.1f}" if i.name in rates else "-" for i in impls)
                    + tuple(f"{peer_rates[p]:.1f}" if p in peer_rates else "-" for p in peers)
                    + (f"{ours / peer:.2f}x" if peer == peer else "-",))
        if not args.quiet:
            print(f"  {case.name}: done", file=sys.stderr)
    print(f"GFLOP/s, float32, {threads} thread(s), best of several runs (fastconv {__version__})")
    print_table(header, rows)
    return 0


def print_table(header, rows) -> None:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*header))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line.format(*map(str, row)))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="fastconv", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, CPU ISA, threads and the implementation table")
    bench = sub.add_parser("bench", help="GFLOP/s of every available implementation and peer")
    bench.add_argument("--quick", action="store_true", help="short timing budget (< 60 s)")
    bench.add_argument("--threads", type=int, help="threads for fastconv and the peers")
    bench.add_argument("--impl", nargs="+", metavar="ALGO:BACKEND",
                       help="only these implementations")
    bench.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.command == "info":
        return cmd_info(args)
    return cmd_bench(args)


if __name__ == "__main__":
    sys.exit(main())
