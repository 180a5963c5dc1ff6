"""fastconv.dask: chunked results equal fastconv.conv2d / conv1d on the whole array.

Random problems (every padding form, stride, dilation, groups, layout, conv1d) over random
chunkings, zero-size chunks included, on the threaded scheduler; then a LocalCluster with two
worker processes, started once for the module.
"""
import importlib.util
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
pytest.importorskip("hypothesis")
from dask.core import get_dependencies  # noqa: E402
from hypothesis import given, note, settings, strategies as st  # noqa: E402

import fastconv  # noqa: E402
import fastconv.dask as fcd  # noqa: E402
from fastconv.testing import Case, make_inputs, normwise_error  # noqa: E402

TOL = 1e-6  # normwise, float64 inputs


def dask_conv(case: Case):
    return fcd.conv2d if case.spatial_dims == 2 else fcd.conv1d


@st.composite
def problems(draw):
    dims = draw(st.sampled_from([1, 2]))
    groups = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 5)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 4)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    span = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    mode = draw(st.sampled_from(["int", "pairs", "same", "same_lower", "valid"]))
    if mode in ("same", "same_lower", "valid"):
        padding, pads = mode, [0] * dims
    elif mode == "int":
        p = draw(st.integers(0, 4))
        padding, pads = p, [2 * p] * dims
    else:  # asymmetric, up to wider than the kernel (windows wholly in padding)
        pairs = [(draw(st.integers(0, 8)), draw(st.integers(0, 8))) for _ in range(dims)]
        padding = pairs[0] if dims == 1 else tuple(pairs)
        pads = [a + b for a, b in pairs]
    lows = [max(1, e - p) for e, p in zip(span, pads)] if mode != "same" else [1] * dims
    size = tuple(draw(st.integers(lo, lo + 24)) for lo in lows)
    layout = draw(st.sampled_from(["NCHW", "NHWC"] if dims == 2 else ["NCL", "NLC"]))
    return Case(n=draw(st.integers(1, 3)), c_in=groups * draw(st.integers(1, 2)),
                c_out=groups * draw(st.integers(1, 2)), size=size, kernel=kernel,
                stride=stride if dims == 2 else stride[0], padding=padding,
                dilation=dilation if dims == 2 else dilation[0], groups=groups,
                dtype="float64", layout=layout, flip=draw(st.booleans()),
                bias=draw(st.booleans()))


@st.composite
def chunkings(draw, length):
    """Chunk sizes summing to ``length``: random cut points, repeats giving empty chunks."""
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=5)))
    bounds = [0, *cuts, length]
    return tuple(b - a for a, b in zip(bounds[:-1], bounds[1:]))


def chunks_for(draw, case: Case):
    """Chunks along every axis of x: N and the spatial axes random, channels one chunk."""
    chunks = [draw(chunkings(n)) for n in case.x_shape]
    chunks[-1 if case.channels_last else 1] = (case.c_in,)
    return tuple(chunks)


@settings(max_examples=60)
@given(case=problems(), data=st.data())
def test_equals_whole_array_call(case, data):
    note(case.id)
    x, w, b = make_inputs(case, np.random.default_rng(0))
    chunks = chunks_for(data.draw, case)
    note(f"chunks {chunks}")
    y = dask_conv(case)(da.from_array(x, chunks=chunks), w, b, **case.kwargs)
    expected = case.conv(x, w, b, **case.kwargs)
    assert y.shape == expected.shape and y.dtype == expected.dtype
    assert_output_chunks_aligned(case, chunks, y)
    result = y.compute(scheduler="threads")
    assert not np.isnan(result).any()
    assert normwise_error(result, expected) <= TOL


def assert_output_chunks_aligned(case: Case, chunks, y):
    """Output chunk boundaries are input boundaries moved by the padding, over the stride."""
    problem = case.problem
    strides = problem.stride[2 - case.spatial_dims:]
    befores = problem.padding[0::2][2 - case.spatial_dims:]
    outs = (problem.h_out, problem.w_out)[2 - case.spatial_dims:]
    first = 1 if case.channels_last else 2
    axes = range(first, first + case.spatial_dims)
    for axis, s, before, out in zip(axes, strides, befores, outs):
        in_bounds = np.cumsum(chunks[axis])[:-1]
        wanted = {min(max(-(-(b + before) // s), 0), out) for b in in_bounds} - {0, out}
        assert set(np.cumsum(y.chunks[axis])[:-1]) == wanted, (chunks[axis], y.chunks[axis])
        assert 0 not in y.chunks[axis]


def test_output_chunk_wholly_in_padding():
    """An empty leading input chunk, padding wider than the kernel and a stride that skips the
    image's first element: the first output chunk (outputs 0..2, windows starting at -8, -5,
    -2) reads only padding, so its task depends on no input chunk and convolves zeros."""
    x = np.arange(1.0, 11.0).reshape(2, 1, 5)
    w, b = np.full((1, 1, 2), 2.0), np.array([0.5])
    y = fcd.conv1d(da.from_array(x, chunks=(1, 1, (0, 5))), w, b, stride=3, padding=(8, 1))
    assert y.chunks[2] == (3, 2)
    graph = dict(y.__dask_graph__())
    reads = [get_dependencies(graph, (y.name, 0, 0, i)) for i in range(2)]
    assert [any(str(dep).startswith("('array") for dep in d) for d in reads] == [False, True]
    assert np.array_equal(y.compute(), fastconv.conv1d(x, w, b, stride=3, padding=(8, 1)))


def test_numpy_input_channel_chunks_and_integer_dtype():
    rng = np.random.default_rng(1)
    x = rng.integers(-5, 5, (2, 21, 19, 6)).astype(np.int16)
    w = rng.standard_normal((3, 3, 6, 4)).astype(np.float32)
    expected = fastconv.conv2d(x, w, stride=2, padding="same", layout="NHWC")
    with pytest.warns(UserWarning, match="channel axis"):
        y = fcd.conv2d(da.from_array(x, chunks=(1, 8, 7, 2)), w, stride=2, padding="same",
                       layout="NHWC")
    assert y.dtype == expected.dtype == np.float32
    assert normwise_error(y.compute(), expected) <= 1e-6  # float32, possibly another algo
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one channel chunk: no warning
        assert np.array_equal(fcd.conv2d(x, w, layout="NHWC").compute(),
                              fastconv.conv2d(x, w, layout="NHWC"))


def test_invalid_arguments_fail_when_building_the_graph():
    """The API's own messages, before anything is read (x would raise if computed)."""
    def unreadable():
        raise AssertionError("x was read")
    x = da.from_delayed(__import__("dask").delayed(unreadable)(), (1, 4, 9, 9), np.float64)
    for kwargs, error, text in [
            (dict(groups=3), ValueError, "groups=3 must divide"),
            (dict(padding="full"), ValueError, "padding must be"),
            (dict(stride=0), ValueError, "stride must be >= 1"),
            (dict(algo="winograd2"), ValueError, "algo 'winograd2' is unknown"),
            (dict(layout="NLC"), ValueError, "layout must be one of")]:
        with pytest.raises(error, match=text):
            fcd.conv2d(x, np.ones((2, 4, 3, 3)), **kwargs)
    with pytest.raises(ValueError, match="larger than the padded input"):
        fcd.conv2d(x, np.ones((2, 4, 10, 3)))
    with pytest.raises(TypeError, match="x must hold real numbers"):
        fcd.conv2d(x.astype(complex), np.ones((2, 4, 3, 3)))


def test_weight_is_stored_once_not_per_chunk():
    """The optimized graph holds the weight once, as one key: going from 4 to 64 chunks grows
    the pickled graph by the tasks alone (a weight per task would add 60 MiB)."""
    w = np.random.default_rng(2).standard_normal((256, 128, 3, 3)).astype(np.float32)  # 1 MiB

    def pickled_graph(chunk):
        x = da.zeros((1, 128, 64, 64), chunks=(1, 128, chunk, chunk))
        y = fcd.conv2d(x, w, np.ones(256, np.float32), padding=1)
        graph = dict(y.__dask_optimize__(y.__dask_graph__(), y.__dask_keys__()))
        weights = [k for k in graph if "weight" in str(k)]
        assert len(weights) == 1 and str(weights[0]).startswith("fastconv-weight")
        return len(pickle.dumps(graph))

    assert pickled_graph(8) - pickled_graph(32) < 0.5 * w.nbytes


def test_import_fastconv_does_not_import_dask():
    code = "import sys, fastconv; assert 'dask' not in sys.modules, 'dask imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_large_image_example_small_run(capsys):
    """examples/large_image.py end to end at a small size, checked against conv2d."""
    path = Path(__file__).resolve().parents[1] / "examples" / "large_image.py"
    spec = importlib.util.spec_from_file_location("large_image", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    threads = fastconv.get_num_threads()
    try:  # the example sets fastconv's threads to 1 for its dask threads
        example.main(["--size", "150", "--chunk-rows", "40", "--chunk-cols", "64", "--check"])
    finally:
        fastconv.set_num_threads(threads)
    out = capsys.readouterr().out
    assert "check against fastconv.conv2d" in out and "peak resident memory" in out


# ---- dask.distributed: two worker processes ----------------------------------------------
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  env={"FASTCONV_NUM_THREADS": "1"}) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def test_distributed_worker_processes(client):
    """conv2d (NHWC, groups, asymmetric padding, dilation) and conv1d ("same", stride) computed
    together on the cluster: both workers run fastconv tasks, results equal the single call."""
    from distributed import get_task_stream
    rng = np.random.default_rng(3)
    cases = [Case(2, 4, 6, (40, 37), (5, 3), stride=(2, 3), padding=((4, 1), (0, 2)),
                  dilation=(1, 2), groups=2, dtype="float64", layout="NHWC"),
             Case(3, 3, 2, (101,), (7,), stride=2, padding="same", dtype="float64")]
    inputs, lazy = [], []
    for case in cases:
        x, w, b = make_inputs(case, rng)
        spatial = (13,) * case.spatial_dims
        chunks = (1, *spatial, case.c_in) if case.channels_last else (1, case.c_in, *spatial)
        inputs.append((x, w, b))
        lazy.append(dask_conv(case)(da.from_array(x, chunks=chunks), w, b, **case.kwargs))
    with get_task_stream(client) as stream:
        results = client.gather(client.compute(lazy))
    for case, (x, w, b), result in zip(cases, inputs, results):
        assert normwise_error(result, case.conv(x, w, b, **case.kwargs)) <= TOL, case.id
    workers = {t["worker"] for t in stream.data if t["key"][0].startswith("fastconv-conv")}
    assert len(workers) == 2, f"fastconv tasks ran on {workers}"
