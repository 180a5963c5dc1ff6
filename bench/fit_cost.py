"""Fit the dispatcher's cost model (fastconv/cost.py) on this machine.

    python bench/fit_cost.py                      # measure, save the CSV, fit, write constants
    python bench/fit_cost.py --from-csv           # refit from bench/results/cost_measurements.csv
    python bench/fit_cost.py --suites resnet50 audio --threads 2
    python bench/fit_cost.py --resume             # an interrupted run: measure what is missing

Every CPU implementation (c and numba backends) is timed through the public API on every
layer of testing.SUITES plus the scaled-down SMALL_MODEL_LAYERS (small problems pin down the
per-call overhead), best of several calls after a warm-up. Then, per implementation, the
non-negative coefficients of cost.features() are fitted to the log of the measured times
(fastconv.cost_fit), and fastconv/cost_constants.py is rewritten with the date, machine and
command beside them. Rerun on a quiet machine whenever kernels change.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import fastconv
from fastconv import cost, cost_fit, testing
from fastconv.problem import ConvProblem
from fastconv.registry import REGISTRY
from fastconv.timing import best_time

ROOT = Path(__file__).resolve().parent.parent
CSV_PATH = ROOT / "bench" / "results" / "cost_measurements.csv"
CONSTANTS_PATH = ROOT / "fastconv" / "cost_constants.py"
CPU_BACKENDS = ("c", "numba")
SLOW_CALL = 1.5  # seconds: a warm-up slower than this is timed once more, not best-of-many
PROBLEM_FIELDS = [f.name for f in dataclasses.fields(ConvProblem) if f.init]


def fit_cases(suites) -> tuple[testing.Case, ...]:
    full = [case for name in suites for case in testing.SUITES[name]]
    small = [testing.scaled_down(case) for case in full]
    return testing.unique(full + small)


def time_call(fn) -> float:
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    if first > SLOW_CALL:
        start = time.perf_counter()
        fn()
        return min(first, time.perf_counter() - start)
    # many repeats for short calls: on a shared machine one OpenMP barrier that misses its
    # time slice costs tens of milliseconds, and the best of a few calls may still hold one
    return best_time(fn, min_repeats=5, max_repeats=200, min_total=0.3, max_total=2.0)


def _fft_numba_too_big(p: ConvProblem) -> bool:
    from fastconv.backends import numba_fft_rules
    return numba_fft_rules.spectra_bytes(p) > 1 << 30


# Pairs not worth minutes of timing: fft:numba holding over 1 GiB of spectra (whisper_base.conv2:
# 3.2 GiB) ran for minutes where the other implementations take a second; the fitted model
# extrapolates to them from the rest.
NOT_TIMED = {"fft:numba": _fft_numba_too_big}


def measure(cases, impls, done=frozenset(), sink=None) -> list[dict]:
    """Timings of every (case, impl) not in ``done`` ({(case id, impl name)}); each row is
    also passed to ``sink`` as it is made (the CSV is written as the run goes)."""
    rows = []
    for i, case in enumerate(cases):
        x, w, b = testing.make_inputs(case, testing.case_rng(case))
        out = np.empty(case.out_shape, case.dtype)
        for impl in impls:
            if impl.rejection(case.problem) is not None or (case.id, impl.name) in done:
                continue
            if NOT_TIMED.get(impl.name, lambda p: False)(case.problem):
                continue

            def call(impl=impl):
                case.conv(x, w, b, algo=impl.algo, backend=impl.backend, out=out, **case.kwargs)
            seconds = time_call(call)
            problem = {f: getattr(case.problem, f) for f in PROBLEM_FIELDS}
            rows.append({"case": case.id, "impl": impl.name, "seconds": seconds,
                         "problem": json.dumps(problem)})
            if sink is not None:
                sink(rows[-1])
            print(f"[{i + 1}/{len(cases)}] {case.id:60s} {impl.name:14s} {seconds * 1e3:10.3f} ms "
                  f"{case.problem.flops / seconds / 1e9:8.1f} GFLOP/s",
                  flush=True)
    return rows


FIELDS = ["case", "impl", "seconds", "problem"]


def save_csv(rows, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def append_csv(row, path: Path) -> None:
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def load_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def problem_of(row) -> ConvProblem:
    fields = json.loads(row["problem"])
    for name in ("stride", "dilation", "padding"):
        fields[name] = tuple(fields[name])
    return ConvProblem(**fields)


def fit(rows) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Per implementation: coefficients >= 0 of cost.features() minimising the error of
    log(predicted time) against log(measured time) (fastconv.cost_fit, the fit
    ``fastconv tune --machine`` makes too)."""
    by_impl: dict[str, list[tuple[ConvProblem, float]]] = {}
    for row in rows:
        by_impl.setdefault(row["impl"], []).append((problem_of(row), float(row["seconds"])))
    constants, report = {}, []
    for name, samples in sorted(by_impl.items()):
        algo, backend = name.split(":")
        feats = [cost.features(p, algo, backend) for p, _ in samples]
        t = [s for _, s in samples]
        constants[name] = cost_fit.fit_coefficients(feats, t)
        geomean, median, low, high = cost_fit.log_error_summary(constants[name], feats, t)
        report.append(f"{name:14s} {len(t):4d} rows  predicted/measured: geomean "
                      f"{geomean:.3f}, median {median:.3f}, range {low:.2f} .. {high:.2f}")
    return constants, report


def machine() -> str:
    from fastconv.backends import c as c_backend
    from fastconv.machine import cpu_model
    isa = c_backend.active_isa() if c_backend.unavailable_reason() is None else "no C"
    return f"{cpu_model()}, {os.cpu_count()} cores, ISA {isa}, {fastconv.get_num_threads()} threads"


def write_constants(constants, report, command: str, n_rows: int, path: Path) -> None:
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ['"""Fitted cost-model constants: seconds per unit of each feature of cost.py.',
             "",
             "Written by bench/fit_cost.py; do not edit by hand, rerun it.",
             f"Date:    {date}",
             f"Machine: {machine()}",
             f"Command: {command}",
             f"Data:    {n_rows} timings (bench/results/cost_measurements.csv)",
             "Fit quality (predicted / measured time per implementation):"]
    lines += [f"  {line}" for line in report]
    lines += ['"""', "", "CONSTANTS: dict[str, dict[str, float]] = {"]
    for name, coeffs in constants.items():
        lines.append(f"    {name!r}: {{")
        lines += [f"        {k!r}: {v:.6g}," for k, v in coeffs.items()]
        lines.append("    },")
    lines += ["}", ""]
    path.write_text("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", nargs="+", default=list(testing.SUITES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--from-csv", action="store_true",
                        help=f"refit from {CSV_PATH.relative_to(ROOT)} without measuring")
    parser.add_argument("--impls", nargs="+", help="only these algo:backend pairs")
    parser.add_argument("--resume", action="store_true",
                        help="keep the CSV's timings and measure only what is missing")
    args = parser.parse_args(argv)
    fastconv.set_num_threads(args.threads)
    if args.from_csv:
        rows = load_csv(CSV_PATH)
    else:
        try:
            import numba
            numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
        except ImportError:
            pass
        impls = [impl for impl in REGISTRY if impl.backend in CPU_BACKENDS and impl.available
                 and (not args.impls or impl.name in args.impls)]
        kept = load_csv(CSV_PATH) if args.resume and CSV_PATH.exists() else []
        if args.impls and not args.resume and CSV_PATH.exists():  # keep the others' timings
            kept = [r for r in load_csv(CSV_PATH) if r["impl"] not in args.impls]
        save_csv(kept, CSV_PATH)
        measure(fit_cases(args.suites), impls, done={(r["case"], r["impl"]) for r in kept},
                sink=lambda row: append_csv(row, CSV_PATH))
        rows = load_csv(CSV_PATH)
    constants, report = fit(rows)
    print("\n".join(report))
    command = "python bench/fit_cost.py " + " ".join(argv if argv is not None else sys.argv[1:])
    write_constants(constants, report, command.strip(), len(rows), CONSTANTS_PATH)
    print(f"wrote {CONSTANTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
