"""The ``fastconv`` command: ``fastconv info`` and ``fastconv bench``."""
from __future__ import annotations

import argparse
import platform
import sys
from typing import Callable, Optional

import numpy as np

from . import __version__, api, get_num_threads, implementations, set_num_threads
from .problem import ConvProblem
from .timing import best_time, gflops

# The quick suite: one layer of each kind a user meets (a dense 3x3, a 1x1, a deep 3x3 with a
# small image, a depthwise 3x3, a strided 7x7 stem, a 1-D audio filter bank), small enough that
# every implementation and peer finishes in well under a minute on two cores.
QUICK_SUITE: tuple[tuple[str, ConvProblem], ...] = (
    ("resnet50 conv2 3x3", ConvProblem(1, 64, 56, 56, 64, 3, 3, padding=(1, 1, 1, 1))),
    ("resnet50 conv2 1x1", ConvProblem(1, 256, 56, 56, 64, 1, 1)),
    ("resnet50 conv5 3x3", ConvProblem(1, 512, 7, 7, 512, 3, 3, padding=(1, 1, 1, 1))),
    ("resnet50 stem 7x7/2", ConvProblem(1, 3, 224, 224, 64, 7, 7, stride=(2, 2),
                                         padding=(3, 3, 3, 3))),
    ("mobilenetv2 dw 3x3", ConvProblem(1, 144, 56, 56, 144, 3, 3, padding=(1, 1, 1, 1),
                                        groups=144)),
    ("audio conv1d k9", ConvProblem(8, 16, 1, 16000, 32, 1, 9, padding=(0, 0, 4, 4),
                                     spatial_dims=1)),
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


def random_inputs(problem: ConvProblem, seed: int = 0):
    """x, weight, bias of the problem's user-facing shapes and dtype, N(0, 1) entries."""
    rng = np.random.default_rng(seed)
    dtype = problem.np_dtype
    return (rng.standard_normal(problem.user_x_shape, dtype=np.float32).astype(dtype),
            rng.standard_normal(problem.user_weight_shape, dtype=np.float32).astype(dtype),
            rng.standard_normal(problem.c_out, dtype=np.float32).astype(dtype))


def fastconv_runner(problem: ConvProblem, impl) -> Callable[[], object]:
    x, w, b = random_inputs(problem)
    conv = api.conv1d if problem.spatial_dims == 1 else api.conv2d
    out = np.empty(problem.user_out_shape, problem.np_dtype)
    kwargs = problem.conv_kwargs()
    return lambda: conv(x, w, b, algo=impl.algo, backend=impl.backend, out=out, **kwargs)


def torch_runner(problem: ConvProblem) -> Optional[Callable[[], object]]:
    """torch.nn.functional.conv{1,2}d on the same problem (NCHW only), or None without torch."""
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    if problem.layout not in ("NCHW", "NCL") or problem.flip:
        return None
    x, w, b = (torch.from_numpy(a) for a in random_inputs(problem))
    t, bo, l, r = problem.padding
    if problem.spatial_dims == 1:
        if l != r:
            return None
        return lambda: F.conv1d(x, w, b, problem.stride[1], l, problem.dilation[1],
                                problem.groups)
    if t != bo or l != r:
        return None
    return lambda: F.conv2d(x, w, b, problem.stride, (t, l), problem.dilation, problem.groups)


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
    for label, problem in QUICK_SUITE:
        rates = {}
        for impl in impls:
            if impl.rejection(problem):
                continue
            rates[impl.name] = gflops(problem.flops, best_time(fastconv_runner(problem, impl),
                                                               **budget))
        peer_rates = {}
        runner = torch_runner(problem) if torch is not None else None
        if runner is not None:
            peer_rates["torch"] = gflops(problem.flops, best_time(runner, **budget))
        ours = max(rates.values(), default=float("nan"))
        peer = max(peer_rates.values(), default=float("nan"))
        rows.append((label, problem.id, f"{problem.flops / 1e9:.2f}")
                    + tuple(f"{rates[i.name]:.1f}" if i.name in rates else "-" for i in impls)
                    + tuple(f"{peer_rates[p]:.1f}" if p in peer_rates else "-" for p in peers)
                    + (f"{ours / peer:.2f}x" if peer == peer else "-",))
        if not args.quiet:
            print(f"  {label}: done", file=sys.stderr)
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
