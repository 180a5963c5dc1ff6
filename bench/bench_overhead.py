"""Fixed cost per call and at start-up: what a tiny convolution costs beyond its arithmetic.

    python bench/bench_overhead.py               # per-call table, then the cold-start table
    python bench/bench_overhead.py --no-cold     # per-call table only
    python bench/bench_overhead.py --calls 50000 --threads 1

Per call: the problem (1, 8, 4, 4) float32 x (8, 8, 1, 1) (a few hundred multiply-adds, so
what is timed is the call's fixed cost) through fastconv.conv2d, a ConvPlan made with the
weights (``p(x)``) and without (``p(x, w)``), torch.nn.functional.conv2d and onnxruntime (when
installed) on the same arrays, and numpy.matmul of the same matrices (weight (8, 8) @ input
(8, 16)) for scale. Every call is timed on its own (perf_counter_ns) after a warm-up that
includes fastconv's first (validating) call; the libraries take turns in rounds, so a
disturbance from another process hits all alike; median and 90th percentile in microseconds.
The same thread count is given to every library (--threads, default fastconv's).

Cold start (fresh ``python -c`` processes, best and median of --cold-runs): ``import
fastconv`` and the first conv2d on NumPy arrays, next to the second call (the kernel plus the
per-call cost) and whether numba / numba.cuda were imported; then a measured plan
(mode="measure") in a new process against a plan-cache hit for the same problem in another new
process (a private FASTCONV_CACHE_DIR).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

X_SHAPE, W_SHAPE = (1, 8, 4, 4), (8, 8, 1, 1)


def header(threads: int) -> str:
    import fastconv
    from fastconv import machine
    from fastconv.backends import c as c_backend
    isa = (f"ISA {c_backend.active_isa()} (CPU supports {', '.join(c_backend.supported_isas())})"
           if c_backend.unavailable_reason() is None else "C extension not built")
    return (f"CPU: {machine.cpu_model()}, {os.cpu_count()} logical CPUs; {isa}\n"
            f"fastconv {fastconv.__version__}, numpy {np.__version__}, Python "
            f"{sys.version.split()[0]}; {threads} thread(s) for every library")


# ---- per call ------------------------------------------------------------------------------
def contenders(threads: int) -> dict:
    """{name: zero-argument call} on the tiny problem, each warmed up once."""
    import fastconv
    rng = np.random.default_rng(0)
    x = rng.standard_normal(X_SHAPE).astype(np.float32)
    w = rng.standard_normal(W_SHAPE).astype(np.float32)
    fastconv.set_num_threads(threads)
    calls = {"fastconv.conv2d": lambda: fastconv.conv2d(x, w)}
    with_weights = fastconv.plan(X_SHAPE, W_SHAPE, weight=w)
    without = fastconv.plan(X_SHAPE, W_SHAPE)
    calls["ConvPlan p(x)"] = lambda: with_weights(x)
    calls["ConvPlan p(x, w)"] = lambda: without(x, w)
    try:
        import torch
        import torch.nn.functional as F
        torch.set_num_threads(threads)
        tx, tw = torch.from_numpy(x), torch.from_numpy(w)

        def torch_call():
            with torch.inference_mode():
                return F.conv2d(tx, tw)
        calls[f"torch {torch.__version__.split('+')[0]} F.conv2d"] = torch_call
    except ImportError:
        pass
    try:
        import onnxruntime as ort
        from onnx import TensorProto, helper, numpy_helper
        graph = helper.make_graph(
            [helper.make_node("Conv", ["x", "w"], ["y"])], "tiny",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(X_SHAPE))],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
            [numpy_helper.from_array(w, "w")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        session = ort.InferenceSession(model.SerializeToString(), options,
                                       providers=["CPUExecutionProvider"])
        feed = {"x": x}
        calls[f"onnxruntime {ort.__version__}"] = lambda: session.run(None, feed)
    except ImportError:
        pass
    w2, x2 = w.reshape(8, 8), x.reshape(8, 16)
    calls["numpy.matmul (8x8 @ 8x16)"] = lambda: np.matmul(w2, x2)
    kernel = _kernel_alone(x, w)
    if kernel is not None:
        calls["(direct:c's C call alone)"] = kernel
    reference = fastconv.reference.conv2d(x.astype(np.float64), w.astype(np.float64))
    for name, call in calls.items():  # warm-up, and every contender computes the same thing
        result = call()
        if not name.startswith(("numpy", "(")):
            got = np.asarray(result[0] if isinstance(result, list) else result)
            assert np.allclose(got, reference, rtol=1e-4, atol=1e-5), name
    return calls


def _kernel_alone(x, w):
    """The C function direct:c calls on this problem, with descriptor and pointers made
    beforehand: the floor of a call from Python (what the rows above pay beyond it is the
    per-call cost); None when the problem takes another path or the C extension is missing."""
    from fastconv import api
    from fastconv.backends import c as c_backend
    if c_backend.unavailable_reason() is not None:
        return None
    call = api.prepare(2, x, w, None, 1, 0, 1, 1, "NCHW", False)
    y = np.empty(call.problem.out_shape, np.float32)
    size_fn, _, plain_fn = c_backend._direct_functions(call.problem.np_dtype)
    d = c_backend.conv2d_desc(call.problem, call.x, call.w, None, y)
    if size_fn(d, 1 << 30):
        return None
    ffi = c_backend._native()[0]
    args = (d, c_backend.pointer(call.x), c_backend.pointer(call.w), ffi.NULL,
            c_backend.pointer(y))
    return lambda: plain_fn(*args)


def per_call(threads: int, total_calls: int, rounds: int) -> list[tuple[str, float, float]]:
    calls = contenders(threads)
    samples = {name: [] for name in calls}
    per_round = max(1, total_calls // rounds)
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, call in calls.items():
            out = samples[name]
            for _ in range(per_round):
                start = clock()
                call()
                out.append(clock() - start)
    rows = []
    for name, ns in samples.items():
        ns.sort()
        rows.append((name, ns[len(ns) // 2] / 1e3, ns[int(len(ns) * 0.9)] / 1e3))
    return rows


# ---- cold start ----------------------------------------------------------------------------
FIRST_CALL = r"""
import json, sys, time
t0 = time.perf_counter()
import fastconv
t1 = time.perf_counter()
import numpy as np
x = np.ones(%r, np.float32); w = np.ones(%r, np.float32)
t2 = time.perf_counter()
fastconv.conv2d(x, w)
t3 = time.perf_counter()
fastconv.conv2d(x, w)
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "second": t4 - t3,
                  "numba": "numba" in sys.modules, "numba.cuda": "numba.cuda" in sys.modules}))
"""

PLAN = r"""
import json, sys, time
t0 = time.perf_counter()
import fastconv
t1 = time.perf_counter()
p = fastconv.plan(%r, %r, mode="measure", padding=1)
t2 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "plan": t2 - t1, "total": t2 - t0,
                  "source": p.explain().source, "numba": "numba" in sys.modules}))
"""
PLAN_SHAPES = ((1, 32, 28, 28), (32, 32, 3, 3))


def _fresh(code: str, env: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold(runs: int, threads: int) -> None:
    env = dict(os.environ, FASTCONV_NUM_THREADS=str(threads))
    first = [_fresh(FIRST_CALL % (X_SHAPE, W_SHAPE), env) for _ in range(runs)]
    print(f"\ncold start: fresh processes, best / median of {runs} (seconds)")
    for key in ("import", "first", "second"):
        values = [r[key] for r in first]
        print(f"  {key + (' conv2d' if key != 'import' else ' fastconv'):<18} "
              f"{min(values):9.4f} {statistics.median(values):9.4f}")
    totals = [r["import"] + r["first"] - r["second"] for r in first]
    print(f"  {'import + first - kernel':<18} {min(totals):9.4f} {statistics.median(totals):9.4f}"
          f"   (the kernel: the second call)")
    print(f"  numba imported: {any(r['numba'] for r in first)}, numba.cuda imported: "
          f"{any(r['numba.cuda'] for r in first)}")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(env, FASTCONV_CACHE_DIR=cache)
        measured, hits = [], []
        for _ in range(runs):
            for f in os.listdir(cache):
                os.remove(os.path.join(cache, f))
            measured.append(_fresh(PLAN % PLAN_SHAPES, env))
            hits.append(_fresh(PLAN % PLAN_SHAPES, env))
    print(f"plan(mode='measure') of {PLAN_SHAPES[0]} x {PLAN_SHAPES[1]}, new process each "
          f"(median of {runs}):")
    for label, rows in (("measuring", measured), ("plan-cache hit", hits)):
        print(f"  {label:<15} plan() {statistics.median(r['plan'] for r in rows):8.4f} s, "
              f"process incl. import {statistics.median(r['total'] for r in rows):8.4f} s "
              f"({rows[0]['source']}; numba imported: {rows[0]['numba']})")
    ratio_plan = (statistics.median(r["plan"] for r in measured)
                  / statistics.median(r["plan"] for r in hits))
    ratio_total = (statistics.median(r["total"] for r in measured)
                   / statistics.median(r["total"] for r in hits))
    print(f"  hit vs measuring: {ratio_plan:.0f}x faster plan(), {ratio_total:.1f}x faster "
          "process")


def main(argv=None) -> None:
    import fastconv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=fastconv.get_num_threads())
    ap.add_argument("--calls", type=int, default=20000, help="timed calls per library")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--cold-runs", type=int, default=5)
    ap.add_argument("--no-cold", action="store_true")
    args = ap.parse_args(argv)
    print(header(args.threads))
    print(f"\nper call: x {X_SHAPE} float32, weight {W_SHAPE}; {args.calls} calls each "
          f"in {args.rounds} interleaved rounds (microseconds)")
    rows = per_call(args.threads, args.calls, args.rounds)
    width = max(len(r[0]) for r in rows)
    print(f"  {'':<{width}}  {'median':>8}  {'p90':>8}")
    for name, median, p90 in rows:
        print(f"  {name:<{width}}  {median:8.2f}  {p90:8.2f}")
    if not args.no_cold:
        cold(args.cold_runs, args.threads)


if __name__ == "__main__":
    main()
