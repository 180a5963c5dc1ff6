"""GEMM cache blocks side by side: the built-in table, the blocks derived from this CPU's cache
sizes, and the tuning file's (``fastconv tune --machine``), on the shapes of bench_gemm.py,
float32, in one process, interleaved (every block set in turn per sample), best of N.

    python bench/bench_gemm_blocks.py                 # 1 and 2 threads
    python bench/bench_gemm_blocks.py --threads 2 --repeat 15

Prints GFLOP/s per shape and block set and each set's time relative to the built-in one
(< 1: faster), with the worst and geometric-mean ratios.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_gemm import CONV_SHAPES, SQUARE  # noqa: E402

import fastconv  # noqa: E402
from fastconv import machine_params  # noqa: E402
from fastconv.backends import c as cb  # noqa: E402

# The C table's defaults (csrc/gemm.c), the blocks every process used before they were derived.
BUILT_IN = {"avx512": (168, 192, 4096), "avx2": (240, 384, 4080), "scalar": (128, 256, 4096)}


def block_sets(isa: str) -> dict[str, tuple[int, int, int]]:
    active = machine_params.active() or cb.reload_machine_params()
    sets = {"built in": BUILT_IN[isa]}
    blk = cb.gemm_blocking(isa, np.float32)
    derived = machine_params.derive_gemm_blocking(blk["mr"], blk["nr"], 4, active.caches)
    sets["derived"] = (derived["mc"], derived["kc"], derived["nc"])
    tuned = machine_params.load_tuned(cb.cpu_isa())
    stored = tuned.gemm.get(f"float32:{isa}") if tuned else None
    if stored:
        sets[f"tuned {tuned.date}"] = (stored["mc"], stored["kc"], stored["nc"])
    return sets


def sample(fn, min_time=0.02) -> float:
    reps = 1
    while True:
        start = time.perf_counter()
        for _ in range(reps):
            fn()
        dt = time.perf_counter() - start
        if dt >= min_time:
            return dt / reps
        reps = max(reps * 2, int(reps * min_time / max(dt, 1e-9)) + 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=9)
    args = ap.parse_args()
    isa = cb.active_isa()
    sets = block_sets(isa)
    print(f"# {machine_params.cpu_model()}, isa {isa}; blocks (mc, kc, nc): "
          + ", ".join(f"{name} {blk}" for name, blk in sets.items()))
    rng = np.random.default_rng(0)
    shapes = [(s, s, s) for s in SQUARE if s >= 256] + CONV_SHAPES
    for threads in args.threads:
        fastconv.set_num_threads(threads)
        names = list(sets)
        print(f"\n{threads} thread(s), GFLOP/s; ratio = time / built-in time")
        print(f"{'M x K x N':<18}" + "".join(f"{n[:18]:>20}" for n in names))
        ratios: dict[str, list[float]] = {n: [] for n in names[1:]}
        for m, k, n in shapes:
            a = rng.standard_normal((m, k)).astype(np.float32)
            b = rng.standard_normal((k, n)).astype(np.float32)
            c = np.empty((m, n), np.float32)
            best = dict.fromkeys(names, math.inf)
            for _ in range(args.repeat):
                for name in names:
                    mc, kc, nc = sets[name]
                    cb.set_gemm_blocking(np.float32, isa, mc=mc, kc=kc, nc=nc)
                    cb.gemm(a, b, out=c)  # first call with these blocks: workspace, caches
                    time.sleep(0.002)
                    best[name] = min(best[name], sample(lambda: cb.gemm(a, b, out=c)))
            flops = 2.0 * m * n * k
            cells = []
            for name in names:
                text = f"{flops / best[name] / 1e9:.1f}"
                if name != names[0]:
                    r = best[name] / best[names[0]]
                    ratios[name].append(r)
                    text += f" ({r:.2f})"
                cells.append(f"{text:>20}")
            print(f"{f'{m}x{k}x{n}':<18}" + "".join(cells), flush=True)
        for name, rs in ratios.items():
            geo = math.exp(sum(math.log(r) for r in rs) / len(rs))
            print(f"{name}: time / built-in: geomean {geo:.3f}, worst {max(rs):.3f}, "
                  f"best {min(rs):.3f}")
    cb.reload_machine_params()


if __name__ == "__main__":
    main()
