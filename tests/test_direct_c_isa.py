"""direct:c on every instruction set this CPU runs, at the edges of its tiles.

The kernel (csrc/conv_direct_impl.h) cuts each output row into register tiles of NV vectors of VL
lanes (scalar 2 x 1, AVX2 3 x 8 floats / 3 x 4 doubles, AVX-512 3 x 16 / 3 x 8) and the output
channels into blocks of 2*KB (KB = 4, 4, 8), split into power-of-two pieces at a remainder; it
chooses per tile between direct loads (interior), masked loads (borders), a packed stack buffer
(strided x, stride_w > 1, wide kernels) and a generic scalar path (huge dilations). The cases below
sit below, on and above those sizes and reach every path, for float32 and float64, always with
the output poisoned with NaN (through ``out=``) and compared normwise with the float64 oracle.
"""
import numpy as np
import pytest

import fastconv
from fastconv import api, reference

c_backend = pytest.importorskip("fastconv.backends.c")


TOL = {np.float32: 2e-6, np.float64: 1e-12}  # normwise relative error


@pytest.fixture(autouse=True)
def blocked_wherever_it_runs(monkeypatch):
    """direct:c takes the channel-blocked kernel wherever it can run, not only where its rule
    prefers it (c_backend.direct_prefers_blocked): the cases below sit at its edges (a few
    channels past a block, short reductions), where the rule would take the other kernel.
    test_rule_picks_the_kernel checks the rule itself."""
    from fastconv import dispatch
    monkeypatch.setattr(c_backend, "direct_prefers_blocked", lambda d, dtype: True)
    dispatch.select.cache_clear()  # no call bound before the patch is reused
    yield
    dispatch.select.cache_clear()
DTYPES = [np.float32, np.float64]


def check(dtype, x, w, bias=None, *, conv1d=False, out_view=None, **kw):
    """Run direct:c into a NaN-filled ``out`` and compare with the oracle."""
    fn, oracle = ((fastconv.conv1d, reference.conv1d) if conv1d
                  else (fastconv.conv2d, reference.conv2d))
    ref = oracle(x, w, bias, **kw)
    if out_view is None:
        out = np.full(ref.shape, np.nan, dtype=dtype)
    else:  # a strided view of a larger NaN buffer: the kernel gets non-unit y strides
        out = out_view(np.full(out_view.base_shape(ref.shape), np.nan, dtype=dtype))
        assert out.shape == ref.shape
    y = fn(x, w, bias, algo="direct", backend="c", out=out, **kw)
    assert y is out
    assert not np.isnan(y).any(), "some output elements were not written"
    err = np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-300)
    assert err <= TOL[dtype], f"normwise relative error {err:.3g}"
    return y


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# Output widths below, on and above the vector widths (1, 4, 8, 16) and full tiles (2, 12, 24,
# 48) of every variant, and the ResNet widths 7, 14, 28, 56.
WIDTHS = [1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 14, 16, 17, 23, 24, 25, 28, 31, 47, 48, 49, 56, 97]


@pytest.mark.parametrize("dtype", DTYPES)
def test_widths_padding(isa, dtype):
    rng = np.random.default_rng(1)
    w = rand(rng, (5, 3, 3, 3), dtype)
    b = rand(rng, 5, dtype)
    for width in WIDTHS:
        x = rand(rng, (1, 3, 4, width), dtype)
        check(dtype, x, w, b, padding=1)       # borders on both sides (masked tiles)
        if width >= 3:
            check(dtype, x, w, padding=0)      # interior only, ragged right end


@pytest.mark.parametrize("dtype", DTYPES)
def test_channel_remainders(isa, dtype):
    rng = np.random.default_rng(2)
    x = rand(rng, (1, 6, 5, 21), dtype)
    for c_out in [1, 2, 3, 5, 7, 8, 9, 13, 16, 17, 31]:
        check(dtype, x, rand(rng, (c_out, 6, 2, 3), dtype), rand(rng, c_out, dtype),
              padding=((1, 0), (2, 1)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_stride_dilation_asymmetric_padding(isa, dtype):
    rng = np.random.default_rng(3)
    x = rand(rng, (2, 4, 11, 37), dtype)
    w = rand(rng, (9, 4, 3, 2), dtype)
    check(dtype, x, w, stride=2, padding=1)
    check(dtype, x, w, dilation=2, padding=((0, 3), (5, 0)))
    check(dtype, x, w, stride=(2, 3), dilation=(2, 3), padding=((4, 1), (0, 7)))
    # padding larger than the (dilated) kernel: whole output rows and columns see only zeros
    check(dtype, x, w, rand(rng, 9, dtype), padding=((6, 5), (9, 12)))
    check(dtype, x, w, stride=2, dilation=2, padding=((7, 2), (11, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_groups_depthwise(isa, dtype):
    rng = np.random.default_rng(4)
    x = rand(rng, (2, 6, 9, 30), dtype)
    check(dtype, x, rand(rng, (15, 2, 3, 3), dtype), rand(rng, 15, dtype), groups=3, padding=1)
    check(dtype, x, rand(rng, (6, 1, 3, 3), dtype), groups=6, padding=1)             # depthwise
    check(dtype, x, rand(rng, (12, 1, 5, 5), dtype), groups=6, padding=2, stride=2)  # multiplier 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_flip_and_strided_operands(isa, dtype):
    rng = np.random.default_rng(5)
    x = rand(rng, (1, 5, 8, 45), dtype)
    w = rand(rng, (7, 5, 3, 4), dtype)
    bias = rand(rng, 14, dtype)[::2]                             # strided bias
    check(dtype, x, w, bias, flip=True, padding=((2, 1), (3, 0)))  # negative weight strides
    check(dtype, x[:, :, :, ::2], w, padding=1)                    # x stride 2 along w
    check(dtype, x[:, ::-1], w, padding=1, flip=True)              # negative x channel stride

    class EveryOther:  # out as y[..., ::2]: y stride 2 along w
        @staticmethod
        def base_shape(shape):
            return shape[:-1] + (2 * shape[-1],)

        def __call__(self, buf):
            return buf[..., ::2]
    check(dtype, x, w, padding=1, out_view=EveryOther())


@pytest.mark.parametrize("dtype", DTYPES)
def test_nhwc(isa, dtype):
    rng = np.random.default_rng(6)
    x = rand(rng, (2, 9, 26, 5), dtype)   # N, H, W, C
    w = rand(rng, (3, 3, 5, 11), dtype)   # kH, kW, C_in, C_out
    check(dtype, x, w, rand(rng, 11, dtype), layout="NHWC", padding=1)
    check(dtype, x, w, layout="NHWC", stride=2, padding=((1, 2), (4, 0)), flip=True)
    check(dtype, x, rand(rng, (3, 3, 1, 10), dtype), layout="NHWC", groups=5, padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d(isa, dtype):
    rng = np.random.default_rng(7)
    x = rand(rng, (1, 3, 1000), dtype)   # few channel blocks: the row is split across threads
    check(dtype, x, rand(rng, (2, 3, 7), dtype), rand(rng, 2, dtype), conv1d=True, padding=3)
    check(dtype, x, rand(rng, (5, 3, 5), dtype), conv1d=True, stride=3, dilation=2,
          padding=(9, 1))
    check(dtype, x, rand(rng, (6, 1, 4), dtype), conv1d=True, groups=3, padding="same")
    xl = rand(rng, (2, 200, 4), dtype)   # N, L, C
    check(dtype, xl, rand(rng, (3, 4, 5), dtype), conv1d=True, layout="NLC", padding=1)


@pytest.mark.parametrize("dtype", DTYPES)
def test_wide_kernels_and_huge_dilation(isa, dtype):
    rng = np.random.default_rng(8)
    # kernel wider than the precomputed border masks: packed borders with unit stride
    check(dtype, rand(rng, (1, 2, 3, 60), dtype), rand(rng, (3, 2, 2, 19), dtype), padding=(1, 9))
    # span past the packed stack buffer: the generic path
    check(dtype, rand(rng, (1, 2, 9000), dtype), rand(rng, (2, 2, 3), dtype), conv1d=True,
          dilation=3000, padding=5)


# ---- the channel-blocked kernel (fc_*_conv2d_direct_blocked) --------------------------------
# Register tile per ISA: BKB vectors of output channels x BNW flattened output pixels (see
# csrc/conv_direct.h); a block of output channels is BKB * lanes.
BLOCKED_TILE = {"scalar": (4, 3), "avx2": (2, 6), "avx512": (2, 12)}
LANES = {"scalar": {np.float32: 1, np.float64: 1}, "avx2": {np.float32: 8, np.float64: 4},
         "avx512": {np.float32: 16, np.float64: 8}}


def takes_blocked(x, w, *, conv1d=False, **kw) -> bool:
    """Whether direct:c runs this problem through the channel-blocked kernel (its workspace
    query answers a size) rather than the w-vectorised one."""
    call = api.prepare(1 if conv1d else 2, x, w, None, kw.get("stride", 1), kw.get("padding", 0),
                       kw.get("dilation", 1), kw.get("groups", 1),
                       kw.get("layout", "NCL" if conv1d else "NCHW"), kw.get("flip", False))
    size_fn = c_backend._direct_functions(call.problem.np_dtype)[0]
    return size_fn(c_backend.problem_desc(call.problem), fastconv.get_workspace_limit()) > 0


def check_blocked(dtype, x, w, bias=None, **kw):
    """check(), then the same problem through a plan made with the weights (packed once,
    c_backend.DirectPrepared): bit-identical to the one-call kernel, twice in a row."""
    assert takes_blocked(x, w, **kw), "expected the channel-blocked kernel"
    y = check(dtype, x, w, bias, **kw)
    kw.pop("conv1d", None)  # a plan knows conv1d by its 3-D shapes
    p = fastconv.plan(x.shape, w.shape, dtype=dtype, weight=w, algo="direct", backend="c",
                      **kw)
    assert isinstance(p._apply, c_backend.DirectPrepared)
    for _ in range(2):
        out = np.full(y.shape, np.nan, dtype=dtype)
        np.testing.assert_array_equal(p(x, bias=bias, out=out), y)


def block_edges(isa, dtype):
    """Output channels per group below, on and above one and two channel blocks."""
    ob = BLOCKED_TILE[isa][0] * LANES[isa][dtype]
    vl = LANES[isa][dtype]
    return sorted({vl, ob - 1, ob, ob + 1, 2 * ob - vl + 1, 2 * ob + vl - 1})


def pixel_edges(isa):
    """Output pixel counts below, on and above one and two tiles of BNW flattened pixels."""
    nw = BLOCKED_TILE[isa][1]
    return sorted({1, nw - 1, nw, nw + 1, 2 * nw + 1})


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocked_channel_and_pixel_edges(isa, dtype):
    """Output channels around one and two blocks x output pixels around one and two tiles
    (flattened over rows: a tile may span the end of a row), padded borders, bias or not."""
    rng = np.random.default_rng(11)
    for c_out in block_edges(isa, dtype):
        w = rand(rng, (c_out, 5, 3, 3), dtype)
        bias = rand(rng, c_out, dtype) if c_out % 2 else None
        for npix in pixel_edges(isa):
            x = rand(rng, (2, 5, 1, npix), dtype)
            check_blocked(dtype, x, w, bias, padding=(1, 1))   # one output row of npix pixels
        check_blocked(dtype, rand(rng, (1, 5, 7, 7), dtype), w, bias, padding=1)  # 49 pixels
        check_blocked(dtype, rand(rng, (1, 5, 5, 3), dtype), w, padding=0)   # 3x1: one tile


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocked_stride_dilation_padding(isa, dtype):
    rng = np.random.default_rng(12)
    ob = BLOCKED_TILE[isa][0] * LANES[isa][dtype]
    x = rand(rng, (2, 7, 13, 29), dtype)
    w = rand(rng, (ob + 3, 7, 3, 3), dtype)
    b = rand(rng, ob + 3, dtype)
    check_blocked(dtype, x, w, b, stride=2, padding=1)                      # ResNet's 3x3 s2
    check_blocked(dtype, x, w, stride=(1, 3), dilation=(3, 2), padding=((2, 0), (0, 5)))
    check_blocked(dtype, x, w, b, padding=((6, 5), (9, 12)))  # pads wider than the kernel
    check_blocked(dtype, x, w, stride=2, dilation=2, padding=((7, 2), (11, 3)))
    check_blocked(dtype, x, rand(rng, (ob, 7, 7, 7), dtype), b[:ob], stride=2, padding=3)  # stem
    check_blocked(dtype, x, w, b, padding=((0, 0), (0, 0)))    # bottom/right input never read


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocked_groups_layouts_views(isa, dtype):
    rng = np.random.default_rng(13)
    vl = LANES[isa][dtype]
    ob = BLOCKED_TILE[isa][0] * vl
    x = rand(rng, (2, 6, 9, 17), dtype)
    kg = ob + vl + 1
    check_blocked(dtype, x, rand(rng, (3 * kg, 2, 3, 3), dtype), rand(rng, 3 * kg, dtype),
                  groups=3, padding=1)
    w = rand(rng, (ob + 1, 6, 3, 2), dtype)
    check_blocked(dtype, x[:, :, :, ::2], w, padding=1)              # x stride 2 along w
    check_blocked(dtype, x[:, ::-1], w, padding=1, flip=True)        # negative strides
    bias = rand(rng, 2 * (ob + 1), dtype)[::2]                       # strided bias
    check_blocked(dtype, x, w, bias, padding=((2, 1), (3, 0)))
    xh = rand(rng, (2, 9, 11, 6), dtype)                             # NHWC, HWIO weights
    wh = rand(rng, (3, 3, 6, 2 * ob), dtype)
    check_blocked(dtype, xh, wh, rand(rng, 2 * ob, dtype), layout="NHWC", padding=1)
    check_blocked(dtype, xh, wh, layout="NHWC", stride=2, padding=((1, 2), (4, 0)), flip=True)

    class EveryOther:  # out as y[..., ::2]: y stride 2 along w
        @staticmethod
        def base_shape(shape):
            return shape[:-1] + (2 * shape[-1],)

        def __call__(self, buf):
            return buf[..., ::2]
    assert takes_blocked(x, w, padding=1)
    check(dtype, x, w, padding=1, out_view=EveryOther())


@pytest.mark.parametrize("dtype", DTYPES)
def test_blocked_conv1d(isa, dtype):
    rng = np.random.default_rng(14)
    ob = BLOCKED_TILE[isa][0] * LANES[isa][dtype]
    x = rand(rng, (3, 16, 301), dtype)      # the audio filter bank's shape, shortened
    check_blocked(dtype, x, rand(rng, (2 * ob, 16, 9), dtype), rand(rng, 2 * ob, dtype),
                  conv1d=True, padding=4)
    check_blocked(dtype, x, rand(rng, (ob + 1, 16, 5), dtype), conv1d=True, stride=3,
                  dilation=2, padding=(9, 1))
    xl = rand(rng, (2, 120, 4), dtype)     # N, L, C
    check_blocked(dtype, xl, rand(rng, (3, 4, ob), dtype), conv1d=True, layout="NLC", padding=1)


def test_blocked_workspace_budget(isa):
    """Past the workspace budget the size query answers 0 and direct:c runs the problem on the
    w-vectorised kernel, still correctly."""
    rng = np.random.default_rng(15)
    x = rand(rng, (1, 8, 20, 20), np.float32)
    w = rand(rng, (16, 8, 3, 3), np.float32)
    call = api.prepare(2, x, w, None, 1, 1, 1, 1, "NCHW", False)
    size_fn = c_backend._direct_functions(call.problem.np_dtype)[0]
    need = size_fn(c_backend.problem_desc(call.problem), 1 << 40)
    assert need > 0
    assert size_fn(c_backend.problem_desc(call.problem), need - 1) == 0
    old = fastconv.workspace.get_workspace_limit()
    fastconv.workspace.set_workspace_limit(need - 1)
    try:
        assert not takes_blocked(x, w, padding=1)
        check(np.float32, x, w, padding=1)
    finally:
        fastconv.workspace.set_workspace_limit(old)


def test_packed_weights_follow_the_isa_cap():
    """A plan's packed weights are made for the ISA active when it was made; under another cap
    (set_isa) it packs again for that ISA and matches the one-call kernel there bit for bit."""
    rng = np.random.default_rng(16)
    x = rand(rng, (1, 8, 9, 9), np.float32)
    w = rand(rng, (40, 8, 3, 3), np.float32)
    b = rand(rng, 40, np.float32)
    p = fastconv.plan(x.shape, w.shape, weight=w, algo="direct", backend="c", padding=1)
    assert isinstance(p._apply, c_backend.DirectPrepared)
    try:
        for isa in reversed(c_backend.supported_isas()):
            c_backend.set_isa(isa)
            one_call = fastconv.conv2d(x, w, b, algo="direct", backend="c", padding=1)
            np.testing.assert_array_equal(p(x, bias=b), one_call)
            assert c_backend.ISA_NAMES[p._apply._packed[0]] == isa
    finally:
        c_backend.set_isa(None)


def test_packed_weights_checks(monkeypatch):
    """apply refuses a packed buffer made for other channels, one whose ISA this CPU lacks,
    and a short workspace, with the status as an exception (never a wrong result)."""
    rng = np.random.default_rng(17)
    x = rand(rng, (1, 8, 9, 9), np.float32)
    w = rand(rng, (40, 8, 3, 3), np.float32)
    problem = api.prepare(2, x, w, None, 1, 1, 1, 1, "NCHW", False).problem
    other = api.prepare(2, x, w[:24], None, 1, 1, 1, 1, "NCHW", False).problem
    prepared = c_backend.DirectPrepared(problem, w)
    y = np.empty((1, 40, 9, 9), np.float32)
    prepared(x, None, y)
    wrong = c_backend.DirectPrepared(other, w[:24])
    prepared._packed = wrong._packed
    with pytest.raises(c_backend.KernelError, match="invalid argument"):
        prepared(x, None, y)
    prepared = c_backend.DirectPrepared(problem, w)
    real_scratch = c_backend.workspace.scratch
    with monkeypatch.context() as m:  # a workspace 65 bytes short of the size query's answer
        m.setattr(c_backend.workspace, "scratch",
                  lambda nbytes: real_scratch(nbytes)[:max(nbytes - 65, 0)])
        with pytest.raises(c_backend.KernelError, match="workspace"):
            prepared(x, None, y)
    isa, packed = prepared._packed

    def forged(header_isa):  # the buffer with another ISA in its header (int32 at byte 4)
        buf = packed.copy()
        buf[4:8] = np.frombuffer(np.int32(header_isa).tobytes(), np.uint8)
        return isa, buf
    prepared._packed = forged(3)  # no such ISA
    with pytest.raises(c_backend.KernelError, match="invalid argument"):
        prepared(x, None, y)
    if c_backend.cpu_isa() != "avx512":  # an ISA this CPU cannot run
        prepared._packed = forged(2)
        with pytest.raises(RuntimeError, match="instruction set"):
            prepared(x, None, y)


def test_rule_picks_the_kernel(monkeypatch):
    """Under direct:c's own rule (the fixture's patch undone) a problem whose output-channel
    blocks would be mostly idle, or whose NCHW reduction is short, runs the workspace-free
    kernel, and a plan made with its weights gives the same bits; a problem with full blocks
    and a long reduction runs the blocked kernel, packed once in a plan."""
    from fastconv import dispatch
    monkeypatch.undo()
    dispatch.select.cache_clear()
    rng = np.random.default_rng(18)
    isa = c_backend.active_isa()
    ob = BLOCKED_TILE[isa][0] * LANES[isa][np.float32]
    x8, x2 = rand(rng, (1, 8, 9, 9), np.float32), rand(rng, (1, 2, 9, 9), np.float32)
    cases = ((x8, rand(rng, (ob // 2 + 1, 8, 3, 3), np.float32), False),  # block half full
             (x2, rand(rng, (ob, 2, 3, 3), np.float32), False),     # 2 x 9 = 18 < 32 per output
             (x8, rand(rng, (2 * ob, 8, 3, 3), np.float32), True))  # 72 per output, full blocks

    def forced(x, w, blocked):  # one kernel or the other, whatever the rule says
        with monkeypatch.context() as m:
            m.setattr(c_backend, "direct_prefers_blocked", lambda d, dtype: blocked)
            dispatch.select.cache_clear()
            y = fastconv.conv2d(x, w, algo="direct", backend="c", padding=1)
        dispatch.select.cache_clear()
        return y

    for x, w, blocked in cases:
        assert takes_blocked(x, w, padding=1)  # the blocked kernel could run each
        y = fastconv.conv2d(x, w, algo="direct", backend="c", padding=1)
        np.testing.assert_array_equal(y, forced(x, w, blocked))
        p = fastconv.plan(x.shape, w.shape, weight=w, algo="direct", backend="c", padding=1)
        assert isinstance(p._apply, c_backend.DirectPrepared) == blocked
        np.testing.assert_array_equal(p(x), y)
