"""Regret of the dispatcher: t(auto) / t(fastest implementation) per layer, same process.

    python bench/bench_dispatch.py                          # measure everything (minutes)
    python bench/bench_dispatch.py --suites resnet50 audio --threads 2
    python bench/bench_dispatch.py --from-csv               # reuse fit_cost.py's timings

Every CPU implementation (c and numba backends) that accepts a layer is timed through the
public API (best of several after a warm-up). The heuristic choice is dispatch's answer with an
empty plan cache; the measure-mode choice is fastconv.plan(mode="measure") with another empty
cache (its own timings, independent of the table's). Regret = the table's time of the chosen
implementation / the table's fastest time, so both modes are judged on the same numbers.
Targets: heuristic geomean <= 1.10 and worst <= 1.5; measure geomean <= 1.03.
Also prints the per-call overhead of conv2d(algo="auto") on a tiny layer.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fit_cost  # noqa: E402  (same directory: the shared measurement loop)

import fastconv  # noqa: E402
from fastconv import dispatch, testing  # noqa: E402
from fastconv.registry import REGISTRY  # noqa: E402

DEFAULT_SUITES = ("resnet50", "vgg16", "mobilenet_v2", "large_kernel", "audio")


def choice_with_empty_cache(case, mode: str) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("FASTCONV_CACHE_DIR")
        os.environ["FASTCONV_CACHE_DIR"] = tmp
        dispatch.select.cache_clear()
        try:
            if mode == "heuristic":
                return dispatch.select(case.problem, None, None).name
            return fastconv.plan(case.x_shape, case.weight_shape, dtype=case.dtype,
                                 mode="measure", **case.kwargs).impl.name
        finally:
            if old is None:
                del os.environ["FASTCONV_CACHE_DIR"]
            else:
                os.environ["FASTCONV_CACHE_DIR"] = old
            dispatch.select.cache_clear()


def geomean(values) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def call_overhead(repeats: int = 2000) -> dict[str, float]:
    """Best-of microseconds per call on a 1x1x4x4 input (the kernel's own work is negligible):
    conv2d(algo="auto"), conv2d with the implementation named, and the implementation's run."""
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    out = np.empty((1, 1, 4, 4), np.float32)
    impl = dispatch.select(testing.c2(1, 1, 4, 4, 1, 1, 1).problem, None, None)
    problem = testing.c2(1, 1, 4, 4, 1, 1, 1).problem
    calls = {"conv2d(algo='auto')": lambda: fastconv.conv2d(x, w, out=out),
             f"conv2d(algo='{impl.algo}', backend='{impl.backend}')":
                 lambda: fastconv.conv2d(x, w, out=out, algo=impl.algo, backend=impl.backend),
             f"{impl.name} run() alone": lambda: impl.run(problem, x, w, None, out)}
    best = {}
    for name, fn in calls.items():
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        best[name] = min(times) * 1e6
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", nargs="+", default=list(DEFAULT_SUITES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--modes", nargs="+", default=["heuristic", "measure"])
    parser.add_argument("--from-csv", action="store_true",
                        help="take implementation times from fit_cost.py's CSV")
    args = parser.parse_args(argv)
    fastconv.set_num_threads(args.threads)
    try:
        import numba
        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass

    print("per-call overhead, best of 2000 (us):")
    for name, us in call_overhead().items():
        print(f"  {name:40s} {us:8.2f}")

    cases = [case for name in args.suites for case in testing.SUITES[name]]
    if args.from_csv:
        rows = fit_cost.load_csv(fit_cost.CSV_PATH)
    else:
        impls = [i for i in REGISTRY if i.backend in fit_cost.CPU_BACKENDS and i.available]
        rows = fit_cost.measure(cases, impls)
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        table.setdefault(row["case"], {})[row["impl"]] = float(row["seconds"])

    regrets: dict[str, list[tuple[str, float]]] = {m: [] for m in args.modes}
    header = f"{'layer':62s} {'fastest':13s} {'ms':>9s}"
    for mode in args.modes:
        header += f"  {mode:>9s} {'choice':13s} {'regret':>6s}"
    print("\n" + header)
    for case in cases:
        times = table.get(case.id)
        if not times:
            continue
        fastest = min(times, key=times.get)
        line = f"{case.id[:62]:62s} {fastest:13s} {times[fastest] * 1e3:9.3f}"
        for mode in args.modes:
            chosen = choice_with_empty_cache(case, mode)
            regret = times.get(chosen, float("nan")) / times[fastest]
            regrets[mode].append((case.id, regret))
            line += f"  {'':>9s} {chosen:13s} {regret:6.2f}"
        print(line, flush=True)

    print(f"\nsummary ({args.threads} threads; regret = t(chosen) / t(fastest), same table)")
    for mode, values in regrets.items():
        finite = [v for _, v in values if math.isfinite(v)]
        if not finite:
            continue
        worst_case, worst = max(values, key=lambda cv: cv[1])
        print(f"  {mode:9s} geomean {geomean(finite):.3f}  worst {worst:.2f} ({worst_case})  "
              f"layers {len(finite)}")
        for suite in args.suites:
            ids = {c.id for c in testing.SUITES[suite]}
            sv = [v for cid, v in values if cid in ids and math.isfinite(v)]
            if sv:
                print(f"    {suite:13s} geomean {geomean(sv):.3f}  worst {max(sv):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
