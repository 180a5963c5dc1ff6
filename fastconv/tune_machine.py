"""``fastconv tune --machine``: measure this CPU's best parameters and store them.

Two searches, both timed on this machine with the thread count in force, interleaved (every
candidate in turn, best of several rounds, so a disturbance hits all of them alike):

1. GEMM cache blocks, per dtype, for the active ISA: starting from the blocks derived from the
   cache sizes (fastconv.machine_params.derive_gemm_blocking), a coordinate search over kc
   (x 1/2, 3/4, 1, 3/2, 2, with mc scaled to keep the packed A block's bytes), then mc
   (x 1/2, 1, 2), then nc (x 1/2, 1). The score is the geometric mean of the times over
   GEMM_SHAPES (square, and the M x K x N of ResNet-50's layers); a candidate must beat the
   incumbent by TIE to replace it, so noise does not move the blocks.
2. The cost model's calibration, per CPU implementation (numba's when its on-disk cache is
   warm): each is timed on a calibration suite (a spread of layers from the model suites,
   full size and scaled down), and a per-call time ``call`` and a ``scale`` on the rest of
   the fitted model's estimate are fitted (least squares on relative error). The dispatcher
   then ranks with ``call + scale x (estimate - fitted call)`` (fastconv.cost.estimate).

The results go to ``<cache dir>/machine.json`` with the CPU model, ISA and fastconv version;
every later process on this machine applies them when the C extension loads. The whole run is
held to a time budget (180 s by default): a search that runs out of time keeps what it found.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np

from . import cost, machine_params, testing
from .backends import c as c_backend
from .registry import REGISTRY
from .threads import get_num_threads
from .timing import best_time

# (M, K, N): square sizes and ResNet-50's layers lowered to GEMM (1x1: K = C_in; 3x3: K = 9
# C_in), as in bench/bench_gemm.py.
GEMM_SHAPES = ((512, 512, 512), (1024, 1024, 1024), (256, 64, 3136), (512, 2048, 196),
               (64, 576, 3136), (128, 1152, 784), (256, 2304, 196), (2048, 512, 49))
KC_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0)
MC_FACTORS = (0.5, 1.0, 2.0)
NC_FACTORS = (0.5, 1.0)
TIE = 0.01          # a candidate must be 1% faster (geomean) than the incumbent to replace it
GEMM_ROUNDS = 7
DTYPES = ("float32", "float64")
CALIBRATION_ROUNDS = 5
SLOW_CALL = 0.25    # seconds of timed calls per layer and implementation at most


@dataclass
class TuneReport:
    """What a run found: per "dtype:isa" the derived and the tuned blocks with their scores
    (geomean seconds), per implementation the calibration and its fit, and the file."""
    gemm: dict[str, dict] = field(default_factory=dict)
    gemm_derived: dict[str, dict] = field(default_factory=dict)
    gemm_score: dict[str, tuple[float, float]] = field(default_factory=dict)
    cost: dict[str, dict] = field(default_factory=dict)
    cost_fit: dict[str, tuple[int, float]] = field(default_factory=dict)
    cost_regret: tuple[float, float] = (math.nan, math.nan)
    path: Optional[str] = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


# ---- GEMM blocks --------------------------------------------------------------------------
def _gemm_operands(dtype: str):
    rng = np.random.default_rng(0)
    out = []
    for m, k, n in GEMM_SHAPES:
        a = rng.standard_normal((m, k)).astype(dtype)
        b = rng.standard_normal((k, n)).astype(dtype)
        out.append((a, b, np.empty((m, n), dtype)))
    return out


def _time_gemm(operands, nthreads: int) -> list[float]:
    times = []
    for a, b, c in operands:
        start = time.perf_counter()
        c_backend.gemm(a, b, out=c, nthreads=nthreads)
        times.append(time.perf_counter() - start)
    return times


def _geomean(values) -> float:
    return math.exp(sum(math.log(max(v, 1e-12)) for v in values) / len(values))


def _score_blocks(candidates: list[dict], dtype: str, operands, nthreads: int,
                  deadline: float) -> list[float]:
    """Geomean over the shapes of each shape's best time, per candidate (interleaved)."""
    best = [[math.inf] * len(operands) for _ in candidates]
    for _ in range(GEMM_ROUNDS):
        for i, blk in enumerate(candidates):
            c_backend.set_gemm_blocking(dtype, mc=blk["mc"], kc=blk["kc"], nc=blk["nc"])
            for j, t in enumerate(_time_gemm(operands, nthreads)):
                best[i][j] = min(best[i][j], t)
        if time.perf_counter() > deadline:
            break
    return [_geomean(row) for row in best]


def _candidate(base: dict, mr: int, nr: int, **scale) -> dict:
    kc = max(16, int(base["kc"] * scale.get("kc", 1.0)) // 16 * 16)
    # mc scaled with 1/kc keeps the packed A block's bytes (its L2 share) unless asked
    mc_scale = scale.get("mc", base["kc"] / kc)
    mc = max(mr, int(base["mc"] * mc_scale) // mr * mr)
    nc = max(nr, int(base["nc"] * scale.get("nc", 1.0)) // nr * nr)
    return {"mr": mr, "nr": nr, "mc": min(mc, 65536 // mr * mr), "kc": min(kc, 4096),
            "nc": min(nc, 16384 // nr * nr)}


def tune_gemm(dtype: str, deadline: float, nthreads: int) -> tuple[dict, dict, float, float]:
    """(derived blocks, tuned blocks, derived score, tuned score) for ``dtype`` on the active
    ISA; the process's blocks are left at the tuned ones."""
    isa = c_backend.active_isa()
    active = machine_params.active()
    caches = active.caches if active else machine_params.read_cache_sizes()
    now = c_backend.gemm_blocking(isa, dtype)
    mr, nr = now["mr"], now["nr"]
    itemsize = np.dtype(dtype).itemsize
    derived = machine_params.derive_gemm_blocking(mr, nr, itemsize, caches)
    operands = _gemm_operands(dtype)
    _time_gemm(operands, nthreads)  # first touch of the operands and workspace
    best = dict(derived)
    best_score = derived_score = None
    for axis, factors in (("kc", KC_FACTORS), ("mc", MC_FACTORS), ("nc", NC_FACTORS)):
        if time.perf_counter() > deadline:
            break
        candidates = [best] + [_candidate(best, mr, nr, **{axis: f}) for f in factors
                               if f != 1.0]
        unique = []
        for blk in candidates:
            if blk not in unique:
                unique.append(blk)
        scores = _score_blocks(unique, dtype, operands, nthreads, deadline)
        if derived_score is None:
            derived_score = scores[0]
        incumbent = scores[0]
        i = min(range(len(unique)), key=scores.__getitem__)
        if scores[i] < incumbent * (1.0 - TIE):
            best, best_score = unique[i], scores[i]
        else:
            best_score = incumbent
    c_backend.set_gemm_blocking(dtype, mc=best["mc"], kc=best["kc"], nc=best["nc"])
    return derived, best, derived_score or math.nan, best_score or math.nan


# ---- cost calibration --------------------------------------------------------------------
def calibration_cases() -> tuple[testing.Case, ...]:
    """Every third layer of each model suite, full size and scaled down to 16 channels (the
    small ones pin down the per-call time)."""
    picked = [case for cases in testing.SUITES.values() for case in cases[::3]]
    return testing.unique(picked + [testing.scaled_down(case) for case in picked])


def _time_case(call: Callable[[], object], rounds: int) -> float:
    """Best single call after a warm-up: at least ``rounds`` calls and 20 ms, at most 100
    calls or SLOW_CALL seconds (a slow layer: one timed call)."""
    return best_time(call, min_repeats=rounds, max_repeats=100, min_total=0.02,
                     max_total=SLOW_CALL)


def fit_calibration(estimates: list[float], calls: list[float],
                    measured: list[float]) -> tuple[float, float]:
    """(call, scale) minimising sum(((call + scale * (e - c)) / t - 1)^2), call >= 0,
    scale > 0: a weighted linear least-squares fit, refitted with call = 0 if it came out
    negative."""
    work = np.maximum(np.asarray(estimates) - np.asarray(calls), 0.0)
    t = np.asarray(measured)
    a = np.stack([1.0 / t, work / t], axis=1)
    (call, scale), *_ = np.linalg.lstsq(a, np.ones_like(t), rcond=None)
    if call < 0 or scale <= 0:
        scale = float(np.dot(work / t, np.ones_like(t)) / max(np.dot(work / t, work / t), 1e-30))
        call = 0.0
    return float(call), float(max(scale, 1e-6))


def calibrated_backends(progress: Callable[[str], None]) -> tuple[str, ...]:
    """The C backend, and the numba one when its on-disk cache is warm (cold, its first calls
    compile for minutes: more than the budget)."""
    try:
        from .backends.numba_cpu import numba_cache_status
        status = numba_cache_status()
    except Exception as exc:  # numba missing or broken: its implementations are unavailable
        status = f"unavailable ({exc})"
    if status.startswith("warm"):
        return ("c", "numba")
    progress(f"calibration: numba left out (its cache is {status.split(':')[0]}); run "
             "`fastconv bench --impl direct:numba` once, then tune again, to include it")
    return ("c",)


def choice_regret(timed: dict[str, dict[str, tuple[float, float, float]]],
                  calibration: dict[str, dict]) -> float:
    """Geometric mean over the calibration layers of t(the model's choice) / t(the fastest),
    the choice made as the dispatcher makes it (lowest estimate among the implementations
    algo="auto" may use) with ``calibration`` applied ({} for the fitted model alone)."""
    regrets = []
    for per_impl in timed.values():
        if len(per_impl) < 2:
            continue
        def estimate(name):
            fitted, call0, _ = per_impl[name]
            cal = calibration.get(name)
            return fitted if cal is None else cal["call"] + cal["scale"] * max(fitted - call0,
                                                                               0.0)
        chosen = min(per_impl, key=estimate)
        fastest = min(t for _, _, t in per_impl.values())
        regrets.append(per_impl[chosen][2] / fastest)
    return _geomean(regrets) if regrets else 1.0


def calibrate_costs(deadline: float, progress: Callable[[str], None]) -> tuple[dict, float,
                                                                                 float]:
    """({implementation: {"call", "scale", "rows", "geomean_error"}}, regret of the fitted
    model's choices, regret with the calibration) for every available CPU implementation with
    fitted constants (numba's only with a warm cache), from the calibration suite."""
    backends = calibrated_backends(progress)
    impls = [impl for impl in REGISTRY if impl.backend in backends and impl.available
             and cost.constants(impl.name)[1]]
    rows: dict[str, list[tuple[float, float, float]]] = {impl.name: [] for impl in impls}
    timed: dict[str, dict[str, tuple[float, float, float]]] = {}
    for case in calibration_cases():
        if time.perf_counter() > deadline:
            progress("calibration: out of time; fitting on the layers measured so far")
            break
        x, w, b = testing.make_inputs(case, testing.case_rng(case))
        out = np.empty(case.out_shape, case.dtype)
        problem = case.problem
        for impl in impls:
            if impl.rejection(problem) is not None:
                continue

            def call(impl=impl):
                case.conv(x, w, b, algo=impl.algo, backend=impl.backend, out=out,
                          **case.kwargs)
            seconds = _time_case(call, CALIBRATION_ROUNDS)
            fitted = cost.fitted_estimate(problem, impl.algo, impl.backend)
            call0 = cost.constants(impl.name)[0].get("call", 0.0)
            rows[impl.name].append((fitted, call0, seconds))
            if cost.guard(problem, impl.algo) is None:  # one algo="auto" may choose
                timed.setdefault(case.id, {})[impl.name] = rows[impl.name][-1]
    result = {}
    for name, data in rows.items():
        if len(data) < 4:
            continue
        est, calls, measured = (list(v) for v in zip(*data))
        call, scale = fit_calibration(est, calls, measured)
        predicted = [call + scale * max(e - c, 0.0) for e, c in zip(est, calls)]
        error = _geomean([max(p / m, m / p) for p, m in zip(predicted, measured)])
        result[name] = {"call": call, "scale": scale, "rows": len(data),
                        "geomean_error": error}
    return result, choice_regret(timed, {}), choice_regret(timed, result)


# ---- the command -------------------------------------------------------------------------
def tune_machine(budget_s: float = 180.0, progress: Callable[[str], None] = print,
                 dtypes=DTYPES, calibrate: bool = True) -> TuneReport:
    """Measure the GEMM blocks (per dtype, active ISA) and the cost calibration, store them in
    the tuning file, and apply them to this process."""
    reason = c_backend.unavailable_reason()
    if reason:
        raise RuntimeError(f"fastconv tune --machine needs the C extension: {reason}")
    start = time.perf_counter()
    nthreads = get_num_threads()
    report = TuneReport()
    isa = c_backend.active_isa()
    if isa != c_backend.cpu_isa():
        report.notes.append(f"the ISA is capped at {isa} (CPU: {c_backend.cpu_isa()}); the "
                            "blocks are stored for it")
    share = 0.35 if calibrate else 1.0  # of the budget per dtype's GEMM search
    previous = machine_params.load_tuned(c_backend.cpu_isa())
    gemm_store = dict(previous.gemm) if previous else {}
    for dtype in dtypes:
        deadline = time.perf_counter() + budget_s * share / len(dtypes) * 1.0
        progress(f"GEMM blocks, {dtype}, {isa}, {nthreads} thread(s) ...")
        derived, tuned, d_score, t_score = tune_gemm(dtype, deadline, nthreads)
        key = f"{dtype}:{isa}"
        report.gemm_derived[key], report.gemm[key] = derived, tuned
        report.gemm_score[key] = (d_score, t_score)
        gemm_store[key] = tuned
    cost_store: dict[str, dict] = {}
    if calibrate:
        progress("cost model calibration (calibration suite) ...")
        deadline = start + budget_s * 0.95
        fitted, regret_model, regret_calibrated = calibrate_costs(deadline, progress)
        report.cost_regret = (regret_model, regret_calibrated)
        for name, fit in fitted.items():
            report.cost_fit[name] = (fit["rows"], fit["geomean_error"])
        # kept only when it chooses better on the layers it was fitted on: a per-call time and
        # one scale per implementation can fit the times well and still rank two close
        # implementations worse than the fitted model (seen on Zen 4: regret 1.10 -> 1.16)
        if regret_calibrated < regret_model * (1.0 - TIE):
            cost_store = {name: {"call": fit["call"], "scale": fit["scale"]}
                          for name, fit in fitted.items()}
        else:
            report.notes.append(
                f"cost calibration not stored: the dispatcher's choices on the calibration "
                f"suite had a regret of {regret_calibrated:.3f} with it and "
                f"{regret_model:.3f} without (geometric mean of t(chosen) / t(fastest))")
        report.cost = cost_store
    path = machine_params.store_tuned(c_backend.cpu_isa(), gemm_store, cost_store)
    report.path = str(path)
    c_backend.reload_machine_params()
    report.seconds = time.perf_counter() - start
    return report


def reset_machine() -> bool:
    """Remove the tuning file and go back to the derived parameters in this process."""
    removed = machine_params.remove_tuned()
    if c_backend.unavailable_reason() is None:
        c_backend.reload_machine_params()
    return removed
