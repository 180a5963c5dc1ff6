"""winograd:c, F(2x2, 3x3) and F(4x4, 3x3), beyond the registry x catalog matrix of test_impls.py.

The matrix runs the scaled-down catalog (a few tiles, one block, the tile size the kernel's
rule picks). Here, for both tile sizes: many blocks and
partial microkernel panels (block sizes forced small), channel counts below, at and above the
vector lanes and the 2-lane-vector output panel, both layouts with the NCHW register-transpose
fast paths reached (interior tiles, >= 8 channels), asymmetric padding, groups, batches, every
ISA this CPU runs, the two-step kernel transform / apply, fc_profile, argument checks, the
error bound on full-size model layers, and that algo="auto" does not pick winograd yet.
"""
import numpy as np
import pytest

import fastconv
from fastconv import cost, dispatch
from fastconv.backends import c as cb
from fastconv.testing import (SUITES, c2, case_rng, check_against_oracle, make_inputs,
                              normwise_error, oracle, time_every_phase, tolerance)

pytestmark = pytest.mark.skipif(cb.unavailable_reason() is not None,
                                reason=str(cb.unavailable_reason()))
WINOGRAD = fastconv.registry.BY_NAME["winograd:c"]

# Output tile sides: F(2x2, 3x3) and F(4x4, 3x3)
TILES = [2, 4]

# (case, block_tiles): the sizes cross the tiles (2, 4), the microkernel's 6-tile panel, the lanes
# (8 floats on AVX2) and the output panel (16); blocks of 6 or 12 tiles give many blocks.
CASES = [
    (c2(1, 8, 20, 20, 16, 3, 3, padding=1), 6),                       # NCHW fast paths
    (c2(2, 16, 19, 23, 24, 3, 3, padding=1), 12),                     # ragged tiles, batch
    (c2(1, 5, 9, 7, 11, 3, 3), 6),                                    # valid, C/K below lanes
    (c2(3, 17, 10, 13, 33, 3, 3, padding=((2, 0), (0, 1))), 6),      # asymmetric padding
    (c2(1, 12, 11, 12, 20, 3, 3, padding=1, groups=4), 0),            # groups
    (c2(2, 16, 14, 15, 16, 3, 3, padding=1, layout="NHWC"), 6),       # NHWC vector loads
    (c2(1, 3, 13, 13, 5, 3, 3, padding=1, layout="NHWC", flip=True), 0),
    (c2(1, 1, 1, 1, 1, 3, 3, padding=1), 0),                          # one pixel
    (c2(1, 16, 3, 3, 16, 3, 3, bias=False), 0),                       # one output pixel
    (c2(1, 8, 12, 12, 8, 3, 3, padding=1, dtype="float64"), 6),
    (c2(2, 9, 10, 11, 7, 3, 3, padding=2, dtype="float64", layout="NHWC"), 0),
]


def run_winograd(case, x, w, b, block_tiles=0, profile=None, tile=0):
    """winograd:c on logical NCHW views of the case's arrays (as the API would pass them);
    ``profile``: an fc_profile * the call's descriptors carry (cb.profile_into); ``tile`` 0:
    the kernel's tile-size rule."""
    problem = case.problem
    xv = np.moveaxis(x, -1, 1) if case.channels_last else x
    wv = np.transpose(w, (3, 2, 0, 1)) if case.channels_last else w
    if case.flip:
        wv = wv[:, :, ::-1, ::-1]
    y = np.full(case.out_shape, np.nan, dtype=case.dtype)
    yv = np.moveaxis(y, -1, 1) if case.channels_last else y
    with cb.profile_into(profile):
        cb.conv2d_winograd(problem, xv, wv, b, yv, block_tiles=block_tiles, tile=tile)
    return y


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("case, block_tiles", CASES, ids=[f"{c.id}-nb{nb}" for c, nb in CASES])
def test_matches_oracle_in_blocks(case, block_tiles, tile):
    x, w, b = make_inputs(case, case_rng(case))
    y = run_winograd(case, x, w, b, block_tiles, tile=tile)
    assert not np.isnan(y).any()
    assert normwise_error(y, oracle(case, x, w, b)) <= tolerance(case.dtype, "winograd")


@pytest.mark.parametrize("case", [c for c, _ in CASES], ids=lambda c: c.id)
def test_through_the_api_strided(case):
    """Strided, offset, negatively strided, read-only inputs and a strided out."""
    check_against_oracle(WINOGRAD, case, strided=True)


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("block_tiles", [6, 0])
def test_threads_share_blocks_or_take_whole_ones(monkeypatch, block_tiles, tile):
    """With blocks enough for every thread (block_tiles 6 here: 42 tiles) each thread takes
    whole blocks in its own buffer; with fewer (the block rule on 42 tiles: one block) the
    threads share each block. Both give the one-thread result bit for bit (every tile is
    computed the same way, whoever computes it)."""
    from fastconv import threads
    case = c2(2, 16, 22, 21, 24, 3, 3, padding=1)
    x, w, b = make_inputs(case, case_rng(case))
    monkeypatch.setattr(threads, "_num_threads", None)
    results = []
    for nt in (1, 2, 3):
        threads.set_num_threads(nt)
        results.append(run_winograd(case, x, w, b, block_tiles=block_tiles, tile=tile))
        prepared = cb.WinogradPrepared(case.problem, w, block_tiles=block_tiles, tile=tile)
        y = np.full(case.out_shape, np.nan, np.float32)
        prepared.apply(x, b, y)
        assert np.array_equal(y, results[-1])
    assert normwise_error(results[0], oracle(case, x, w, b)) <= tolerance(case.dtype, "winograd")
    assert all(np.array_equal(r, results[0]) for r in results[1:])


@pytest.mark.parametrize("tile", TILES)
def test_every_isa(isa, tile):
    case = c2(2, 16, 18, 21, 20, 3, 3, padding=1)
    x, w, b = make_inputs(case, case_rng(case))
    y = run_winograd(case, x, w, b, block_tiles=6, tile=tile)
    assert normwise_error(y, oracle(case, x, w, b)) <= tolerance(case.dtype, "winograd")


@pytest.mark.parametrize("tile", TILES)
def test_kernel_transform_once_apply_many(tile):
    """The prepared kernel transform serves several inputs and gives exactly the one-call
    result (the same arithmetic in the same order)."""
    case = c2(2, 16, 15, 17, 24, 3, 3, padding=1)
    rng = case_rng(case)
    _, w, b = make_inputs(case, rng)
    prepared = cb.WinogradPrepared(case.problem, w, block_tiles=12, tile=tile)
    for _ in range(2):
        x = rng.standard_normal(case.x_shape).astype(np.float32)
        y = np.full(case.out_shape, np.nan, np.float32)
        prepared.apply(x, b, y)
        assert np.array_equal(y, run_winograd(case, x, w, b, block_tiles=12, tile=tile))


# U (XI x Cpad x Kpad per group, XI = 16 or 36) beyond the 1 MiB L2 and a single block of
# tiles per group, at either tile size: a call without a kept kernel transform fuses it into
# stage 2 (winograd.c, wg_geometry.fused)
FUSED = [
    c2(1, 180, 7, 8, 150, 3, 3, padding=1),                           # partial panels
    c2(1, 384, 6, 6, 384, 3, 3, padding=1, groups=2),                 # groups
    c2(2, 130, 7, 6, 90, 3, 3, padding=(1, 0), dtype="float64", layout="NHWC"),
]


@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("case", FUSED, ids=lambda c: c.id)
def test_fused_kernel_transform_matches_the_kept_one(monkeypatch, case, tile):
    """The fused call (no kernel_transform phase in its profile) gives the oracle's result
    and, at every thread count, exactly what a kept (prepared) kernel transform gives."""
    from fastconv import threads
    ffi, _ = cb._native()
    x, w, b = make_inputs(case, case_rng(case))
    problem = case.problem
    xv = np.moveaxis(x, -1, 1) if case.channels_last else x
    wv = np.transpose(w, (3, 2, 0, 1)) if case.channels_last else w
    monkeypatch.setattr(threads, "_num_threads", None)
    for nt in (1, 2, 3):
        threads.set_num_threads(nt)
        prof = ffi.new("fc_profile *")
        y = run_winograd(case, x, w, b, profile=prof, tile=tile)
        # fused: the kernel transform is timed inside the products (the calling thread's wall
        # time of that stage; not asserted > 0, which would depend on the clock's resolution)
        assert prof.calls == 1 and prof.kernel_transform == 0 and prof.multiply >= 0
        kept = np.full(case.out_shape, np.nan, dtype=case.dtype)
        keptv = np.moveaxis(kept, -1, 1) if case.channels_last else kept
        cb.WinogradPrepared(problem, wv, tile=tile).apply(xv, b, keptv)
        assert np.array_equal(y, kept)
    assert normwise_error(y, oracle(case, x, w, b)) <= tolerance(case.dtype, "winograd")


@pytest.mark.parametrize("tile", TILES)
def test_fused_kernel_transform_on_every_isa(isa, tile):
    """The fused path of every ISA's template instance (the other tests run the active one)."""
    case = FUSED[0]
    x, w, b = make_inputs(case, case_rng(case))
    y = run_winograd(case, x, w, b, tile=tile)
    kept = np.full(case.out_shape, np.nan, dtype=case.dtype)
    cb.WinogradPrepared(case.problem, w, tile=tile).apply(x, b, kept)
    assert np.array_equal(y, kept)
    assert normwise_error(y, oracle(case, x, w, b)) <= tolerance(case.dtype, "winograd")


@pytest.mark.parametrize("tile", TILES)
def test_profile_has_every_phase(tile):
    """At any thread count the profile counts the calls and its phases (the first thread's
    times, which may be 0 where that thread took no block) lie inside the total; on one
    thread every phase is timed (time_every_phase: no clock reading is asserted)."""
    ffi, _ = cb._native()
    prof = ffi.new("fc_profile *")
    case = c2(1, 16, 24, 24, 16, 3, 3, padding=1)
    x, w, b = make_inputs(case, case_rng(case))
    run_winograd(case, x, w, b, block_tiles=6, profile=prof, tile=tile)
    run_winograd(case, x, w, b, block_tiles=6, profile=prof, tile=tile)
    assert prof.calls == 2
    names = ("kernel_transform", "input_transform", "multiply", "output_transform")
    phases = [getattr(prof, k) for k in names]
    assert all(p >= 0 for p in phases)
    assert sum(phases) <= prof.total * 1.01
    prof, calls = time_every_phase(
        lambda p: run_winograd(case, x, w, b, block_tiles=6, profile=p, tile=tile), names)
    assert prof.calls == calls
    assert all(getattr(prof, k) > 0 for k in names), {k: getattr(prof, k) for k in names}
    assert sum(getattr(prof, k) for k in names) <= prof.total * 1.01


@pytest.mark.parametrize("kwargs, reason", [
    (dict(r=5, s=5), "3x3 kernel"), (dict(r=1, s=3), "3x3 kernel"),
    (dict(stride=2), "stride 1"), (dict(dilation=2), "dilation 1")])
def test_supports_gives_the_reason(kwargs, reason):
    r, s = kwargs.pop("r", 3), kwargs.pop("s", 3)
    case = c2(1, 4, 12, 12, 4, r, s, **kwargs)
    assert reason in WINOGRAD.supports(case.problem)
    with pytest.raises(NotImplementedError, match=reason):
        fastconv.conv2d(*make_inputs(case, case_rng(case)), **case.kwargs, algo="winograd")


def test_auto_weighs_winograd_only_inside_its_guard():
    """algo="auto" may pick winograd for a float32 3x3 stride-1 layer (the cost model weighs
    it), never for one outside the accuracy guard; an explicit request always selects it."""
    case = SUITES["vgg16"][5]
    problem = case.problem
    assert WINOGRAD.supports(problem) is None and cost.guard(problem, "winograd") is None
    for outside in (case.replace(dtype="float64"), case.replace(stride=2),
                    case.replace(dilation=2)):
        assert cost.guard(outside.problem, "winograd") is not None
        assert dispatch.select(outside.problem, None, None).algo != "winograd"
    assert dispatch.select(problem, ("winograd",), None) is WINOGRAD


def test_kernel_checks_workspace_and_transform(monkeypatch):
    case = c2(1, 8, 10, 10, 8, 3, 3, padding=1)
    x, w, b = make_inputs(case, case_rng(case))
    problem = case.problem
    prepared = cb.WinogradPrepared(problem, w)
    y = np.empty(case.out_shape, np.float32)
    with monkeypatch.context() as m:  # a workspace 65 bytes short of the size query's answer
        m.setattr(cb.workspace, "scratch",
                  lambda nbytes: cb.workspace.aligned_empty(prepared.ws_bytes - 65))
        with pytest.raises(cb.KernelError, match="workspace"):
            prepared.apply(x, b, y)
    # a kernel transform made for other channels is refused, not misread
    other = cb.WinogradPrepared(c2(1, 8, 10, 10, 16, 3, 3, padding=1).problem,
                                np.ones((16, 8, 3, 3), np.float32))
    prepared = cb.WinogradPrepared(problem, w)
    prepared.kernel = other.kernel
    with pytest.raises(cb.KernelError, match="invalid argument"):
        prepared.apply(x, b, y)
    # only 2 and 4 (and 0, the rule) are tile sizes
    for tile in (1, 3, 6, -2):
        with pytest.raises(cb.KernelError, match="invalid argument"):
            cb.winograd_sizes(problem, tile=tile)
        with pytest.raises(cb.KernelError, match="invalid argument"):
            cb.WinogradPrepared(problem, w, tile=tile)


# Full-size model layers: the Winograd error bound (normwise <= 1e-4 on N(0,1) data) where
# the channel sums are longest. Measured values are in fastconv/testing.py (TOLERANCES).
FULL_SIZE = [c for c in SUITES["resnet50"] if c.name.endswith(".3x3")] + [
    c for c in SUITES["vgg16"] if c.name in ("vgg16.conv1_1", "vgg16.conv5_1_3")]


@pytest.mark.parametrize("case", FULL_SIZE, ids=lambda c: c.name)
def test_full_size_layers_error_bound(case):
    x, w, b = make_inputs(case, case_rng(case))
    expected = oracle(case, x, w, b)
    for tile in TILES:
        err = normwise_error(run_winograd(case, x, w, b, tile=tile), expected)
        assert err <= tolerance("float32", "winograd"), tile


def test_tile_rule_takes_f2x2_only_where_tiles_are_few():
    """The kernel's tile-size rule (csrc/winograd.c): F(2x2, 3x3) on a 7 x 7 image at batch 1
    (4 tiles of 4 x 4), F(4x4, 3x3) at batch 8 and on larger images; a call without a tile
    runs the rule's pick (bit for bit the forced one), and the cost model counts that tile."""
    few = c2(1, 32, 7, 7, 32, 3, 3, padding=1)
    assert cb.winograd_tile(few.problem) == 2 and cost.winograd_tile(few.problem, "c") == 2
    assert cb.winograd_tile(few.problem, tile=4) == 4
    assert cb.winograd_tile(few.replace(n=8).problem) == 4
    assert cb.winograd_tile(c2(1, 32, 28, 28, 32, 3, 3, padding=1).problem) == 4
    x, w, b = make_inputs(few, case_rng(few))
    y = run_winograd(few, x, w, b)
    assert np.array_equal(y, run_winograd(few, x, w, b, tile=2))
    assert not np.array_equal(y, run_winograd(few, x, w, b, tile=4))
