"""Machine parameters: cache sizes from sysfs, the derived GEMM blocks, the tuning file (round
trip; foreign, stale and corrupt files ignored with a warning), odd blockings still right
against the oracle, and `fastconv tune --machine` end to end on a small workload."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastconv
from fastconv import machine_params, reference
from fastconv.backends import c as cb

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(cb.unavailable_reason() is not None,
                                reason="the C extension is not built")


@pytest.fixture
def tuning_dir(tmp_path, monkeypatch):
    """A private cache directory; the process's parameters re-applied from it before and after
    the test (so no tuning file of the user's or of the test leaks into other tests)."""
    monkeypatch.setenv("FASTCONV_CACHE_DIR", str(tmp_path))
    cb.reload_machine_params()
    yield tmp_path
    monkeypatch.undo()
    cb.reload_machine_params()


def _fake_sysfs(root: Path, entries) -> Path:
    for i, (level, kind, size, shared) in enumerate(entries):
        d = root / f"index{i}"
        d.mkdir(parents=True)
        (d / "level").write_text(f"{level}\n")
        (d / "type").write_text(f"{kind}\n")
        (d / "size").write_text(f"{size}\n")
        (d / "shared_cpu_list").write_text(f"{shared}\n")
    return root


def test_cache_sizes_from_sysfs(tmp_path):
    root = _fake_sysfs(tmp_path, [(1, "Data", "48K", "0"), (1, "Instruction", "32K", "0"),
                                  (2, "Unified", "2048K", "0"), (3, "Unified", "32M", "0-3")])
    got = machine_params.read_cache_sizes(root)
    assert got == machine_params.CacheSizes(48 << 10, 2 << 20, 8 << 20, "derived")


def test_cache_sizes_fall_back_to_built_in(tmp_path):
    assert machine_params.read_cache_sizes(tmp_path / "missing") == \
        machine_params.BUILT_IN_CACHES
    root = _fake_sysfs(tmp_path / "l1only", [(1, "Data", "32K", "0")])
    assert machine_params.read_cache_sizes(root).source == "built in"


def test_derived_blocks_follow_the_rule():
    caches = machine_params.CacheSizes(32 << 10, 1 << 20, 16 << 20, "derived")
    assert machine_params.derive_gemm_blocking(14, 32, 4, caches) == \
        {"mr": 14, "nr": 32, "mc": 504, "kc": 256, "nc": 8192}
    assert machine_params.derive_gemm_blocking(6, 16, 4, caches) == \
        {"mr": 6, "nr": 16, "mc": 252, "kc": 512, "nc": 4096}
    big = machine_params.CacheSizes(48 << 10, 2 << 20, 0, "derived")
    blk = machine_params.derive_gemm_blocking(14, 16, 8, big)
    assert blk["kc"] == 384 and blk["mc"] % 14 == 0 and blk["nc"] % 16 == 0
    assert blk["mc"] * blk["kc"] * 8 <= (2 << 20) // 2


def test_active_parameters_are_applied():
    active = machine_params.active() or cb.reload_machine_params()
    isa = cb.active_isa()
    for dtype in ("float32", "float64"):
        assert active.gemm[f"{dtype}:{isa}"] == cb.gemm_blocking(isa, dtype)
    if active.caches.source == "derived":
        assert active.gemm_source[f"float32:{isa}"].startswith(("derived", "tuned"))


def _tuned_blocks(isa):
    return {f"{dtype}:{isa}": dict(cb.gemm_blocking(isa, dtype), mc=3 * cb.gemm_blocking(
        isa, dtype)["mr"], kc=48) for dtype in ("float32", "float64")}


def test_tuning_file_round_trip(tuning_dir):
    best = cb.cpu_isa()
    gemm = _tuned_blocks(best)
    cost = {"im2col:c": {"call": 2e-5, "mac_padded": 3e-11, "lowered": 1e-10}}
    path = machine_params.store_tuned(best, gemm, cost)
    assert path == tuning_dir / "machine.json"
    loaded = machine_params.load_tuned(best)
    assert loaded.gemm == gemm and loaded.cost == cost
    active = cb.reload_machine_params()
    for key, blk in gemm.items():
        dtype, isa = key.split(":")
        assert cb.gemm_blocking(isa, dtype)["kc"] == 48
        assert active.gemm_source[key].startswith("tuned on ")
    assert machine_params.tuned_cost("im2col:c") == cost["im2col:c"]
    # the tuned coefficients replace the built-in ones in the cost model
    from fastconv import cost as cost_model
    from fastconv import testing
    problem = testing.SMOKE[0].problem
    assert cost_model.constants("im2col:c") == (cost["im2col:c"], True)
    feats = cost_model.features(problem, "im2col", "c")
    want = sum(cost["im2col:c"].get(f, 0.0) * v for f, v in feats.items())
    assert cost_model.estimate(problem, "im2col", "c") == pytest.approx(want, rel=1e-12)
    assert machine_params.remove_tuned() and not path.exists()
    active = cb.reload_machine_params()
    assert not active.gemm_source[f"float32:{cb.active_isa()}"].startswith("tuned")
    assert machine_params.tuned_cost("im2col:c") is None
    assert cost_model.constants("im2col:c") == cost_model.builtin_constants("im2col:c")


@pytest.mark.parametrize("field,value", [("cpu", "Another CPU 9000"), ("isa", "scalar-x"),
                                         ("version", "0.0.0-other")])
def test_foreign_tuning_file_is_ignored(tuning_dir, field, value):
    best = cb.cpu_isa()
    path = machine_params.store_tuned(best, _tuned_blocks(best), {})
    data = json.loads(path.read_text())
    data[field] = value
    path.write_text(json.dumps(data))
    with pytest.warns(RuntimeWarning, match="another machine or version"):
        assert machine_params.load_tuned(best) is None
    with pytest.warns(RuntimeWarning):
        active = cb.reload_machine_params()
    assert not any(s.startswith("tuned") for s in active.gemm_source.values())


@pytest.mark.parametrize("text", ["not json {", "[]", '{"format": 99}',
                                  '{"format": 2, "gemm": {"float32:avx2": {"mr": -1}}, '
                                  '"cost": {}, "created": 0}',
                                  '{"format": 2, "gemm": {}, "cost": {"x:c": {"call": -1}}, '
                                  '"created": 0}',
                                  '{"format": 2, "gemm": {}, "cost": {"x:c": {}}, '
                                  '"created": 0}',
                                  # an older file: a per-call time and a scale per implementation
                                  '{"format": 1, "gemm": {}, "cost": {"x:c": {"call": 1e-5, '
                                  '"scale": 1.2}}, "created": 0}'])
def test_corrupt_tuning_file_is_ignored(tuning_dir, text):
    (tuning_dir / "machine.json").write_text(text)
    with pytest.warns(RuntimeWarning, match="not valid"):
        assert machine_params.load_tuned(cb.cpu_isa()) is None


def test_corrupt_tuning_file_does_not_break_a_new_process(tmp_path):
    (tmp_path / "machine.json").write_text("\x00garbage")
    code = ("import warnings, numpy as np, fastconv\n"
            "warnings.simplefilter('error')\n"
            "x = np.ones((1, 2, 5, 5), np.float32); w = np.ones((3, 2, 3, 3), np.float32)\n"
            "try:\n"
            "    fastconv.conv2d(x, w, algo='im2col', backend='c')\n"
            "except RuntimeWarning as exc:\n"
            "    print('warned:', exc)\n"
            "warnings.simplefilter('ignore')\n"
            "y = fastconv.conv2d(x, w, algo='im2col', backend='c')\n"
            "print('ok', float(y[0, 0, 1, 1]))\n")
    env = dict(os.environ, FASTCONV_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "warned:" in out.stdout and "not valid" in out.stdout
    assert "ok 18.0" in out.stdout


def test_set_gemm_blocking_refuses_out_of_bounds():
    with pytest.raises(ValueError, match="outside the kernel's bounds"):
        cb.set_gemm_blocking("float32", mc=1, kc=0, nc=1)


# Blocks far from any sensible value: kc 1 (one rank-1 update per pass, C read and written
# every step), mc one tile, nc one panel; a kc that leaves a remainder of 1; huge blocks.
ODD_BLOCKINGS = [(1, 1, 1), (1, 17, 1), (3, 5, 2), (7, 33, 3), (2000, 4096, 512)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("isa", cb.supported_isas() if cb.unavailable_reason() is None else [])
def test_odd_blockings_stay_correct(tuning_dir, dtype, isa):
    blk = cb.gemm_blocking(isa, dtype)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 19, 9, 11)).astype(dtype)
    w = rng.standard_normal((23, 19, 3, 3)).astype(dtype)
    b = rng.standard_normal(23).astype(dtype)
    want = reference.conv2d(x, w, b, padding=1)
    a = rng.standard_normal((37, 53)).astype(dtype)
    bm = rng.standard_normal((53, 41)).astype(dtype)
    tol = 1e-5 if dtype == "float32" else 1e-12
    cb.set_isa(isa)
    try:
        for mc_tiles, kc, nc_panels in ODD_BLOCKINGS:
            cb.set_gemm_blocking(dtype, isa, mc=mc_tiles * blk["mr"], kc=kc,
                                 nc=nc_panels * blk["nr"])
            got = fastconv.conv2d(x, w, b, padding=1, algo="im2col", backend="c")
            err = np.linalg.norm(got - want) / np.linalg.norm(want)
            assert err <= tol, (isa, mc_tiles, kc, nc_panels, err)
            prod = cb.gemm(a, bm)
            exact = a.astype(np.float64) @ bm
            assert np.linalg.norm(prod - exact) / np.linalg.norm(exact) <= tol
    finally:
        cb.set_isa(None)


def test_cost_fit_recovers_known_coefficients():
    """Times made exactly by known coefficients are fitted back to them."""
    from fastconv import cost_fit
    rng = np.random.default_rng(3)
    truth = {"call": 4e-6, "mac": 2e-11, "out": 3e-10}
    rows = [{"call": 1.0, "mac": float(m), "out": float(o), "in": 0.0}
            for m, o in zip(rng.uniform(1e3, 1e9, 40), rng.uniform(10, 1e6, 40))]
    seconds = [cost_fit.predict(truth, r) for r in rows]
    got = cost_fit.fit_coefficients(rows, seconds, prior={"in": 7e-10, "mac_dw": 1e-11})
    for name, value in truth.items():
        assert got[name] == pytest.approx(value, rel=1e-6)
    # features no row exercises keep the prior's coefficient ("in" is zero on every row)
    assert got["in"] == 7e-10 and got["mac_dw"] == 1e-11


def test_cost_fit_bounds_and_robustness():
    """The per-call time never exceeds the fastest call, coefficients are never negative,
    and one timing 10x off (a descheduled thread) barely moves the fit."""
    from fastconv import cost_fit
    truth = {"call": 5e-6, "mac": 1e-11}
    rows = [{"call": 1.0, "mac": float(m)} for m in np.geomspace(1e4, 1e9, 30)]
    seconds = [cost_fit.predict(truth, r) for r in rows]
    seconds[17] *= 10
    got = cost_fit.fit_coefficients(rows, seconds)
    assert got["mac"] == pytest.approx(truth["mac"], rel=0.05)
    assert got["call"] <= min(seconds) * (1 + 1e-9)
    # a feature that only makes things cheaper is dropped (coefficient 0), not made negative
    rows = [dict(r, out=float(i)) for i, r in enumerate(rows)]
    assert all(v >= 0 for v in cost_fit.fit_coefficients(rows, seconds).values())


def test_nnls_matches_the_unconstrained_solution_when_it_is_feasible():
    from fastconv import cost_fit
    rng = np.random.default_rng(0)
    a = rng.uniform(0.1, 1.0, (20, 4))
    x = np.array([0.5, 2.0, 0.0, 1.5])
    assert np.allclose(cost_fit.nnls(a, a @ x), x, atol=1e-10)
    # an infeasible optimum is clamped: the component that wants to be negative is 0
    b = a @ np.array([1.0, -1.0, 0.5, 0.2])
    got = cost_fit.nnls(a, b)
    assert (got >= 0).all() and got[1] == 0.0


def test_refit_is_judged_on_layers_it_did_not_see():
    """The cross-validation's verdict follows the choices: on a machine where direct:c is 4x
    slower and im2col:c 4x faster than the built-in model says, the built-in model picks
    direct:c where im2col:c is faster and the refit does not."""
    from fastconv import cost, testing, tune_machine
    truth = {"direct:c": 4.0, "im2col:c": 0.25}
    samples = {name: [] for name in truth}
    for case in testing.SUITES["resnet50"] + testing.SUITES["squeezenet1_1"]:
        p = case.problem
        for name, factor in truth.items():
            algo, backend = name.split(":")
            seconds = factor * cost.estimate_with(*cost.builtin_constants(name), p, algo,
                                                  backend)
            samples[name].append(tune_machine.CostSample(
                case.id, p, cost.features(p, algo, backend), seconds, True))
    verdict = tune_machine.cross_validate(samples)
    assert verdict.builtin_regret[0] > 1.0
    assert verdict.refit_regret == pytest.approx((1.0, 1.0))
    assert verdict.refit_error == pytest.approx(1.0, rel=1e-3)
    assert verdict.builtin_error == pytest.approx(4.0)
    assert verdict.better


def test_tune_machine_end_to_end(tuning_dir, monkeypatch):
    """The whole command on a small workload: it writes the file for this machine, applies
    it, and a new process picks it up (no timing is asserted: which blocks win is the
    machine's business)."""
    from fastconv import testing, tune_machine
    monkeypatch.setattr(tune_machine, "GEMM_SHAPES", ((64, 48, 80), (33, 70, 20)))
    monkeypatch.setattr(tune_machine, "GEMM_ROUNDS", 1)
    monkeypatch.setattr(tune_machine, "calibration_cases", lambda: testing.SMOKE[:6])
    report = tune_machine.tune_machine(budget_s=60.0, progress=lambda text: None,
                                       dtypes=("float32",))
    isa = cb.active_isa()
    key = f"float32:{isa}"
    assert Path(report.path) == tuning_dir / "machine.json"
    stored = machine_params.load_tuned(cb.cpu_isa())
    assert stored.gemm[key] == report.gemm[key] == cb.gemm_blocking(isa, "float32")
    assert set(stored.cost) == set(report.cost)
    assert machine_params.active().gemm_source[key].startswith("tuned on ")
    code = ("from fastconv.backends import c; from fastconv import machine_params as m\n"
            "c._native(); print(m.active().gemm_source[%r])\n" % key)
    env = dict(os.environ, FASTCONV_CACHE_DIR=str(tuning_dir), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("tuned on ")
    assert tune_machine.reset_machine()
    assert not (tuning_dir / "machine.json").exists()


def test_info_shows_where_parameters_come_from(tuning_dir):
    from fastconv.cli import machine_params_summary
    text = machine_params_summary()
    assert "Caches:" in text and "GEMM:" in text and "Cost:" in text
