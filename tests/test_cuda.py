"""cuda backend specifics: device-array inputs and outputs, availability, launch geometry and
tile edges. The shared catalog tests (test_impls, test_properties) cover the numerics of every
cuda implementation on fastconv.testing.SIMULATOR_SMOKE.

Without a GPU these run under Numba's CUDA simulator, switched on by tests/conftest.py before
numba.cuda is imported; every problem here is tiny. Tests marked ``gpu`` need real hardware.
"""
import numpy as np
import pytest

import fastconv
from fastconv import backends, dispatch
from fastconv.backends import numba_cuda
from fastconv.registry import BY_NAME
from fastconv.testing import SMOKE, c1, c2, check_against_oracle, normwise_error, tolerance

CUDA_IMPLS = [BY_NAME[name] for name in ("direct:cuda", "im2col:cuda", "fft:cuda")]
pytestmark = pytest.mark.skipif(backends.unavailable_reason("cuda") is not None,
                                reason=f"cuda: {backends.unavailable_reason('cuda')}")


def cuda():
    from numba import cuda as module
    return module


def ids(impls):
    return [impl.name for impl in impls]


def test_cuda_implementations_are_available():
    for impl in CUDA_IMPLS:
        assert impl.available, impl.reason


def test_unavailable_without_a_gpu(monkeypatch):
    monkeypatch.setattr(cuda(), "is_available", lambda: False)
    assert "no CUDA GPU" in backends._probe_cuda()


# ---- tiles and their edges -----------------------------------------------------------------
# Larger than one simulator tile in every dimension (direct 4x8 pixels x 2 channels, implicit
# GEMM 8 x 16, FFT tiles of 8) with ragged edges, plus spans beyond direct's shared budget.
EDGE_TILES = (
    c2(1, 3, 13, 21, 5, 3, 3, padding=1),
    c2(2, 2, 9, 11, 4, 3, 3, stride=2, padding=(0, 2), groups=2, dtype="float64"),
    c2(1, 2, 9, 9, 3, 7, 7, padding=3),          # direct: input and kernel from global memory
    c1(1, 3, 40, 5, 9, padding=4, dilation=2),   # conv1d, several FFT tiles along the length
)


@pytest.mark.parametrize("case", EDGE_TILES, ids=str)
@pytest.mark.parametrize("impl", CUDA_IMPLS, ids=ids(CUDA_IMPLS))
def test_tile_edges(impl, case):
    check_against_oracle(impl, case)


def test_direct_uses_both_shared_and_global_paths():
    small, large = SMOKE[0].problem, EDGE_TILES[2].problem
    assert numba_cuda.direct_launch(small)[-2:] == (True, True)
    if numba_cuda.simulator():
        assert numba_cuda.direct_launch(large)[-2:] == (False, False)


def test_fft_rejects_kernels_beyond_one_tile():
    problem = c2(1, 1, 200, 200, 1, 99, 99, dtype="float64").problem
    assert "shared-memory FFT tile" in BY_NAME["fft:cuda"].supports(problem)
    assert BY_NAME["direct:cuda"].supports(problem) is None


@pytest.mark.parametrize("impl", CUDA_IMPLS[:2], ids=ids(CUDA_IMPLS[:2]))
def test_gpu_geometry_under_the_simulator(impl, monkeypatch):
    """The full-size GPU blocks and tiles (the simulator's are smaller) on one small case."""
    monkeypatch.setattr(numba_cuda, "geometry", lambda: numba_cuda.GPU)
    check_against_oracle(impl, SMOKE[0])


# ---- device arrays in, device arrays out -----------------------------------------------------
def device_case(case, impl, strided=False):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(case.x_shape).astype(case.dtype)
    w = rng.standard_normal(case.weight_shape).astype(case.dtype)
    b = rng.standard_normal(case.c_out).astype(case.dtype) if case.bias else None
    expected = case.oracle_conv(x, w, b, **case.kwargs)
    if strided:  # a non-contiguous device view of x
        buf = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        buf[..., ::2] = x
        xd = cuda().to_device(buf)[..., ::2]
    else:
        xd = cuda().to_device(x)
    args = (xd, cuda().to_device(w), None if b is None else cuda().to_device(b))
    y = case.conv(*args, **case.kwargs, algo=impl.algo)  # backend "auto": the device decides
    assert numba_cuda.is_device_array(y), type(y)
    assert y.shape == case.out_shape and np.dtype(y.dtype) == np.dtype(case.dtype)
    err = normwise_error(y.copy_to_host(), expected)
    assert err <= tolerance(case.dtype, impl.algo), (impl.name, case.id, err)


DEVICE_CASES = (
    SMOKE[0],
    c2(2, 4, 7, 7, 6, 3, 3, stride=2, groups=2, layout="NHWC", flip=True),
    c1(2, 4, 11, 6, 3, layout="NLC", flip=True, groups=2, bias=False),
    c1(1, 3, 12, 4, 3, padding=(0, 2), dtype="float64"),
)


@pytest.mark.parametrize("case", DEVICE_CASES, ids=str)
@pytest.mark.parametrize("impl", CUDA_IMPLS, ids=ids(CUDA_IMPLS))
def test_device_arrays(impl, case):
    device_case(case, impl)


def test_strided_device_input():
    device_case(SMOKE[0], CUDA_IMPLS[0], strided=True)


def test_host_weight_with_device_input_and_dtype_promotion():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 6, 7)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3))  # float64 on the host: the result is float64
    y = fastconv.conv2d(cuda().to_device(x), w, padding=1, algo="direct")
    assert np.dtype(y.dtype) == np.float64
    ref = fastconv.reference.conv2d(x, w, padding=1)
    assert normwise_error(y.copy_to_host(), ref) <= tolerance("float64", "direct")


def test_device_arrays_validate_without_host_copies_and_handle_empty_batches():
    x16 = cuda().to_device(np.ones((0, 2, 5, 5), np.float16))
    y = fastconv.conv2d(x16, cuda().to_device(np.ones((3, 2, 3, 3), np.float16)), algo="direct")
    assert y.shape == (0, 3, 3, 3) and np.dtype(y.dtype) == np.float32
    with pytest.raises(TypeError, match="x"):
        fastconv.conv2d(cuda().to_device(np.ones((1, 1, 3, 3), np.complex64)),
                        np.ones((1, 1, 1, 1), np.float32))


def test_device_arrays_refuse_other_backends_and_out():
    xd = cuda().to_device(np.zeros((1, 1, 4, 4), np.float32))
    w = np.ones((1, 1, 3, 3), np.float32)
    with pytest.raises(NotImplementedError, match="not supported by backend 'c'"):
        fastconv.conv2d(xd, w, backend="c")
    with pytest.raises(NotImplementedError, match="out="):
        fastconv.conv2d(xd, w, out=np.empty((1, 1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="groups"):  # validated like host arrays
        fastconv.conv2d(xd, w, groups=2)


def test_auto_keeps_host_arrays_off_the_gpu():
    problem = SMOKE[0].problem
    assert dispatch.select(problem, None, None).backend != "cuda"
    reasons = dict((impl.name, why) for impl, why in dispatch.candidates(problem, None, None))
    assert reasons["direct:cuda"] == dispatch.AUTO_SKIPS_CUDA
    assert dispatch.select(problem, None, "cuda").backend == "cuda"


# ---- real hardware ---------------------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.parametrize("impl", CUDA_IMPLS, ids=ids(CUDA_IMPLS))
def test_medium_problem_on_a_gpu(impl):
    """Full GPU geometry on a problem with many blocks (skipped under the simulator)."""
    check_against_oracle(impl, c2(4, 32, 40, 44, 48, 3, 3, padding=1))


# ---- the GPU check script -------------------------------------------------------------------
def test_gpu_check_script_runs_tiny(capsys, monkeypatch):
    """bench/gpu_check.py --tiny (one implementation, to stay cheap): every row within tolerance."""
    import importlib.util
    import os
    import sys
    from pathlib import Path
    # main() sets NUMBA_ENABLE_CUDASIM and extends sys.path: restore both afterwards
    monkeypatch.setenv("NUMBA_ENABLE_CUDASIM", os.environ.get("NUMBA_ENABLE_CUDASIM", "0"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    path = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"
    spec = importlib.util.spec_from_file_location("gpu_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--tiny", "--only", "im2col"]) == 0
    out = capsys.readouterr().out
    assert "0 failure(s)" in out and out.count("im2col:cuda") == 5


def test_kernels_compile_to_ptx_for_a_real_gpu():
    """The real compiler's view (the simulator only runs Python): every kernel, both dtypes,
    for sm_90, in a subprocess with the simulator off. Skips where NVVM/NVRTC are missing."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    here = Path(__file__).resolve().parent
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0",
               PYTHONPATH=os.pathsep.join([str(here.parent), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(here / "cuda_ptx_check.py")], env=env,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode == 77:
        pytest.skip(proc.stdout.strip()[-300:])
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
