"""The persistent plan cache: persistence across processes, concurrent writers, corrupt and
unusable files, and invalidation when any part of the key changes. Every test works in its
own temporary FASTCONV_CACHE_DIR, never the user's cache."""
import os
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import fastconv
from fastconv import dispatch, plan_cache
from fastconv.testing import SMOKE, c2

ROOT = Path(__file__).resolve().parent.parent
CASE = c2(1, 8, 12, 12, 16, 3, 3, padding=1)  # several implementations accept it


@pytest.fixture(autouse=True)
def cache_dir(isolated_dispatch):
    """Every test runs on a private plan cache (tests/conftest.py's isolated_dispatch)."""
    return isolated_dispatch


def key_of(problem, threads=None):
    return plan_cache.make_key(problem, None, None, threads or fastconv.get_num_threads())


def accepted_names(problem):
    return [o.impl.name for o in dispatch.options(problem, None, None) if o.reason is None]


def test_location_follows_the_environment(cache_dir, monkeypatch):
    assert plan_cache.cache_path() == cache_dir / "plans.sqlite"
    monkeypatch.delenv("FASTCONV_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_dir / "xdg"))
    assert plan_cache.cache_path() == cache_dir / "xdg" / "fastconv" / "plans.sqlite"


def test_lookup_never_creates_the_file(cache_dir):
    assert plan_cache.lookup("anything") is None
    fastconv.conv2d(np.ones((1, 2, 5, 5), np.float32), np.ones((3, 2, 3, 3), np.float32))
    assert not (cache_dir / "plans.sqlite").exists()


def test_store_and_lookup_round_trip():
    entry = plan_cache.Entry("im2col:c", 1.5e-3, {"im2col:c": 1.5e-3, "direct:c": 2e-3})
    assert plan_cache.store("k1", entry)
    assert plan_cache.lookup("k1") == entry
    assert plan_cache.lookup("k2") is None
    plan_cache.store("k1", entry._replace(impl="direct:c"))  # replaced, not duplicated
    assert plan_cache.entries() == {"k1": entry._replace(impl="direct:c")}


def test_a_stored_choice_drives_auto_dispatch():
    """conv2d(algo="auto") follows a measured choice, even one the cost model would not make."""
    problem = CASE.problem
    names = accepted_names(problem)
    if len(names) < 2:
        pytest.skip("needs two implementations")
    heuristic = dispatch.select(problem, None, None).name
    other = next(n for n in names if n != heuristic and n != "reference:numpy")
    plan_cache.store(key_of(problem), plan_cache.Entry(other, 1e-3, {other: 1e-3}))
    dispatch.select.cache_clear()
    assert dispatch.select(problem, None, None).name == other
    ex = fastconv.explain(CASE.x_shape, CASE.weight_shape, **CASE.kwargs)
    assert ex.chosen == other and "plan cache" in ex.source


def test_a_stale_entry_naming_a_missing_implementation_is_ignored():
    problem = CASE.problem
    plan_cache.store(key_of(problem), plan_cache.Entry("warp:drive", 1e-9, {}))
    assert dispatch.select(problem, None, None).name in accepted_names(problem)


def test_persistence_across_processes(cache_dir):
    """One process measures and stores; a fresh process reads the choice back."""
    code = textwrap.dedent("""
        import fastconv
        from fastconv.testing import c2
        case = c2(1, 8, 12, 12, 16, 3, 3, padding=1)
        p = fastconv.plan(case.x_shape, case.weight_shape, mode="measure", **case.kwargs)
        print(p.impl.name, p.explain().source)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT), FASTCONV_CACHE_DIR=str(cache_dir))
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    name, source = first.stdout.split(maxsplit=1)
    if len(accepted_names(CASE.problem)) > 1:
        assert source.strip() == "measured"
        second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, timeout=300)
        assert second.returncode == 0, second.stderr
        assert second.stdout.split(maxsplit=1) == [name, "plan cache (measured)\n"]
        assert plan_cache.lookup(key_of(CASE.problem)).impl == name


WRITER = textwrap.dedent("""
    import sys
    from fastconv import plan_cache
    worker, count = int(sys.argv[1]), int(sys.argv[2])
    for i in range(count):
        assert plan_cache.store(f"w{worker}-{i}", plan_cache.Entry("direct:c", i, {"direct:c": i}))
        assert plan_cache.store("shared", plan_cache.Entry("im2col:c", worker, {}))
        assert plan_cache.lookup(f"w{worker}-{i}") is not None
""")


def test_concurrent_writers(cache_dir):
    """Several processes storing at once: nothing lost, nothing corrupted, no warnings."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), FASTCONV_CACHE_DIR=str(cache_dir))
    workers, count = 6, 40
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(count)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(workers)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert "plan cache" not in err, err
    stored = plan_cache.entries()
    assert len(stored) == workers * count + 1
    assert all(f"w{w}-{i}" in stored for w in range(workers) for i in range(count))
    assert stored["shared"].seconds in range(workers)
    with sqlite3.connect(cache_dir / "plans.sqlite") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert not list(cache_dir.glob("*.corrupt-*"))


@pytest.mark.parametrize("garbage", [b"this is not a database" * 100, b"SQLite format 3\x00" +
                                     b"\xff" * 5000, b""])
def test_corrupt_file_is_set_aside_and_rebuilt(cache_dir, garbage):
    path = cache_dir / "plans.sqlite"
    path.write_bytes(garbage)
    case = SMOKE[0]
    x, w = np.ones(case.x_shape, np.float32), np.ones(case.weight_shape, np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        y = case.conv(x, w, **case.kwargs)  # the conv call never fails for the cache
        assert plan_cache.store("k", plan_cache.Entry("direct:c", 1.0, {}))
    assert np.isfinite(y).all()
    assert plan_cache.lookup("k") == plan_cache.Entry("direct:c", 1.0, {})
    if garbage:  # an empty file is a valid empty database to SQLite: nothing to set aside
        assert any("set it aside" in str(w.message) for w in caught)
        assert len(list(cache_dir.glob("plans.sqlite.corrupt-*"))) == 1


def test_unusable_directory_warns_once_and_never_fails(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("FASTCONV_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot be used"):
        assert plan_cache.store("k", plan_cache.Entry("direct:c", 1.0, {})) is False
    assert plan_cache.lookup("k") is None
    p = fastconv.plan(CASE.x_shape, CASE.weight_shape, mode="measure", **CASE.kwargs)
    assert p.impl.name in accepted_names(CASE.problem)


def test_every_key_part_invalidates(monkeypatch):
    problem = CASE.problem
    base = key_of(problem, threads=2)
    assert key_of(problem, threads=2) == base
    assert key_of(problem, threads=1) != base
    assert key_of(CASE.replace(dtype="float64").problem, threads=2) != base
    assert key_of(CASE.replace(layout="NHWC").problem, threads=2) != base
    assert key_of(CASE.replace(padding=0).problem, threads=2) != base
    assert plan_cache.make_key(problem, ("direct",), None, 2) != base
    assert plan_cache.make_key(problem, None, "c", 2) != base
    assert plan_cache.make_key(problem, None, None, 2, prepared=True) != base
    for target, name, value in ((plan_cache, "cpu_model", lambda: "Some Other CPU"),
                                (plan_cache, "_active_isa", lambda: "scalar-ish"),
                                (fastconv, "__version__", "999.0")):
        with monkeypatch.context() as m:
            m.setattr(target, name, value)
            assert key_of(problem, threads=2) != base, name
    assert key_of(problem, threads=2) == base


def test_entry_from_another_version_is_not_used(monkeypatch):
    problem = CASE.problem
    names = accepted_names(problem)
    if len(names) < 2:
        pytest.skip("needs two implementations")
    heuristic = dispatch.select(problem, None, None).name
    other = next(n for n in names if n != heuristic)
    with monkeypatch.context() as m:
        m.setattr(fastconv, "__version__", "0.0.0-old")
        plan_cache.store(key_of(problem), plan_cache.Entry(other, 1e-3, {}))
    dispatch.select.cache_clear()
    assert dispatch.select(problem, None, None).name == heuristic
