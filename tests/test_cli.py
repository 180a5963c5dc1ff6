"""The fastconv command: info, bench (tables, --json, --plot) and profile, on tiny problems."""
import json

import pytest

from fastconv import cli
from fastconv.backends import c as c_backend
from fastconv.peers import PEERS
from fastconv.testing import SMOKE

needs_c = pytest.mark.skipif(c_backend.unavailable_reason() is not None,
                             reason="the C extension is not built")
C_IMPLS = ["direct:c", "im2col:c", "fft:c"]


def test_commands_table_drives_the_parser():
    parser_names = set(cli.COMMANDS)
    assert {"info", "bench", "profile"} <= parser_names
    with pytest.raises(SystemExit):
        cli.main(["no-such-command"])


@needs_c
def test_info(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "fastconv " in out and "CPU:" in out and "Numba:" in out and "CUDA:" in out
    peak_line = next(line for line in out.splitlines() if line.startswith("Peak:"))
    assert "GFLOP/s" in peak_line and "GB/s" in peak_line
    for name in ("direct:c", "im2col:c", "fft:c", "reference:numpy"):
        assert name in out


@needs_c
def test_bench_smoke_table_and_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert cli.main(["bench", "--suite", "smoke", "--quick", "--quiet", "--impl", *C_IMPLS,
                     "--compare", "all", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "== smoke (4 layers)" in out and "vs peer" in out
    for case in SMOKE:
        assert case.id in out
    doc = json.loads(path.read_text())
    assert doc["fastconv"] and doc["settings"]["suites"] == ["smoke"]
    assert doc["machine"]["fma_peak_gflops"] > 0 and doc["machine"]["bandwidth_gbs"] > 0
    results = doc["results"]
    # one entry per (layer, implementation or peer), timed or skipped with a reason
    keys = [(r["problem"], r["implementation"]) for r in results]
    assert len(keys) == len(set(keys)) == len(SMOKE) * (len(C_IMPLS) + len(PEERS))
    assert {k[0] for k in keys} == {case.problem.id for case in SMOKE}
    for r in results:
        assert set(r) >= {"suite", "layer", "problem", "implementation", "kind", "flops",
                          "min_bytes", "intensity", "seconds", "times", "gflops", "skipped"}
        if r["gflops"] is None:
            assert r["skipped"], r
        else:
            assert r["seconds"] == min(r["times"]) > 0
            assert r["gflops"] == pytest.approx(r["flops"] / r["seconds"] / 1e9)
            assert r["peak_fraction"] == pytest.approx(
                r["gflops"] / doc["machine"]["fma_peak_gflops"])
    # every C implementation runs every smoke case
    assert all(r["gflops"] for r in results if r["kind"] == "fastconv")
    assert {r["kind"] for r in results} == {"fastconv", "peer"}


@needs_c
def test_bench_with_weights_in_a_plan(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert cli.main(["bench", "--suite", "smoke", "--quick", "--quiet", "--impl", *C_IMPLS,
                     "--compare", "none", "--weights", "plan", "--json", str(path)]) == 0
    assert "weights prepared once in a plan" in capsys.readouterr().out
    doc = json.loads(path.read_text())
    assert doc["settings"]["weights"] == "plan"
    timed = [r for r in doc["results"] if r["seconds"] is not None]
    assert {r["layer"] for r in timed} == {case.name or case.id for case in SMOKE}


def test_bench_plot_writes_a_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path = tmp_path / "roofline.png"
    assert cli.main(["bench", "--suite", "smoke", "--quick", "--quiet", "--impl", "direct:c",
                     "--compare", "none", "--plot", str(path)]) == 0
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_bench_rejects_unknown_names():
    with pytest.raises(SystemExit, match="unknown suite"):
        cli.main(["bench", "--suite", "no_such_suite"])
    with pytest.raises(SystemExit, match="unknown implementation"):
        cli.main(["bench", "--suite", "smoke", "--impl", "nope:c"])
    with pytest.raises(SystemExit, match="unknown peer"):
        cli.main(["bench", "--suite", "smoke", "--compare", "matlab", "--impl", "direct:c"])


def test_suites_resolve():
    assert list(cli.resolve_suites("all")) == list(cli.SUITES)
    assert "smoke" not in cli.resolve_suites("all")
    assert list(cli.resolve_suites("vgg16,audio")) == ["vgg16", "audio"]
    assert cli.resolve_suites("quick")["quick"] == cli.QUICK_SUITE


def test_progress_lines_when_not_a_terminal(capsys):
    import io
    stream = io.StringIO()
    progress = cli.Progress(2, True, stream)
    progress.step("a")
    progress.step("b")
    assert stream.getvalue() == "  [1/2] a\n  [2/2] b\n"


@needs_c
def test_profile_prints_phases(capsys):
    assert cli.main(["profile", "--suite", "smoke", "--impl", "fft:c", "direct:c",
                     "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    fft_rows = [line.split() for line in out.splitlines() if " fft:c " in line]
    assert len(fft_rows) == len(SMOKE)
    for row in fft_rows:
        # layer, impl, ms/call, GFLOP/s, input, kernel, multiply, output, other: all numbers
        assert len(row) == 9 and all(float(v) >= 0 for v in row[2:])


@needs_c
def test_profile_shapes_file(tmp_path, capsys):
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps([
        {"n": 1, "c_in": 4, "c_out": 4, "size": [12, 12], "kernel": [5, 5], "padding": 2,
         "name": "mine.5x5"},
        {"n": 1, "c_in": 2, "c_out": 2, "size": [64], "kernel": [9], "padding": [4, 4],
         "name": "mine.1d"},
    ]))
    assert cli.main(["profile", "--shapes", str(path), "--impl", "fft:c", "--repeats",
                     "1"]) == 0
    out = capsys.readouterr().out
    assert "mine.5x5" in out and "mine.1d" in out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"n": 1, "c_in": 4}]))
    with pytest.raises(SystemExit, match="layer 0"):
        cli.main(["profile", "--shapes", str(bad)])
