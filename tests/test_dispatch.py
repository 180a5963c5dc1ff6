"""The dispatcher: cost model, guards, forcing by environment, plans (prepared weights,
explain, measure mode) and tune. Plan-cache storage itself: test_plan_cache.py."""
import math
import sys

import numpy as np
import pytest

import fastconv
from fastconv import cost, dispatch, plan_cache
from fastconv.plan import ConvPlan
from fastconv.registry import BY_NAME, REFERENCE, REGISTRY, Implementation
from fastconv.testing import (EDGES, MODEL_LAYERS, SMOKE, c1, c2, case_rng, make_inputs, oracle,
                              normwise_error, tolerance)


pytestmark = pytest.mark.usefixtures("isolated_dispatch")  # tests/conftest.py


def accepted(problem, algos=None, backend=None):
    return [o for o in dispatch.options(problem, algos, backend) if o.reason is None]


# ---- cost model ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", SMOKE + EDGES[:8] + MODEL_LAYERS, ids=str)
def test_estimates_are_positive_and_finite_for_every_pair(case):
    for impl in REGISTRY:
        feats = cost.features(case.problem, impl.algo, impl.backend)
        assert feats["call"] == 1.0
        assert all(math.isfinite(v) and v >= 0 for v in feats.values()), (impl.name, feats)
        seconds = cost.estimate(case.problem, impl.algo, impl.backend)
        assert math.isfinite(seconds) and seconds > 0, impl.name


def test_work_counts_follow_the_algorithms():
    p = c2(1, 64, 56, 56, 64, 3, 3, padding=1).problem
    assert cost.direct_features(p, "c")["mac"] == p.macs
    im2col = cost.im2col_features(p, "c")
    assert im2col["mac_padded"] >= p.macs and im2col["lowered"] == 64 * 9 * 56 * 56
    assert cost.im2col_features(c2(1, 64, 56, 56, 64, 1, 1).problem, "c")["lowered"] == 0
    assert cost.winograd_features(p, "c")["mac"] == pytest.approx(p.macs / 4, rel=0.01)
    # depthwise: winograd:c pads each group's one channel to a vector and two (8 x 16 on AVX2)
    dw = c2(1, 32, 56, 56, 32, 3, 3, padding=1, groups=32).problem
    assert cost.winograd_features(dw, "c")["mac"] == pytest.approx(
        dw.macs / 4 * cost.WINOGRAD_LANES * 2 * cost.WINOGRAD_LANES, rel=0.01)
    # the FFT's multiply count does not grow with the kernel area; the direct one does
    small, large = (c2(1, 4, 64, 64, 4, k, k, padding=k // 2).problem for k in (3, 15))
    assert cost.fft_features(large, "numba")["fft_mac"] < 2 * cost.fft_features(
        small, "numba")["fft_mac"]
    assert cost.direct_features(large, "c")["mac"] == 25 * cost.direct_features(
        small, "c")["mac"]
    # a plan with prepared weights skips the kernel's own transform
    for algo, name in (("winograd", "kernel_transform"), ("fft", "kernel_fft_flop")):
        assert name in cost.WEIGHT_FEATURES[algo] and cost.features(p, algo, "c")[name] > 0


def test_workspace_limit_steers_the_choice_and_refuses_with_memory_error():
    """Under a small workspace limit the kernels whose memory cannot be blocked (fft:c's
    spectra, winograd:c's kernel transform) are rejected with the limit as the reason,
    algo="auto" takes a bounded path, and an explicit request for them raises MemoryError
    before anything is allocated; raising the limit again readmits them."""
    case = c2(1, 32, 20, 20, 32, 3, 3, padding=1)
    problem = case.problem
    x, w, b = make_inputs(case, case_rng(case))
    want = oracle(case, x, w, b)
    old = fastconv.get_workspace_limit()
    try:
        fastconv.set_workspace_limit(32 * 1024)
        reasons = {impl.name: why for impl, why in dispatch.candidates(problem, None, None)}
        for name in ("fft:c", "winograd:c"):
            assert "workspace limit" in reasons[name], (name, reasons[name])
        chosen = dispatch.select(problem, None, None)
        assert chosen.name not in ("fft:c", "winograd:c")
        y = fastconv.conv2d(x, w, b, padding=1)
        assert normwise_error(y, want) <= tolerance("float32", chosen.algo)
        for algo in ("winograd", "fft"):
            with pytest.raises(MemoryError, match="workspace limit"):
                fastconv.conv2d(x, w, b, padding=1, algo=algo, backend="c")
        y = fastconv.conv2d(x, w, b, padding=1, algo="im2col", backend="c")  # in blocks
        assert normwise_error(y, want) <= tolerance("float32", "im2col")
    finally:
        fastconv.set_workspace_limit(old)
    assert dispatch.select(problem, ("winograd",), "c").name == "winograd:c"


def test_unfitted_pairs_get_the_conservative_estimate(monkeypatch):
    from fastconv import cost_constants
    p = c2(1, 16, 20, 20, 16, 3, 3, padding=1).problem
    monkeypatch.setattr(cost_constants, "CONSTANTS", {})
    assert cost.constants("winograd:c") == (cost.CONSERVATIVE, False)
    slow = cost.estimate(p, "winograd", "c")
    assert slow == pytest.approx(1e-3 + 2e-9 * p.macs + 1e-8 * 16 * 20 * 20)
    monkeypatch.setattr(cost_constants, "CONSTANTS", {"winograd:c": {"call": 1e-6, "mac": 1e-12}})
    assert cost.constants("winograd:c")[1]
    assert cost.estimate(p, "winograd", "c") < slow


def fake_winograd(monkeypatch, fitted: bool):
    """A winograd:c entry (computing with direct:c's kernel) added as another helper would add
    it: one registry entry, plus constants when ``fitted``."""
    from fastconv import cost_constants
    direct_c = BY_NAME["direct:c"]
    if not direct_c.available:
        pytest.skip(direct_c.reason)
    entry = Implementation("winograd", "c", direct_c.run)
    others = tuple(e for e in dispatch.REGISTRY if e.name != "winograd:c")  # the real one
    monkeypatch.setattr(dispatch, "REGISTRY", (entry,) + others)
    constants = dict(cost_constants.CONSTANTS)
    constants.setdefault("direct:c", {"call": 1e-6, "mac": 1e-11})  # fitted or not: a rival
    if fitted:
        constants["winograd:c"] = {"call": 1e-9}  # cheaper than anything: chosen if allowed
    monkeypatch.setattr(cost_constants, "CONSTANTS", constants)
    dispatch.select.cache_clear()
    return entry


def test_a_new_algorithm_needs_constants_not_code(monkeypatch):
    p = c2(1, 16, 20, 20, 16, 3, 3, padding=1).problem
    fake_winograd(monkeypatch, fitted=False)
    assert dispatch.select(p, None, None).name != "winograd:c"  # conservative until fitted
    assert "winograd" in dispatch.algo_names()
    fake_winograd(monkeypatch, fitted=True)
    assert dispatch.select(p, None, None).name == "winograd:c"


@pytest.mark.parametrize("case", [c2(1, 16, 20, 20, 16, 5, 5, padding=2),
                                  c2(1, 16, 20, 20, 16, 3, 3, stride=2),
                                  c2(1, 16, 20, 20, 16, 3, 3, dilation=2),
                                  c2(1, 16, 20, 20, 16, 3, 3, dtype="float64")], ids=str)
def test_winograd_only_within_its_accuracy_guard(monkeypatch, case):
    fake_winograd(monkeypatch, fitted=True)
    p = case.problem
    reasons = {o.impl.name: o.reason for o in dispatch.options(p, None, None)}
    assert "accuracy guard" in reasons["winograd:c"]
    assert dispatch.select(p, None, None).name != "winograd:c"
    # an explicit request is not second-guessed
    assert dispatch.select(p, ("winograd",), None).name == "winograd:c"


def test_options_are_ordered_by_estimate_with_the_reference_last():
    p = c2(1, 32, 28, 28, 32, 3, 3, padding=1).problem
    opts = dispatch.options(p, None, None)
    ok = [o for o in opts if o.reason is None]
    assert opts[:len(ok)] == ok  # accepted first, then rejected
    compiled = [o.estimate for o in ok if o.impl is not REFERENCE]
    assert compiled == sorted(compiled)
    if len(ok) > 1:
        assert ok[-1].impl is REFERENCE
    assert dispatch.select(p, None, None) is ok[0].impl
    assert all(o.reason for o in opts[len(ok):])


def test_host_arrays_stay_off_the_gpu():
    p = SMOKE[0].problem
    reasons = {o.impl.name: o.reason for o in dispatch.options(p, None, None)}
    assert all(reasons[name] for name in reasons if name.endswith(":cuda"))


# ---- FASTCONV_ALGO / FASTCONV_BACKEND ----------------------------------------------------------
def test_environment_forces_the_choice(monkeypatch):
    p = c2(1, 32, 28, 28, 32, 3, 3, padding=1).problem
    monkeypatch.setenv("FASTCONV_ALGO", "reference")
    dispatch.select.cache_clear()
    assert dispatch.select(p, None, None) is REFERENCE
    assert dispatch.select(p, ("direct",), None).algo == "direct"  # an explicit algo wins
    monkeypatch.setenv("FASTCONV_ALGO", "auto")
    monkeypatch.setenv("FASTCONV_BACKEND", "numpy")
    dispatch.select.cache_clear()
    assert dispatch.select(p, None, None) is REFERENCE
    ex = fastconv.explain((1, 32, 28, 28), (32, 32, 3, 3), padding=1)
    assert ex.chosen == "reference:numpy" and "backend=numpy" in ex.request


@pytest.mark.parametrize("var, value", [("FASTCONV_ALGO", "fastest"),
                                        ("FASTCONV_BACKEND", "tpu")])
def test_bad_forcing_names_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    dispatch.select.cache_clear()
    with pytest.raises(ValueError, match=var):
        fastconv.conv2d(np.ones((1, 1, 3, 3), np.float32), np.ones((1, 1, 2, 2), np.float32))


# ---- plans -------------------------------------------------------------------------------------
PLAN_CASES = SMOKE + (
    c2(1, 4, 40, 40, 6, 11, 11, padding=5, bias=True),            # fft territory
    c2(2, 6, 9, 8, 5, 1, 1, stride=2, layout="NHWC"),
    c1(1, 4, 29, 6, 5, stride=2, padding=(3, 1), layout="NLC", flip=True),
)


@pytest.mark.parametrize("case", PLAN_CASES, ids=str)
@pytest.mark.parametrize("algo", ["auto", "fft", "direct"])
def test_plan_with_prepared_weights_matches_the_oracle(case, algo):
    if algo != "auto" and not accepted(case.problem, (algo,), "c"):
        pytest.skip(f"{algo}:c cannot run {case.id}")
    backend = "auto" if algo == "auto" else "c"
    x, w, b = make_inputs(case, case_rng(case))
    expected = oracle(case, x, w, b)
    p = fastconv.plan(case.x_shape, case.weight_shape, dtype=case.dtype, weight=w, algo=algo,
                      backend=backend, **case.kwargs)
    assert isinstance(p, ConvPlan) and p.has_weights
    tol = tolerance(case.dtype, p.impl.algo)
    w_saved = w.copy()
    w[...] = np.nan  # the plan holds its own (transformed) weights
    out = np.full(case.out_shape, np.nan, case.dtype)
    assert p(x, bias=b, out=out) is out
    assert normwise_error(out, expected) <= tol
    # other weights of the same shape, per call
    y2 = p(x, 2 * w_saved, None if b is None else 2 * b)
    assert normwise_error(y2, 2 * expected) <= tol


def test_prepared_fft_c_keeps_its_kernel_spectra():
    case = c2(1, 4, 40, 40, 6, 11, 11, padding=5)
    if not accepted(case.problem, ("fft",), "c"):
        pytest.skip("fft:c unavailable")
    x, w, b = make_inputs(case, case_rng(case))
    p = fastconv.plan(case.x_shape, case.weight_shape, algo="fft", backend="c", weight=w,
                      **case.kwargs)
    from fastconv.backends.c import FFTPrepared
    assert isinstance(p._apply.__self__, FFTPrepared)
    np.testing.assert_allclose(p(x, bias=b), case.conv(x, w, b, algo="fft", **case.kwargs),
                               rtol=1e-5, atol=1e-5)


def test_plan_rejects_other_problems():
    case = SMOKE[0]
    x, w, _ = make_inputs(case, case_rng(case))
    p = fastconv.plan(case.x_shape, case.weight_shape, weight=w, **case.kwargs)
    with pytest.raises(ValueError, match="plan was made for"):
        p(np.ones((1, 3, 9, 9), np.float32))
    with pytest.raises(ValueError, match="weight_shape"):
        fastconv.plan(case.x_shape, (4, 3, 5, 5), weight=w, **case.kwargs)
    with pytest.raises(ValueError, match="without weight"):
        fastconv.plan(case.x_shape, case.weight_shape, **case.kwargs)(x)
    with pytest.raises(ValueError, match="mode"):
        fastconv.plan(case.x_shape, case.weight_shape, mode="exhaustive")
    with pytest.raises(ValueError, match="groups"):  # the API's validation, once, at plan time
        fastconv.plan(case.x_shape, case.weight_shape, groups=2)


def test_explain_lists_every_implementation():
    case = c2(1, 16, 20, 20, 16, 3, 3, padding=1)
    ex = fastconv.explain(case.x_shape, case.weight_shape, **case.kwargs)
    text = str(ex)
    assert case.problem.id in text
    for impl in REGISTRY:
        assert impl.name in text
    statuses = [r.status for r in ex.rows]
    assert statuses.count("chosen") == 1
    assert ex.chosen == dispatch.select(case.problem, None, None).name
    for row in ex.rows:
        assert (row.status == "rejected") == bool(row.reason)
        assert (row.estimate is None) == (row.status == "rejected")


def test_measure_mode_times_stores_and_is_reused(monkeypatch):
    case = c2(1, 8, 14, 14, 16, 3, 3, padding=1)
    if len([o for o in accepted(case.problem) if o.impl is not REFERENCE]) < 2:
        pytest.skip("needs two compiled implementations")
    p = fastconv.plan(case.x_shape, case.weight_shape, mode="measure", prune=None,
                      **case.kwargs)
    ex = p.explain()
    measured = {r.impl: r.measured for r in ex.rows if r.measured is not None}
    assert ex.source == "measured" and len(measured) >= 2
    assert "reference:numpy" not in measured  # never timed while compiled ones run
    assert p.impl.name == min(measured, key=measured.get)
    entry = plan_cache.lookup(plan_cache.make_key(case.problem, None, None,
                                                  fastconv.get_num_threads()))
    assert entry.impl == p.impl.name and entry.timings == measured
    # conv2d(algo="auto") now follows the measurement; a second plan reuses it untimed
    assert dispatch.select(case.problem, None, None) is p.impl
    plan_module = sys.modules["fastconv.plan"]  # fastconv.plan is the function
    monkeypatch.setattr(plan_module, "_measure", lambda *a: pytest.fail("measured again"))
    again = fastconv.plan(case.x_shape, case.weight_shape, mode="measure", **case.kwargs)
    assert again.impl is p.impl and "plan cache" in again.explain().source
    assert "measured ms" in str(again.explain())


def test_measure_mode_with_weights_times_them_prepared(monkeypatch):
    """A plan made with its weights is measured as it runs (weights prepared once) and its
    choice is stored apart: calls that bring their weights keep their own choice."""
    case = c2(1, 8, 14, 14, 16, 3, 3, padding=1)
    if len([o for o in accepted(case.problem) if o.impl is not REFERENCE]) < 2:
        pytest.skip("needs two compiled implementations")
    x, w, b = make_inputs(case, case_rng(case))
    plan_module = sys.modules["fastconv.plan"]
    timed_prepared = []
    real = plan_module._prepared_run
    monkeypatch.setattr(plan_module, "_prepared_run",
                        lambda impl, *a: timed_prepared.append(impl.name) or real(impl, *a))
    p = fastconv.plan(case.x_shape, case.weight_shape, weight=w, mode="measure", prune=None,
                      **case.kwargs)
    measured = {r.impl: r.measured for r in p.explain().rows if r.measured is not None}
    assert p.explain().source == "measured" and sorted(timed_prepared) == sorted(measured)
    threads = fastconv.get_num_threads()
    entry = plan_cache.lookup(plan_cache.make_key(case.problem, None, None, threads, True))
    assert entry.impl == p.impl.name and entry.timings == measured
    assert plan_cache.lookup(plan_cache.make_key(case.problem, None, None, threads)) is None
    monkeypatch.setattr(plan_module, "_measure", lambda *a: pytest.fail("measured again"))
    again = fastconv.plan(case.x_shape, case.weight_shape, weight=w, **case.kwargs)
    assert again.impl is p.impl
    assert again.explain().source == "plan cache (measured, weights prepared)"
    assert "plan cache" not in fastconv.plan(case.x_shape, case.weight_shape,
                                             **case.kwargs).explain().source
    np.testing.assert_allclose(again(x, bias=b), oracle(case, x, w, b), rtol=1e-4, atol=1e-4)


def test_measure_mode_prunes_hopeless_candidates():
    case = c2(1, 1, 96, 96, 1, 31, 31, padding=15)
    opts = [o for o in accepted(case.problem) if o.impl is not REFERENCE]
    if len(opts) < 2 or opts[-1].estimate <= 1.01 * opts[0].estimate:
        pytest.skip("needs candidates with different estimates")
    p = fastconv.plan(case.x_shape, case.weight_shape, mode="measure",
                      prune=1.0, **case.kwargs)
    statuses = {r.impl: r.status for r in p.explain().rows}
    assert statuses[opts[-1].impl.name] == "pruned"


def test_tune_fills_the_cache():
    cases = (c2(1, 8, 10, 10, 8, 3, 3, padding=1), c1(1, 4, 40, 8, 5))
    results = fastconv.tune(cases)
    assert [r.case for r in results] == [c.id for c in cases]
    for case, result in zip(cases, results):
        key = plan_cache.make_key(case.problem, None, None, fastconv.get_num_threads())
        stored = plan_cache.lookup(key)
        n_ok = len([o for o in accepted(case.problem) if o.impl is not REFERENCE])
        if n_ok > 1:
            assert stored.impl == result.impl and result.seconds == stored.seconds
    assert all(r.source == "plan cache (measured)" for r in fastconv.tune(cases)
               if r.seconds is not None)


def test_auto_result_is_the_chosen_implementations_result():
    """conv2d(algo="auto") runs exactly what select() names (no second decision in the API)."""
    case = c2(1, 8, 12, 12, 16, 3, 3, padding=1)
    x, w, b = make_inputs(case, case_rng(case))
    impl = dispatch.select(case.problem, None, None)
    np.testing.assert_array_equal(
        case.conv(x, w, b, **case.kwargs),
        case.conv(x, w, b, algo=impl.algo, backend=impl.backend, **case.kwargs))



def test_plans_with_weights_are_ranked_on_prepared_estimates():
    """A plan made with its weights ranks the implementations with a prepare hook without
    their weights' transform (winograd's kernel transform, fft's kernel spectra); the others
    keep their per-call estimates."""
    p = c2(1, 512, 7, 7, 512, 3, 3, padding=1).problem
    per_call = {o.impl.name: o.estimate for o in dispatch.options(p, None, None)
                if o.reason is None}
    prepared = {o.impl.name: o.estimate for o in dispatch.options(p, None, None, prepared=True)
                if o.reason is None}
    assert prepared["winograd:c"] < per_call["winograd:c"]
    assert prepared["im2col:c"] == per_call["im2col:c"]  # no prepare hook
    assert all(prepared[name] <= per_call[name] for name in per_call)
