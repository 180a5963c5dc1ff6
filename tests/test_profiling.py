"""fastconv.profile(): every call inside the block recorded, C phases plausible, nothing
attached outside it; machine.py's measured ceilings."""
import threading

import numpy as np
import pytest

import fastconv
from fastconv import machine, profiling
from fastconv.backends import c as c_backend
from fastconv.registry import BY_NAME
from fastconv.testing import (c1, c2, case_rng, check_against_oracle, make_inputs,
                              time_every_phase)

needs_c = pytest.mark.skipif(c_backend.unavailable_reason() is not None,
                             reason="the C extension is not built")

# One case per fft:c driver path: 2-D with a channel contraction, 2-D single-channel (fused
# rows), 1-D, 1-D with decimated kernel spectra (one channel pair).
FFT_CASES = [
    c2(1, 6, 40, 36, 5, 7, 7, padding=3, name="fft2d"),
    c2(2, 4, 33, 30, 4, 9, 9, padding=4, groups=4, name="fft2d_depthwise"),
    c1(2, 3, 500, 4, 31, padding=15, name="fft1d"),
    c1(1, 1, 700, 1, 25, padding=12, name="fft1d_decimated"),
]
IM2COL_CASE = c2(1, 8, 20, 20, 8, 3, 3, padding=1, name="im2col")


def run(case, impl_name):
    impl = BY_NAME[impl_name]
    x, w, b = make_inputs(case, case_rng(case))
    return case.conv(x, w, b, algo=impl.algo, backend=impl.backend, **case.kwargs)


def check_phases(record, wall_slack=1e-3):
    """The structure of a record's phases: present, non-negative, inside the kernel's total,
    which is inside the timed call (whether each phase is timed: time_every_phase)."""
    phases = record.phases
    assert phases is not None, f"{record.implementation} reported no phases"
    assert all(phases[k] >= 0 for k in profiling.PHASES)
    assert phases["total"] >= 0
    assert phases["total"] <= record.seconds + wall_slack  # inside the timed call
    parts = sum(phases[k] for k in profiling.PHASES)
    assert parts <= phases["total"] * (1 + 1e-9) + 1e-9


@needs_c
def test_records_every_call_with_time_and_rate(capsys):
    case = FFT_CASES[0]
    with fastconv.profile() as prof:
        for _ in range(3):
            run(case, "fft:c")
        run(IM2COL_CASE, "im2col:c")
    assert [r.implementation for r in prof.calls] == ["fft:c"] * 3 + ["im2col:c"]
    assert [r.problem for r in prof.calls] == [case.problem] * 3 + [IM2COL_CASE.problem]
    for r in prof.calls:  # (no clock reading asserted: a coarse clock may read 0)
        assert r.seconds >= 0
        if r.seconds > 0:
            assert r.gflops == pytest.approx(r.problem.flops / r.seconds / 1e9)
    rows = prof.rows()
    assert [(g["problem"].id, g["implementation"], g["calls"]) for g in rows] == [
        (case.problem.id, "fft:c", 3), (IM2COL_CASE.problem.id, "im2col:c", 1)]
    printed = capsys.readouterr().out
    assert printed.strip() == str(prof).strip()
    assert case.problem.id in printed and "im2col:c" in printed and "4 call(s)" in printed


@needs_c
@pytest.mark.parametrize("case", FFT_CASES, ids=lambda c: c.name)
def test_fft_c_phases(case):
    with fastconv.profile(quiet=True) as prof:
        run(case, "fft:c")
    (record,) = prof.calls
    check_phases(record)
    # the phases add up to the kernel's total
    assert sum(record.phases[k] for k in profiling.PHASES) == pytest.approx(
        record.phases["total"], rel=1e-9)
    # every data phase is timed (the kernel transform too, unless a plan cached the spectra)
    data_phases = ("input_transform", "multiply", "output_transform")

    def call(p):
        with c_backend.profile_into(p):
            run(case, "fft:c")
    timed, calls = time_every_phase(call, data_phases)
    assert timed.calls == calls
    assert all(getattr(timed, k) > 0 for k in data_phases)


def _profiled(fn, *args, **kwargs):
    """Call a C backend function with a fresh fc_profile attached; returns the profile."""
    return _profiled_into(c_backend.new_profile(), fn, *args, **kwargs)


def _profiled_into(prof, fn, *args, **kwargs):
    """Call a C backend function with the fc_profile ``prof`` attached; returns it."""
    c_backend.PROFILE_SLOT.profile = prof
    try:
        fn(*args, **kwargs)
    finally:
        c_backend.PROFILE_SLOT.profile = None
    return prof


@needs_c
@pytest.mark.parametrize("mode", [0, 1])
def test_fft_c_phases_in_each_threading_mode(mode):
    """Work-shared (0) and tile-parallel (1) 2-D drivers, called directly."""
    case = FFT_CASES[0]
    p = case.problem
    x, w, b = make_inputs(case, case_rng(case))
    y = np.full(p.out_shape, np.nan, np.float32)
    prof = _profiled(c_backend.conv2d_fft, p, x, w, b, y, mode=mode)
    assert prof.calls == 1
    assert all(getattr(prof, k) >= 0 for k in profiling.PHASES)
    assert sum(getattr(prof, k) for k in profiling.PHASES) == pytest.approx(prof.total)
    timed, calls = time_every_phase(
        lambda prof: _profiled_into(prof, c_backend.conv2d_fft, p, x, w, b, y, mode=mode),
        profiling.PHASES)
    assert timed.calls == calls and all(getattr(timed, k) > 0 for k in profiling.PHASES)
    ref = fastconv.reference.conv2d(x, w, b, **case.kwargs)
    assert np.allclose(y, ref, rtol=1e-4, atol=1e-3)


@needs_c
@pytest.mark.parametrize("case", FFT_CASES, ids=lambda c: c.name)
def test_fft_c_apply_with_cached_spectra_has_no_kernel_phase(case):
    p = case.problem
    x, w, b = make_inputs(case, case_rng(case))
    x4 = x if p.spatial_dims == 2 else x[:, :, None, :]  # logical NCHW (all NCHW / NCL here)
    w4 = w if p.spatial_dims == 2 else w[:, :, None, :]
    prepared = c_backend.FFTPrepared(p, w4)
    y = np.full(p.out_shape, np.nan, np.float32)
    prof = _profiled(prepared.apply, x4, b, y)
    assert prof.calls == 1 and prof.kernel_transform == 0
    assert not np.isnan(y).any()
    data_phases = ("input_transform", "multiply", "output_transform")
    timed, calls = time_every_phase(
        lambda prof: _profiled_into(prof, prepared.apply, x4, b, y), data_phases)
    assert timed.calls == calls and timed.kernel_transform == 0
    assert all(getattr(timed, k) > 0 for k in data_phases)


@needs_c
@pytest.mark.parametrize("impl_name", ["fft:c", "im2col:c"])
def test_c_kernels_report_phases(impl_name):
    case = FFT_CASES[0] if impl_name == "fft:c" else IM2COL_CASE
    with fastconv.profile(quiet=True) as prof:
        run(case, impl_name)
    check_phases(prof.calls[0])

    def call(p):
        with c_backend.profile_into(p):
            run(case, impl_name)
    timed, calls = time_every_phase(call, ("multiply",))
    assert timed.calls == calls and timed.multiply > 0


@needs_c
@pytest.mark.parametrize("case", FFT_CASES[:3], ids=lambda c: c.name)
def test_profiled_results_still_match_the_oracle(case):
    with fastconv.profile(quiet=True) as prof:
        check_against_oracle(BY_NAME["fft:c"], case)
        check_against_oracle(BY_NAME["fft:c"], case, strided=True)
    assert len(prof.calls) == 2 and all(r.phases for r in prof.calls)


@needs_c
def test_nothing_attached_outside_a_profile():
    case = IM2COL_CASE
    p = case.problem
    x, w, b = make_inputs(case, case_rng(case))
    y = np.empty(p.out_shape, np.float32)
    ffi = c_backend._native()[0]
    assert profiling.recorder is None
    assert c_backend.conv2d_desc(p, x, w, b, y).profile == ffi.NULL
    with fastconv.profile(quiet=True):
        assert profiling.recorder is not None
    assert profiling.recorder is None
    with pytest.raises(ZeroDivisionError):
        with fastconv.profile(quiet=True):
            1 / 0
    assert profiling.recorder is None and c_backend.PROFILE_SLOT.profile is None


@needs_c
def test_nested_blocks_and_other_threads():
    case = IM2COL_CASE
    with fastconv.profile(quiet=True) as outer:
        run(case, "direct:c")
        with fastconv.profile(quiet=True) as inner:
            worker = threading.Thread(target=run, args=(case, "im2col:c"))
            worker.start()
            worker.join()
        run(case, "fft:c")
    assert [r.implementation for r in inner.calls] == ["im2col:c"]
    assert [r.implementation for r in outer.calls] == ["direct:c", "im2col:c", "fft:c"]


def test_numpy_reference_is_recorded_without_phases():
    with fastconv.profile(quiet=True) as prof:
        run(IM2COL_CASE, "reference:numpy")
    (record,) = prof.calls
    assert record.implementation == "reference:numpy" and record.phases is None
    assert "reference:numpy" in str(prof)


# ---- machine.py ---------------------------------------------------------------------------
@needs_c
def test_measured_peak_is_plausible_and_cached():
    p = machine.peak(1)
    assert p is machine.peak(1)  # measured once per process
    assert p.threads == 1 and p.isa == c_backend.active_isa()
    # one core: above a scalar loop's ~1 GFLOP/s floor, below any x86 core's paper peak
    assert 0.5 < p.fma_gflops < 500
    assert 0.1 < p.bandwidth_gbs < 1000
    assert p.roof(1e-3) == pytest.approx(p.bandwidth_gbs * 1e-3)
    assert p.roof(1e6) == p.fma_gflops


@needs_c
def test_fma_peak_per_isa():
    for isa in c_backend.supported_isas():
        assert machine.fma_peak_gflops(1, isa, iterations=20_000, runs=1) > 0
    for isa in c_backend.ISA_NAMES[len(c_backend.supported_isas()):]:
        with pytest.raises(RuntimeError, match="instruction set"):
            machine.fma_peak_gflops(1, isa, iterations=1000, runs=1)
