"""``fastconv tune --machine``: measure this CPU's best parameters and store them.

Two searches, both timed on this machine with the thread count in force, interleaved (every
candidate in turn, best of several rounds, so a disturbance hits all of them alike):

1. GEMM cache blocks, per dtype, for the active ISA: starting from the blocks derived from the
   cache sizes (fastconv.machine_params.derive_gemm_blocking), a coordinate search over kc
   (x 1/2, 3/4, 1, 3/2, 2, with mc scaled to keep the packed A block's bytes), then mc
   (x 1/2, 1, 2), then nc (x 1/2, 1). The score is the geometric mean of the times over
   GEMM_SHAPES (square, and the M x K x N of ResNet-50's layers); a candidate must beat the
   incumbent by TIE to replace it, so noise does not move the blocks.
2. The cost model, per CPU implementation (numba's when its on-disk cache is warm): each is
   timed on a calibration suite (the layers of the model suites, full size and scaled down),
   and the coefficients of its features are fitted again on these timings, as
   bench/fit_cost.py fits the built-in ones (fastconv.cost_fit). The refit is stored only if
   it chooses better than the built-in model on layers it was not fitted on (4-fold
   cross-validation over the layers: regret t(chosen) / t(fastest), then prediction error).

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

from . import cost, cost_fit, machine_params, testing
from .backends import c as c_backend
from .problem import ConvProblem
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
CV_FOLDS = 4        # cross-validation of the cost refit: each layer judged by a fit without it
SLOW_CALL = 0.25    # seconds of timed calls per layer and implementation at most


@dataclass
class TuneReport:
    """What a run found: per "dtype:isa" the derived and the tuned blocks with their scores
    (geomean seconds), per implementation the refit cost coefficients (stored or not) with
    their rows and fit error, the cross-validation verdict, and the file."""
    gemm: dict[str, dict] = field(default_factory=dict)
    gemm_derived: dict[str, dict] = field(default_factory=dict)
    gemm_score: dict[str, tuple[float, float]] = field(default_factory=dict)
    cost: dict[str, dict] = field(default_factory=dict)
    cost_fit: dict[str, tuple[int, float]] = field(default_factory=dict)
    cost_verdict: Optional["CostVerdict"] = None
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


# ---- cost model refit ----------------------------------------------------------------------
@dataclass(frozen=True)
class CostSample:
    """One timed call of one implementation on one calibration layer."""
    case: str
    problem: ConvProblem
    features: dict
    seconds: float
    auto: bool  # algo="auto" may choose this implementation for this layer (accuracy guards)


def calibration_cases() -> tuple[testing.Case, ...]:
    """Every layer of each model suite, full size and scaled down to 16 channels (the small
    ones pin down the per-call time), taken a suite at a time in turn so that a run cut short
    by its budget still covers every suite."""
    suites = [list(cases) for cases in testing.SUITES.values()]
    picked = [case for layer in range(max(map(len, suites)))
              for cases in suites if layer < len(cases) for case in (cases[layer],)]
    return testing.unique(picked + [testing.scaled_down(case) for case in picked])


def _time_case(call: Callable[[], object], rounds: int) -> float:
    """Best single call after a warm-up: at least ``rounds`` calls and 20 ms, at most 100
    calls or SLOW_CALL seconds (a slow layer: one timed call)."""
    return best_time(call, min_repeats=rounds, max_repeats=100, min_total=0.02,
                     max_total=SLOW_CALL)


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


def time_calibration(deadline: float, progress: Callable[[str], None]
                     ) -> dict[str, list[CostSample]]:
    """Per available CPU implementation (numba's only with a warm cache), its timings on the
    calibration suite, until the suite or the time runs out."""
    backends = calibrated_backends(progress)
    impls = [impl for impl in REGISTRY if impl.backend in backends and impl.available]
    samples: dict[str, list[CostSample]] = {impl.name: [] for impl in impls}
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
            samples[impl.name].append(CostSample(
                case.id, problem, cost.features(problem, impl.algo, impl.backend),
                _time_case(call, CALIBRATION_ROUNDS), cost.guard(problem, impl.algo) is None))
    return samples


def fit_costs(samples: dict[str, list[CostSample]]) -> dict[str, dict[str, float]]:
    """Coefficients per implementation with enough layers to fit them (two more than it has
    features), fitted as bench/fit_cost.py fits the built-in ones; a feature these layers never
    exercise keeps its built-in coefficient."""
    fitted = {}
    for name, rows in samples.items():
        builtin, was_fitted = cost.builtin_constants(name)
        n_features = len({k for r in rows for k, v in r.features.items() if v})
        if len(rows) < n_features + 2:
            continue
        fitted[name] = cost_fit.fit_coefficients([r.features for r in rows],
                                                 [r.seconds for r in rows],
                                                 prior=builtin if was_fitted else None)
    return fitted


def _predict(name: str, sample: CostSample, coefficients: dict[str, dict]) -> float:
    """Seconds of ``sample`` under ``coefficients``, or the built-in ones where those lack
    ``name``; the sample's features serve both (only an unfitted pair's conservative rates
    need the generic count)."""
    builtin, was_fitted = cost.builtin_constants(name)
    if name in coefficients or was_fitted:
        return cost_fit.predict(coefficients.get(name, builtin), sample.features)
    return cost.estimate_with(builtin, False, sample.problem, *name.split(":"))


def _regrets(samples: dict[str, list[CostSample]], coefficients: dict[str, dict],
             cases: Optional[set] = None) -> dict[str, float]:
    """Per calibration layer (those in ``cases``, or all): t(the model's choice) / t(the
    fastest), the choice made as the dispatcher makes it (lowest estimate among the
    implementations algo="auto" may use) under ``coefficients`` (built-in ones for the
    implementations it lacks)."""
    by_case: dict[str, dict[str, CostSample]] = {}
    for name, rows in samples.items():
        for r in rows:
            if r.auto and (cases is None or r.case in cases):
                by_case.setdefault(r.case, {})[name] = r
    out = {}
    for case, per_impl in by_case.items():
        if len(per_impl) < 2:
            continue
        chosen = min(per_impl, key=lambda name: _predict(name, per_impl[name], coefficients))
        out[case] = per_impl[chosen].seconds / min(r.seconds for r in per_impl.values())
    return out


def _log_error(samples: dict[str, list[CostSample]], coefficients: dict[str, dict],
               cases: Optional[set] = None) -> list[float]:
    return [abs(math.log(max(_predict(name, r, coefficients), 1e-12) / r.seconds))
            for name, rows in samples.items() for r in rows
            if cases is None or r.case in cases]


@dataclass
class CostVerdict:
    """How the refit model chose on layers it was not fitted on (cross-validation), against
    the built-in model on the same layers."""
    builtin_regret: tuple[float, float]   # (geomean, worst) of t(chosen) / t(fastest)
    refit_regret: tuple[float, float]
    builtin_error: float                  # geomean of max(predicted/measured, its inverse)
    refit_error: float

    @property
    def better(self) -> bool:
        """The refit chooses better, or as well (within 0.1%) and predicts times better."""
        builtin, refit = self.builtin_regret[0], self.refit_regret[0]
        return refit < builtin * (1 - 1e-3) or (refit <= builtin * (1 + 1e-3)
                                                and self.refit_error < self.builtin_error)


def cross_validate(samples: dict[str, list[CostSample]], folds: int = CV_FOLDS) -> CostVerdict:
    """Fit on all layers but one fold, judge the choices and predictions on that fold; every
    layer is judged once, by a fit that never saw it."""
    cases = list(dict.fromkeys(r.case for rows in samples.values() for r in rows))
    held_regret: dict[str, float] = {}
    held_error: list[float] = []
    for k in range(folds):
        held = set(cases[k::folds])
        train = {name: [r for r in rows if r.case not in held] for name, rows in samples.items()}
        refit = fit_costs(train)
        held_regret.update(_regrets(samples, refit, held))
        held_error += _log_error(samples, refit, held)
    builtin_regret = _regrets(samples, {})

    def summary(regrets):
        values = list(regrets.values()) or [1.0]
        return _geomean(values), max(values)
    return CostVerdict(summary(builtin_regret), summary(held_regret),
                       math.exp(float(np.mean(_log_error(samples, {})))),
                       math.exp(float(np.mean(held_error))) if held_error else math.inf)


# ---- the command -------------------------------------------------------------------------
def tune_machine(budget_s: float = 180.0, progress: Callable[[str], None] = print,
                 dtypes=DTYPES, calibrate: bool = True) -> TuneReport:
    """Measure the GEMM blocks (per dtype, active ISA) and refit the cost model, store them in
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
        progress("cost model refit (calibration suite) ...")
        samples = time_calibration(start + budget_s * 0.95, progress)
        verdict = cross_validate(samples)
        report.cost_verdict = verdict
        refit = fit_costs(samples)
        for name, coefficients in refit.items():
            rows = samples[name]
            report.cost_fit[name] = (len(rows), math.exp(float(np.mean(
                _log_error({name: rows}, {name: coefficients})))))
        if verdict.better:
            cost_store = refit
        else:
            report.notes.append(
                "cost refit not stored: on layers it was not fitted on, the dispatcher chose "
                f"with regret {verdict.refit_regret[0]:.3f} (built-in model "
                f"{verdict.builtin_regret[0]:.3f}) and predicted times within "
                f"{verdict.refit_error:.2f}x (built-in {verdict.builtin_error:.2f}x)")
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
