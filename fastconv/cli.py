"""The ``fastconv`` command: ``info``, ``bench`` and ``profile``.

Subcommands live in one table, ``COMMANDS`` (name -> :class:`Command`): a new one is a function
that adds its arguments and a function that runs it, plus one entry.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import platform
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from . import __version__, get_num_threads, implementations, plan, set_num_threads
from .machine import cpu_model
from .peers import PEERS, peer_rejection, peer_runners
from .profiling import PHASE_HEADERS, PHASES, format_table
from .testing import SMOKE, SUITES, Case, c1, c2, case_rng, make_inputs
from .timing import gflops, interleaved_times

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

# Suites `--suite` takes: the quick one, every named model table, and "smoke" (testing.SMOKE:
# tiny problems for the CLI's own tests; not listed in --help nor in "all").
HIDDEN_SUITES = {"smoke": SMOKE}


def bench_suites() -> dict[str, tuple[Case, ...]]:
    return {"quick": QUICK_SUITE, **SUITES}


def resolve_suites(spec: str) -> dict[str, tuple[Case, ...]]:
    """``--suite`` text ("resnet50", "vgg16,audio", "all") -> name -> cases."""
    known = {**bench_suites(), **HIDDEN_SUITES}
    if spec == "all":
        return dict(SUITES)
    chosen = {}
    for name in (s.strip() for s in spec.split(",") if s.strip()):
        if name not in known:
            raise SystemExit(f"fastconv: unknown suite {name!r}; choose from "
                             f"{', '.join(bench_suites())} or all")
        chosen[name] = known[name]
    return chosen


# ---- info -----------------------------------------------------------------------------------
def c_backend_summary() -> str:
    from .backends import c
    reason = c.unavailable_reason()
    if reason:
        return f"unavailable ({reason})"
    return f"ISA {c.active_isa()} (CPU supports {', '.join(c.supported_isas())})"


def numba_summary() -> str:
    try:
        import numba
    except Exception as exc:
        return f"not importable ({exc})"
    from .backends.numba_cpu import numba_cache_status
    return (f"{numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads available; "
            f"cache {numba_cache_status()}")


def cuda_summary() -> str:
    from .backends import unavailable_reason
    reason = unavailable_reason("cuda")
    if reason:
        return f"unavailable ({reason})"
    try:
        from numba import cuda
        dev = cuda.get_current_device()
        name = dev.name.decode() if isinstance(dev.name, bytes) else dev.name
        return f"{name} (compute capability {'.'.join(map(str, dev.compute_capability))})"
    except Exception as exc:  # a driver that answers is_available() but not the query
        return f"available, device query failed ({exc})"


def peak_summary(threads: int) -> str:
    from .backends import c
    if c.unavailable_reason():
        return "not measured (the C extension is not built)"
    from . import machine
    p = machine.peak(threads)
    return (f"{p.fma_gflops:.1f} GFLOP/s float32 FMA ({p.isa}), {p.bandwidth_gbs:.1f} GB/s "
            f"triad, on {p.threads} thread(s); measured now (ridge at {p.ridge_point:.1f} "
            f"flop/byte)")


def cmd_info(args) -> int:
    threads = get_num_threads()
    print(f"fastconv {__version__}  (numpy {np.__version__}, Python {platform.python_version()})")
    print(f"CPU:      {cpu_model()} ({platform.machine()})")
    print(f"C:        {c_backend_summary()}")
    print(f"Peak:     {peak_summary(threads)}")
    print(f"Numba:    {numba_summary()}")
    print(f"CUDA:     {cuda_summary()}")
    print(f"Threads:  {threads}  (set_num_threads / FASTCONV_NUM_THREADS)")
    print(machine_params_summary())
    print()
    rows = [(impl.name, "yes" if impl.available else "no", impl.reason or "")
            for impl in implementations()]
    print(format_table(("implementation", "available", "reason"), rows))
    return 0


# ---- bench ----------------------------------------------------------------------------------
# Timing schedule of timing.interleaved_times: every implementation and peer of a layer is timed
# in turn, so a disturbance on a shared machine hits all of them alike; the best call counts.
TIMING = {"quick": dict(rounds=2, burst=2, slow=0.5), "full": dict(rounds=5, burst=3, slow=1.0)}


class Progress:
    """A progress bar on stderr when it is a terminal, one line per layer otherwise."""

    def __init__(self, total: int, enabled: bool, stream=None):
        self.total, self.done, self.enabled = total, 0, enabled
        self.stream = stream or sys.stderr
        self.tty = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()

    def step(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        if self.tty:
            width = 30
            filled = width * self.done // max(self.total, 1)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] "
                              f"{self.done}/{self.total} {label[:60]:<60}")
            if self.done == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"  [{self.done}/{self.total}] {label}\n")
        self.stream.flush()


def bench_implementations(names: Optional[list[str]], quick: bool) -> tuple[list, list[str]]:
    """(implementations to time, notes on the ones left out). Default: every available one but
    the NumPy reference; ``--quick`` also leaves out numba while its on-disk cache is cold
    (first calls compile for minutes on a fresh install)."""
    impls = [impl for impl in implementations() if impl.available and impl.backend != "numpy"]
    notes = []
    if names:
        unknown = set(names) - {impl.name for impl in implementations()}
        if unknown:
            raise SystemExit(f"fastconv: unknown implementation(s) {', '.join(sorted(unknown))}")
        for impl in implementations():
            if impl.name in names and not impl.available:
                notes.append(f"{impl.name} left out: {impl.reason}")
        return [impl for impl in impls if impl.name in names], notes
    if quick and any(impl.backend == "numba" for impl in impls):
        from .backends.numba_cpu import numba_cache_status
        status = numba_cache_status()
        if not status.startswith("warm"):
            impls = [impl for impl in impls if impl.backend != "numba"]
            notes.append(f"numba left out of --quick: its cache is {status.split(':')[0]} "
                         "(first calls compile for minutes); run it once without --quick or "
                         "with --impl direct:numba ... to fill the cache")
    return impls, notes


def fastconv_runner(case: Case, impl, x, w, b, weights: str = "per-call") -> Callable[[], object]:
    """One call of ``impl`` on the case: conv2d / conv1d with the weights as an argument, or
    for ``weights="plan"`` a plan made with them (packed or transformed once, as inference
    engines such as onnxruntime do with their initializers)."""
    out = np.empty(case.out_shape, case.dtype)
    if weights == "plan":
        p = plan(case.x_shape, case.weight_shape, weight=w, dtype=case.dtype, algo=impl.algo,
                 backend=impl.backend, **case.kwargs)
        return lambda: p(x, bias=b, out=out)
    return lambda: case.conv(x, w, b, algo=impl.algo, backend=impl.backend, out=out,
                             **case.kwargs)


WEIGHT_MODES = {"per-call": "passed per call", "plan": "prepared once in a plan"}


def bench_case(suite: str, case: Case, impls, peers: list[str], threads: int, timing: dict,
               peak, weights: str = "per-call") -> list[dict]:
    """One result dict per implementation and peer (skipped ones with the reason)."""
    problem = case.problem
    x, w, b = make_inputs(case, case_rng(case))
    runners, kinds, skipped = {}, {}, {}
    for impl in impls:
        reason = impl.rejection(problem)
        if reason:
            skipped[impl.name] = reason
        else:
            runners[impl.name] = fastconv_runner(case, impl, x, w, b, weights)
        kinds[impl.name] = "fastconv"
    for name in peers:
        kinds[name] = "peer"
        reason = peer_rejection(name, case)
        if reason:
            skipped[name] = reason
    runners.update(peer_runners(case, x, w, b, threads, names=[p for p in peers
                                                               if p not in skipped]))
    try:
        times = interleaved_times(runners, **timing)
    except Exception as exc:  # one runner failed: time the others alone to say which
        times = {}
        for name, fn in runners.items():
            try:
                times.update(interleaved_times({name: fn}, **timing))
            except Exception as one_exc:
                skipped[name] = f"failed: {type(one_exc).__name__}: {one_exc}"
        if not times and not skipped:
            raise exc
    rows = []
    intensity = problem.flops / problem.min_bytes
    for name, kind in kinds.items():
        row = dict(suite=suite, layer=case.name or case.id, problem=problem.id,
                   count=case.count, implementation=name, kind=kind, flops=problem.flops,
                   min_bytes=problem.min_bytes, intensity=intensity, seconds=None, times=[],
                   gflops=None, peak_fraction=None, skipped=skipped.get(name))
        if name in times:
            best = min(times[name])
            row.update(seconds=best, times=times[name], gflops=gflops(problem.flops, best))
            if peak is not None:
                row["peak_fraction"] = row["gflops"] / peak.fma_gflops
        rows.append(row)
    return rows


def suite_table(rows: list[dict], columns: list[str]) -> str:
    """GFLOP/s per layer and implementation/peer; '*' marks the fastest of the row; "ours" is
    fastconv's best implementation and "vs peer" its ratio to the fastest peer."""
    by_layer: dict = {}
    for r in rows:
        by_layer.setdefault(r["layer"], {})[r["implementation"]] = r
    header = ["layer", "GFLOP"] + columns + ["ours", "vs peer"]
    lines, ratios = [], []
    for layer, cells in by_layer.items():
        rates = {n: c["gflops"] for n, c in cells.items() if c["gflops"] is not None}
        fastest = max(rates, key=rates.get) if rates else None
        ours = {n: g for n, g in rates.items() if cells[n]["kind"] == "fastconv"}
        theirs = {n: g for n, g in rates.items() if cells[n]["kind"] == "peer"}
        line = [layer, rate_text(next(iter(cells.values()))["flops"] / 1e9)]
        for col in columns:
            g = rates.get(col)
            line.append("-" if g is None else rate_text(g) + ("*" if col == fastest else ""))
        best_ours = max(ours, key=ours.get) if ours else None
        line.append(best_ours or "-")
        if ours and theirs:
            ratio = ours[best_ours] / max(theirs.values())
            ratios.append(ratio)
            line.append(f"{ratio:.2f}x")
        else:
            line.append("-")
        lines.append(line)
    text = format_table(header, lines)
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        text += (f"\ngeometric mean of ours / fastest peer over {len(ratios)} layer(s): "
                 f"{geo:.2f}x")
    totals = net_totals(by_layer)
    if totals:
        text += "\n" + totals
    return text


def net_totals(by_layer: dict) -> str:
    """The whole net's time (each layer's best call x how often the layer occurs in the net)
    for fastconv's best implementation per layer and for each peer, over the layers every one
    of them ran; "" when no peer ran."""
    peers = sorted({n for cells in by_layer.values() for n, c in cells.items()
                    if c["kind"] == "peer" and c["seconds"] is not None})
    if not peers:
        return ""
    ours_total, peer_totals, layers, count = 0.0, dict.fromkeys(peers, 0.0), 0, 0
    for cells in by_layer.values():
        ours = [c["seconds"] for c in cells.values()
                if c["kind"] == "fastconv" and c["seconds"] is not None]
        if not ours or any(cells.get(p, {}).get("seconds") is None for p in peers):
            continue
        n = next(iter(cells.values())).get("count", 1)
        ours_total += n * min(ours)
        for p in peers:
            peer_totals[p] += n * cells[p]["seconds"]
        layers, count = layers + 1, count + n
    if not layers:
        return ""
    parts = ", ".join(f"{p} {t * 1e3:.2f} ms ({ours_total / t:.2f}x)"
                      for p, t in peer_totals.items())
    return (f"whole net ({count} convolutions, {layers} distinct layers; time ratio ours / "
            f"peer): fastconv {ours_total * 1e3:.2f} ms, {parts}")


def rate_text(value: float) -> str:
    """12.3 / 1.23 / 0.0123: three significant digits below 100, whole numbers above."""
    return f"{value:.0f}" if value >= 100 else f"{value:.3g}"


def machine_info(threads: int, peak) -> dict:
    from .backends import c
    info = dict(cpu=cpu_model(), machine=platform.machine(), threads=threads,
                python=platform.python_version(), numpy=np.__version__)
    if not c.unavailable_reason():
        info.update(isa=c.active_isa(), cpu_isas=c.supported_isas())
    if peak is not None:
        info.update(fma_peak_gflops=peak.fma_gflops, bandwidth_gbs=peak.bandwidth_gbs)
    info["numba"] = numba_summary()
    info["cuda"] = cuda_summary()
    return info


def measured_peak(threads: int):
    from .backends import c
    if c.unavailable_reason():
        return None
    from . import machine
    return machine.peak(threads)


def cmd_bench(args) -> int:
    if args.threads:
        set_num_threads(args.threads)
    threads = get_num_threads()
    suites = resolve_suites(args.suite)
    impls, notes = bench_implementations(args.impl, args.quick)
    peers = list(PEERS) if args.compare in (None, "all") else \
        [p.strip() for p in args.compare.split(",") if p.strip() and p.strip() != "none"]
    for p in peers:
        if p not in PEERS:
            raise SystemExit(f"fastconv: unknown peer {p!r}; choose from {', '.join(PEERS)}")
    timing = TIMING["quick" if args.quick else "full"]
    peak = measured_peak(threads)
    progress = Progress(sum(len(cases) for cases in suites.values()), not args.quiet)
    results = []
    mode = "quick timing" if args.quick else "full timing"
    print(f"fastconv {__version__} bench: GFLOP/s (2 x multiply-adds of the direct definition "
          f"/ best call), {threads} thread(s), {mode}, weights {WEIGHT_MODES[args.weights]}; "
          f"'*' = fastest in the row")
    if peak is not None:
        print(f"measured peak {peak.fma_gflops:.1f} GFLOP/s FMA ({peak.isa}), "
              f"{peak.bandwidth_gbs:.1f} GB/s triad")
    for note in notes:
        print(f"note: {note}")
    for suite, cases in suites.items():
        rows = []
        for case in cases:
            rows += bench_case(suite, case, impls, peers, threads, timing, peak, args.weights)
            progress.step(f"{suite}: {case.name or case.id}")
        results += rows
        used = {r["implementation"] for r in rows if r["gflops"] is not None}
        columns = [i.name for i in impls if i.name in used] + [p for p in peers if p in used]
        print(f"\n== {suite} ({len(cases)} layers)")
        print(suite_table(rows, columns))
    if args.json:
        doc = dict(schema=1, fastconv=__version__,
                   created=datetime.datetime.now(datetime.timezone.utc).isoformat(),
                   machine=machine_info(threads, peak),
                   settings=dict(suites=list(suites), quick=args.quick, threads=threads,
                                 weights=args.weights,
                                 implementations=[i.name for i in impls], peers=peers,
                                 timing=timing),
                   results=results)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"\nwrote {args.json} ({len(results)} entries)")
    if args.plot:
        plot_roofline(results, peak, args.plot, title=f"fastconv {__version__}: "
                      f"{', '.join(suites)} ({threads} thread(s))")
        print(f"wrote {args.plot}")
    return 0


def plot_roofline(results: list[dict], peak, path: str, title: str = "") -> None:
    """Arithmetic intensity (flop per byte of ConvProblem.min_bytes) against GFLOP/s, one
    marker style per implementation (filled) or peer (hollow), under the measured ceilings."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("fastconv: --plot needs matplotlib: pip install 'fastconv[plot]'")
    timed = [r for r in results if r["gflops"] is not None]
    fig, ax = plt.subplots(figsize=(10, 6.5), dpi=110)
    names = list(dict.fromkeys(r["implementation"] for r in timed))
    markers = "osD^v<>pPX*h"
    cmap = plt.get_cmap("tab10")
    for i, name in enumerate(names):
        pts = [r for r in timed if r["implementation"] == name]
        peer = pts[0]["kind"] == "peer"
        ax.scatter([r["intensity"] for r in pts], [r["gflops"] for r in pts],
                   marker=markers[i % len(markers)], s=46, linewidths=1.4,
                   facecolors="none" if peer else cmap(i % 10), edgecolors=cmap(i % 10),
                   label=name + (" (peer)" if peer else ""), zorder=3)
    lo_x = min([r["intensity"] for r in timed] + [1.0]) / 2
    hi_x = max([r["intensity"] for r in timed] + [10.0]) * 2
    if peak is not None:
        xs = np.geomspace(lo_x, hi_x, 200)
        ax.plot(xs, np.minimum(peak.fma_gflops, peak.bandwidth_gbs * xs), color="black", lw=2,
                zorder=2)
        ax.axhline(peak.fma_gflops, color="black", lw=0.8, ls=":", zorder=1)
        ax.text(hi_x / 1.1, peak.fma_gflops * 1.08,
                f"measured FMA peak {peak.fma_gflops:.0f} GFLOP/s ({peak.isa}, "
                f"{peak.threads} thr)", ha="right", va="bottom", fontsize=9)
        x_bw = max(lo_x * 1.5, peak.ridge_point / 30)
        ax.text(x_bw * 1.3, peak.bandwidth_gbs * x_bw,
                f"measured triad bandwidth {peak.bandwidth_gbs:.1f} GB/s", fontsize=9,
                ha="left", va="top")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo_x, hi_x)
    rates = [r["gflops"] for r in timed] + ([peak.fma_gflops] if peak is not None else [])
    if rates:  # room above the highest point and the peak's label
        ax.set_ylim(min(rates) / 2, max(rates) * 2)
    ax.set_xlabel("arithmetic intensity (flop / minimum bytes moved: x, weight, bias, y)")
    ax.set_ylabel("GFLOP/s (float32 unless the layer says f64)")
    ax.set_title(title or "fastconv roofline", fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---- profile --------------------------------------------------------------------------------
def load_shapes(path: str) -> tuple[Case, ...]:
    """Cases from a JSON file: a list (or {"layers": [...]}) of objects with Case's fields,
    e.g. {"n": 1, "c_in": 64, "c_out": 64, "size": [56, 56], "kernel": [3, 3], "padding": 1,
    "name": "my.layer"}; lists become tuples."""
    with open(path) as f:
        doc = json.load(f)
    layers = doc.get("layers") if isinstance(doc, dict) else doc
    if not isinstance(layers, list):
        raise SystemExit(f"fastconv: {path}: expected a list of layers or {{'layers': [...]}}")

    def tuples(v):
        return tuple(tuples(e) for e in v) if isinstance(v, list) else v
    cases = []
    for i, layer in enumerate(layers):
        try:
            case = Case(**{k: tuples(v) for k, v in layer.items()})
            case.problem  # validates like the API
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"fastconv: {path}: layer {i}: {exc}")
        cases.append(case)
    return tuple(cases)


def cmd_profile(args) -> int:
    from . import dispatch, profile
    from .registry import BY_NAME
    if args.threads:
        set_num_threads(args.threads)
    unknown = set(args.impl or ()) - set(BY_NAME)
    if unknown:
        raise SystemExit(f"fastconv: unknown implementation(s) {', '.join(sorted(unknown))}")
    if args.shapes:
        suites = {args.shapes: load_shapes(args.shapes)}
    else:
        suites = resolve_suites(args.suite)
    header = ("layer", "implementation", "ms/call", "GFLOP/s") + PHASE_HEADERS + ("other",)
    print(f"fastconv {__version__} profile: ms per call (best of {args.repeats}), "
          f"{get_num_threads()} thread(s); phases from the C kernels' fc_profile, 'other' = "
          "call time outside them, '-' = not reported")
    for suite, cases in suites.items():
        rows, notes = [], []
        for case in cases:
            problem = case.problem
            if args.impl:
                impls = []
                for name in args.impl:
                    reason = BY_NAME[name].rejection(problem)
                    if reason:
                        notes.append(f"{case.name or case.id}: {name} left out: {reason}")
                    else:
                        impls.append(BY_NAME[name])
            else:
                impls = [dispatch.select(problem, None, None)]  # what conv2d would run
            x, w, b = make_inputs(case, case_rng(case))
            for impl in impls:
                run = fastconv_runner(case, impl, x, w, b)
                run()  # JIT, planning, first-touch: outside the profile
                with profile(quiet=True) as prof:
                    for _ in range(args.repeats):
                        run()
                rows.append(profile_row(case, impl.name, prof.calls))
        print(f"\n== {suite}")
        print(format_table(header, rows))
        for note in notes:
            print(f"note: {note}")
    return 0


def profile_row(case: Case, name: str, calls) -> list[str]:
    """The fastest call's time and phases (the least disturbed one, as the benchmarks do)."""
    best = min(calls, key=lambda r: r.seconds)
    row = [case.name or case.id, name, f"{best.seconds * 1e3:.3f}", rate_text(best.gflops)]
    if best.phases is None:
        return row + ["-"] * (len(PHASES) + 1)
    phase_ms = [best.phases[k] * 1e3 for k in PHASES]
    return row + [f"{ms:.3f}" for ms in phase_ms] + \
        [f"{max(best.seconds * 1e3 - sum(phase_ms), 0.0):.3f}"]


def _cases_from(args) -> dict[str, tuple[Case, ...]]:
    """The layers a tune/explain command names: --shapes FILE, else --suite (quick default),
    narrowed by --layer (a substring of the layer name or problem id)."""
    suites = {args.shapes: load_shapes(args.shapes)} if args.shapes else resolve_suites(args.suite)
    if getattr(args, "layer", None):
        suites = {name: tuple(c for c in cases if args.layer in c.id) for name, cases
                  in suites.items()}
    return {name: cases for name, cases in suites.items() if cases}


def _int_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")


def cmd_tune(args) -> int:
    """Measure-mode plans for every layer of the suites: the plan cache remembers the winners,
    so later conv2d(algo="auto") calls in any process on this machine use them."""
    from . import plan_cache, tune
    if args.threads:
        set_num_threads(args.threads)
    if args.reset:
        from .tune_machine import reset_machine
        from .machine_params import tuning_path
        print(f"fastconv: removed {tuning_path()}" if reset_machine() else
              f"fastconv: no tuning file at {tuning_path()}")
        print(machine_params_summary())
        return 0
    if args.machine:
        return tune_machine_command(args)
    suites = _cases_from(args)
    if not suites:
        raise SystemExit("fastconv: no layer matches")
    print(f"fastconv {__version__} tune: {get_num_threads()} thread(s), plan cache "
          f"{plan_cache.cache_path()}")
    for suite, cases in suites.items():
        rows = []

        def progress(result, suite=suite):
            if not args.quiet:
                print(f"  {suite}: {result.case}: {result.impl}", file=sys.stderr)
        for result in tune(cases, remeasure=args.remeasure, progress=progress):
            ms = "-" if result.seconds is None else f"{result.seconds * 1e3:.3f}"
            rows.append([result.case, result.impl, ms, result.source])
        print(f"\n== {suite}")
        print(format_table(("layer", "chosen", "ms", "source"), rows))
    return 0


def tune_machine_command(args) -> int:
    from .tune_machine import tune_machine
    progress = (lambda text: None) if args.quiet else \
        (lambda text: print(text, file=sys.stderr, flush=True))
    print(f"fastconv {__version__} tune --machine: {cpu_model()}, {get_num_threads()} "
          f"thread(s), budget {args.budget:.0f} s")
    report = tune_machine(budget_s=args.budget, progress=progress,
                          calibrate=not args.no_calibrate)
    rows = []
    for key, tuned in report.gemm.items():
        derived = report.gemm_derived[key]
        d_score, t_score = report.gemm_score[key]
        rows.append([key, "{mc}/{kc}/{nc}".format(**derived), "{mc}/{kc}/{nc}".format(**tuned),
                     f"{d_score / t_score:.3f}"])
    print("\nGEMM cache blocks (mc/kc/nc); speed-up = derived geomean time / tuned")
    print(format_table(("dtype:isa", "derived", "tuned", "speed-up"), rows))
    if report.cost_fit:
        rows = [[name, str(n_rows), f"{error:.2f}x", "yes" if name in report.cost else "no"]
                for name, (n_rows, error) in report.cost_fit.items()]
        print("\nCost model refit on this machine (coefficients of fastconv.cost's features)")
        print(format_table(("implementation", "layers", "fit error", "stored"), rows))
        verdict = report.cost_verdict
        print("choices on calibration layers the refit did not see (4-fold cross-validation):"
              f" regret {verdict.builtin_regret[0]:.3f} (worst {verdict.builtin_regret[1]:.2f}) "
              f"built in -> {verdict.refit_regret[0]:.3f} (worst {verdict.refit_regret[1]:.2f}) "
              f"refit; prediction error {verdict.builtin_error:.2f}x -> "
              f"{verdict.refit_error:.2f}x (geometric means)")
    for note in report.notes:
        print(f"note: {note}")
    print(f"\nstored in {report.path} ({report.seconds:.0f} s); `fastconv tune --machine "
          "--reset` removes it")
    return 0


def machine_params_summary() -> str:
    """The parameters the C kernels run with and where each set came from."""
    from .backends import c
    if c.unavailable_reason():
        return "Params:   none (the C extension is not built)"
    c._native()  # applies them
    from . import machine_params
    active = machine_params.active()
    caches = active.caches
    lines = [f"Caches:   L1d {caches.l1d // 1024} KiB, L2 {caches.l2 // 1024} KiB, "
             f"L3 {caches.l3 // 1024} KiB per core ({caches.source})"]
    isa = c.active_isa()
    for key, blk in active.gemm.items():
        if key.endswith(":" + isa):
            lines.append(f"GEMM:     {key} mr {blk['mr']} nr {blk['nr']} mc {blk['mc']} "
                         f"kc {blk['kc']} nc {blk['nc']} ({active.gemm_source[key]})")
    lines.append(f"Cost:     {active.cost_source}"
                 + (f" ({', '.join(sorted(active.cost))})" if active.cost else
                    " (fastconv/cost_constants.py)"))
    return "\n".join(lines)


def cmd_explain(args) -> int:
    """Every implementation for one problem (or each layer of a suite): accepted or rejected
    with the reason, the cost model's estimate, measured times in measure mode, the choice."""
    from . import explain
    if args.threads:
        set_num_threads(args.threads)
    mode = "measure" if args.measure else "heuristic"
    if args.x_shape:
        if not args.weight_shape:
            raise SystemExit("fastconv explain: --x-shape needs --weight-shape")
        padding = args.padding if args.padding in ("same", "valid", "same_lower") \
            else _int_tuple(args.padding)
        padding = padding[0] if isinstance(padding, tuple) and len(padding) == 1 else padding
        print(explain(args.x_shape, args.weight_shape, dtype=args.dtype, stride=args.stride,
                      padding=padding, dilation=args.dilation, groups=args.groups,
                      layout=args.layout, mode=mode))
        return 0
    suites = _cases_from(args)
    if not suites:
        raise SystemExit("fastconv: no layer matches")
    for suite, cases in suites.items():
        for case in cases:
            print(f"== {suite}: {case.id}")
            print(explain(case.x_shape, case.weight_shape, dtype=case.dtype, mode=mode,
                          **case.kwargs))
            print()
    return 0


# ---- the command table ----------------------------------------------------------------------
def add_info_arguments(parser) -> None:
    pass


def add_bench_arguments(parser) -> None:
    parser.add_argument("--suite", default="quick", metavar="NAME",
                        help=f"suite(s), comma-separated: {', '.join(bench_suites())}, or all "
                        "(the model tables); default quick")
    parser.add_argument("--impl", nargs="+", metavar="ALGO:BACKEND",
                        help="only these implementations")
    parser.add_argument("--threads", type=int, help="threads for fastconv and the peers")
    parser.add_argument("--compare", metavar="PEERS",
                        help=f"peers, comma-separated ({', '.join(PEERS)}), all (default: "
                        "those installed) or none")
    parser.add_argument("--json", metavar="FILE", help="write every timing to FILE")
    parser.add_argument("--plot", metavar="FILE.png", help="write a roofline plot (matplotlib)")
    parser.add_argument("--quick", action="store_true",
                        help="short timing schedule (< 60 s for the quick suite)")
    parser.add_argument("--weights", choices=tuple(WEIGHT_MODES), default="per-call",
                        help="how fastconv gets the weights: per-call (conv2d(x, w), default) "
                        "or plan (a plan made with them, prepared once, as the peers' "
                        "inference sessions do)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_profile_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--suite", default="quick", metavar="NAME",
                        help="suite(s) as for bench; default quick")
    source.add_argument("--shapes", metavar="FILE.json",
                        help="layers from a JSON list of Case fields (n, c_in, c_out, size, "
                        "kernel, stride, padding, dilation, groups, dtype, layout, name)")
    parser.add_argument("--impl", nargs="+", metavar="ALGO:BACKEND",
                        help="profile these implementations (default: the dispatcher's choice)")
    parser.add_argument("--threads", type=int, help="threads for fastconv")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per layer")


def _add_layer_source(parser, default="quick") -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--suite", default=default, metavar="NAME",
                        help=f"suite(s) as for bench; default {default}")
    source.add_argument("--shapes", metavar="FILE.json", help="layers from a JSON file "
                        "(as for profile)")
    parser.add_argument("--layer", metavar="TEXT", help="only layers whose id contains TEXT")
    parser.add_argument("--threads", type=int, help="threads for fastconv")


def add_tune_arguments(parser) -> None:
    _add_layer_source(parser, default="resnet50")
    parser.add_argument("--remeasure", action="store_true",
                        help="time again even where the plan cache has an answer")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--machine", action="store_true",
                        help="instead of layers: measure this CPU's GEMM cache blocks and "
                        "refit the cost model, stored in the cache directory for every "
                        "later process")
    parser.add_argument("--budget", type=float, default=180.0, metavar="SECONDS",
                        help="time budget of --machine (default 180)")
    parser.add_argument("--no-calibrate", action="store_true",
                        help="--machine: GEMM blocks only, no cost model refit")
    parser.add_argument("--reset", action="store_true",
                        help="remove the --machine tuning file (back to derived parameters)")


def add_explain_arguments(parser) -> None:
    _add_layer_source(parser)
    parser.add_argument("--x-shape", type=_int_tuple, metavar="N,C,H,W",
                        help="one problem instead of a suite: the input shape")
    parser.add_argument("--weight-shape", type=_int_tuple, metavar="K,C,R,S")
    parser.add_argument("--stride", type=int, default=1)
    parser.add_argument("--padding", default="0", help="int, h,w, same or valid")
    parser.add_argument("--dilation", type=int, default=1)
    parser.add_argument("--groups", type=int, default=1)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--layout", default=None)
    parser.add_argument("--measure", action="store_true",
                        help="time the candidates (measure mode) and store the winner")


@dataclass(frozen=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "info": Command("version, CPU, ISA, measured peak, threads, Numba/CUDA, implementations",
                    add_info_arguments, cmd_info),
    "bench": Command("GFLOP/s of every implementation and peer over benchmark suites",
                     add_bench_arguments, cmd_bench),
    "profile": Command("per-phase times of the chosen kernels per layer",
                       add_profile_arguments, cmd_profile),
    "tune": Command("measure every layer of a suite and remember the winners (plan cache); "
                    "--machine: this CPU's GEMM blocks and cost model",
                    add_tune_arguments, cmd_tune),
    "explain": Command("every implementation for a problem: reasons, estimates, the choice",
                       add_explain_arguments, cmd_explain),
}


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="fastconv", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.add_arguments(sub.add_parser(name, help=command.help))
    args = parser.parse_args(argv)
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
