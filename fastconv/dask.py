"""fastconv on dask arrays: convolutions of images and batches larger than memory.

``fastconv.dask.conv2d`` / ``conv1d`` take a dask array chunked along N and the spatial axes
and return a lazy dask array equal to ``fastconv.conv2d`` / ``conv1d`` on the whole array.

Why not ``dask.array.map_overlap``: its halo is the same depth on both sides of every chunk
and its output chunks are the input chunks, which fits neither strides (an output chunk is
about 1/stride of its input chunk), asymmetric or "same" padding, nor dilation's extent. So
the graph is built here, one task per output chunk, axis by axis:

- output chunk boundaries sit where the input's do: output ``j`` belongs to the input chunk
  holding the first element of its window, ``j * stride - pad_before``, so boundaries are
  ``ceil((input_boundary + pad_before) / stride)`` and chunk outputs tile the global output;
- each output chunk reads the input window its outputs need,
  ``[lo * stride - pad_before, (hi - 1) * stride - pad_before + dilation * (k - 1) + 1)``,
  cut from the input chunks it touches (a view when it lies in one chunk, else one copy);
- the window is clipped to the image, and only what falls outside the image becomes padding
  of that chunk's own ``fastconv.conv2d`` call (interior chunks run unpadded).

Arguments are validated once, when the graph is built, by the same ``fastconv.api.prepare``
as ``fastconv.conv2d`` (on a zero-stride placeholder of x's shape and dtype: nothing is read).
The weight and bias enter the graph once, each as a single key every task depends on: the
threaded scheduler shares them, dask.distributed ships them once to each worker rather than
inside every task. Each chunk's call picks its implementation through the dispatcher, whose
choice is cached per process, so a worker plans each distinct chunk problem (interior, edges,
corners) once.

Threads: every chunk's kernel uses ``fastconv.get_num_threads()`` threads of its process. With
a scheduler that runs several chunks at once in one process (the threaded scheduler's default
is one per core) set ``fastconv.set_num_threads(1)`` there, or run dask with one thread and let
the kernels use the cores.

Importing this module imports dask; ``import fastconv`` does not.
"""
from __future__ import annotations

import itertools
import math
import warnings
from typing import NamedTuple

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from . import api
from .problem import ConvProblem

__all__ = ["conv1d", "conv2d"]


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCHW",
           flip=False, algo="auto", backend="auto"):
    """:func:`fastconv.conv2d` of a dask array ``x``, as a lazy dask array.

    One task per output chunk; each cuts the input window its outputs need from the chunks
    it touches and pads only what lies outside the image, so the result equals the single
    call on the whole array, for images and batches larger than memory.

    Parameters
    ----------
    x : dask.array.Array or array_like
        ``(N, C_in, H, W)``, or ``(N, H, W, C_in)`` with ``layout="NHWC"``, chunked along N,
        H and W in any way. The channels must be one chunk (they are rechunked, with a
        warning, otherwise). A NumPy array is taken as one chunk.
    weight : array_like
        The kernel, as :func:`fastconv.conv2d` takes it. Made a NumPy array (a dask array is
        computed) and stored once in the graph.
    bias : array_like or None, optional
        ``(C_out,)``, stored once in the graph. Default None.
    stride, padding, dilation, groups, layout, flip, algo, backend : optional
        As :func:`fastconv.conv2d` (any stride, every padding form, dilation, groups,
        both layouts, ``flip``). There is no ``out``.

    Returns
    -------
    dask.array.Array
        Lazy, chunked along N like ``x``, along H_out and W_out at ``x``'s chunk boundaries
        moved by the leading padding and divided by the stride, with one channel chunk.

    Raises
    ------
    TypeError, ValueError
        When the graph is built, for any argument :func:`fastconv.conv2d` refuses (the same
        validation on a zero-stride placeholder of ``x``: nothing is read).
    NotImplementedError, MemoryError
        When a chunk is computed, as :func:`fastconv.conv2d` on that chunk.

    Warns
    -----
    UserWarning
        When ``x`` has several chunks along the channels and is rechunked.

    Examples
    --------
    >>> import dask.array as da, numpy as np, fastconv.dask
    >>> x = da.random.random((1, 8, 4096, 4096), chunks=(1, 8, 1024, 1024))
    >>> w = np.random.rand(4, 8, 15, 15)
    >>> y = fastconv.dask.conv2d(x, w, padding="same", stride=2)
    >>> y.shape
    (1, 4, 2048, 2048)
    >>> y.chunks[2]   # input boundaries 1024, 2048, 3072 moved by the padding (6), halved
    (515, 512, 512, 509)
    """
    return _convolve(2, x, weight, bias, stride, padding, dilation, groups, layout, flip, algo,
                     backend)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCL",
           flip=False, algo="auto", backend="auto"):
    """:func:`fastconv.conv1d` of a dask array ``x``, as a lazy dask array.

    Parameters
    ----------
    x : dask.array.Array or array_like
        ``(N, C_in, L)``, or ``(N, L, C_in)`` with ``layout="NLC"``, chunked along N and L
        in any way (the channels one chunk).
    weight : array_like
        The kernel, as :func:`fastconv.conv1d` takes it.
    bias : array_like or None, optional
        ``(C_out,)``. Default None.
    stride, padding, dilation, groups, layout, flip, algo, backend : optional
        As :func:`fastconv.conv1d`.

    Returns
    -------
    dask.array.Array
        Lazy, chunked as :func:`conv2d` describes.

    Raises
    ------
    TypeError, ValueError, NotImplementedError, MemoryError
        As :func:`conv2d`.
    """
    return _convolve(1, x, weight, bias, stride, padding, dilation, groups, layout, flip, algo,
                     backend)


# ---- the per-chunk work (module-level, so that worker processes can unpickle it) ------------
class ChunkCall(NamedTuple):
    """What every chunk's fastconv call shares, padding aside."""
    spatial_dims: int
    stride: tuple[int, ...]
    dilation: tuple[int, ...]
    groups: int
    layout: str
    flip: bool
    algo: object
    backend: str


def _convolve_chunk(window, pads, weight, bias, call: ChunkCall):
    """fastconv on one input window; ``pads``: a (before, after) pair per spatial axis, the
    part of the window outside the image."""
    conv = api.conv2d if call.spatial_dims == 2 else api.conv1d
    padding = pads if call.spatial_dims == 2 else pads[0]
    return conv(window, weight, bias, call.stride, padding, call.dilation, call.groups,
                layout=call.layout, flip=call.flip, algo=call.algo, backend=call.backend)


def _convolve_blocks(blocks, crops, spatial_axes, pads, weight, bias, call: ChunkCall):
    """Cut the window ``crops`` (a (start, stop) per spatial axis, counted from the first of
    ``blocks``) out of the input chunks ``blocks`` (nested lists, one level per spatial axis)
    and convolve it."""
    return _convolve_chunk(_window(blocks, crops, spatial_axes), pads, weight, bias, call)


def _convolve_padding(window_shape, dtype, weight, bias, call: ChunkCall):
    """An output chunk whose window lies wholly outside the image on some axis (only chunks of
    size 0, or paddings wider than a chunk, make one): every value it reads is a zero."""
    zeros = np.zeros(window_shape, dtype)
    return _convolve_chunk(zeros, ((0, 0),) * call.spatial_dims, weight, bias, call)


def _window(blocks, crops, spatial_axes) -> np.ndarray:
    """The window as one array: a view of the block when it lies in one, else a copy of just
    the needed part of each block."""
    grid = _flatten(blocks, len(spatial_axes))
    if len(grid) == 1:
        block = grid[(0,) * len(spatial_axes)]
        index = [slice(None)] * block.ndim
        for axis, (start, stop) in zip(spatial_axes, crops):
            index[axis] = slice(start, stop)
        return block[tuple(index)]
    # block offsets along each spatial axis, read from the blocks on the grid's edges
    offsets = []
    for dim, axis in enumerate(spatial_axes):
        count = max(ix[dim] for ix in grid) + 1
        sizes = [grid[tuple(i if d == dim else 0 for d in range(len(spatial_axes)))].shape[axis]
                 for i in range(count)]
        offsets.append(np.concatenate([[0], np.cumsum(sizes)]))
    first = grid[(0,) * len(spatial_axes)]
    shape = list(first.shape)
    for axis, (start, stop) in zip(spatial_axes, crops):
        shape[axis] = stop - start
    window = np.empty(shape, np.result_type(*[b.dtype for b in grid.values()]))
    for ix, block in grid.items():
        src = [slice(None)] * block.ndim
        dst = [slice(None)] * block.ndim
        for dim, axis in enumerate(spatial_axes):
            start, stop = crops[dim]
            lo, hi = offsets[dim][ix[dim]], offsets[dim][ix[dim] + 1]
            a, b = max(start, lo), min(stop, hi)
            src[axis], dst[axis] = slice(a - lo, b - lo), slice(a - start, b - start)
        window[tuple(dst)] = block[tuple(src)]
    return window


def _flatten(nested, depth, prefix=()):
    if depth == 0:
        return {prefix: nested}
    grid = {}
    for i, item in enumerate(nested):
        grid.update(_flatten(item, depth - 1, prefix + (i,)))
    return grid


# ---- the graph -------------------------------------------------------------------------------
class AxisChunk(NamedTuple):
    """One output chunk along one spatial axis and the input it reads."""
    size: int               # outputs in this chunk
    blocks: range           # input chunks the window touches (empty: none)
    crop: tuple[int, int]   # the window, clipped to the image, from the first block's start
    pads: tuple[int, int]   # window parts before / after the image
    window: int             # window length, padding included


def axis_chunks(in_chunks, size, k, stride, dilation, pad_before, out_size) -> list[AxisChunk]:
    """Output chunks along one spatial axis, aligned to the input chunks ``in_chunks``
    (``out_size`` already accounts for the padding after the image)."""
    bounds = np.concatenate([[0], np.cumsum(in_chunks, dtype=np.int64)]).tolist()
    span = dilation * (k - 1) + 1
    cuts = sorted({0, out_size} | {min(max(-(-(b + pad_before) // stride), 0), out_size)
                                   for b in bounds[1:-1]})
    chunks = []
    for lo, hi in itertools.pairwise(cuts):
        start = lo * stride - pad_before
        stop = (hi - 1) * stride - pad_before + span
        a, b = max(start, 0), min(stop, size)
        pads = (a - start, stop - b) if a < b else (0, 0)
        if a < b:
            touched = [i for i in range(len(in_chunks))
                       if bounds[i] < b and bounds[i + 1] > a and in_chunks[i] > 0]
            blocks = range(touched[0], touched[-1] + 1)
            crop = (a - bounds[blocks.start], b - bounds[blocks.start])
        else:
            blocks, crop = range(0), (0, 0)
        chunks.append(AxisChunk(hi - lo, blocks, crop, pads, stop - start))
    return chunks


def _axes(layout: str) -> tuple[int, tuple[int, ...]]:
    """(channel axis, spatial axes) of an array in ``layout``."""
    return {"NCHW": (1, (2, 3)), "NHWC": (3, (1, 2)), "NCL": (1, (2,)),
            "NLC": (2, (1,))}[layout]


def _spatial(problem: ConvProblem):
    """Per spatial axis of the user's array: (size, k, stride, dilation, pad_before,
    out_size)."""
    rows = [(problem.h, problem.kh, problem.stride[0], problem.dilation[0], problem.padding[0],
             problem.h_out),
            (problem.w, problem.kw, problem.stride[1], problem.dilation[1], problem.padding[2],
             problem.w_out)]
    return rows if problem.spatial_dims == 2 else rows[1:]


def _convolve(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout, flip,
              algo, backend):
    algos = api._parse_algo(algo)
    api._parse_backend(backend)
    x = x if isinstance(x, da.Array) else da.asarray(x)
    if any(math.isnan(c) for dim in x.chunks for c in dim):
        raise ValueError("x has unknown chunk sizes; call x.compute_chunk_sizes() first")
    weight = api._as_real_array(weight, "weight")
    bias = None if bias is None else api._as_real_array(bias, "bias")
    # Validation exactly as fastconv.conv2d, on a zero-stride placeholder of x (nothing read,
    # nothing allocated): the placeholder is already in the compute dtype, so prepare()
    # converts nothing.
    x_shadow = api._as_real_array(np.broadcast_to(np.zeros((), x.dtype), x.shape), "x")
    dtype = api._compute_dtype(x_shadow, weight, bias)
    x_shadow = np.broadcast_to(np.zeros((), dtype), x.shape)
    problem = api.prepare(spatial_dims, x_shadow, weight, bias, stride, padding, dilation,
                          groups, layout, flip, dtype=dtype).problem

    channel_axis, spatial_axes = _axes(layout)
    if len(x.chunks[channel_axis]) > 1:
        warnings.warn(f"fastconv.dask: x has {len(x.chunks[channel_axis])} chunks along its "
                      f"channel axis; rechunking them into one (every output reads all input "
                      f"channels of its group)", stacklevel=3)
        x = x.rechunk({channel_axis: -1})

    # The weight and bias in the compute dtype (so that no chunk converts them), each once.
    weight = np.ascontiguousarray(weight, dtype)
    bias = None if bias is None else np.ascontiguousarray(bias, dtype)
    call = ChunkCall(spatial_dims, problem.stride[2 - spatial_dims:],
                     problem.dilation[2 - spatial_dims:], problem.groups, layout,
                     problem.flip, "auto" if algos is None else algos, backend)
    token = tokenize(x.name, weight, bias, problem, call)
    name = f"fastconv-conv{spatial_dims}d-{token}"
    weight_key = f"fastconv-weight-{tokenize(weight)}"
    dsk = {weight_key: weight}
    bias_key = None
    if bias is not None:
        bias_key = f"fastconv-bias-{tokenize(bias)}"
        dsk[bias_key] = bias

    per_axis = [axis_chunks(x.chunks[axis], *geometry)
                for axis, geometry in zip(spatial_axes, _spatial(problem))]
    ndim = spatial_dims + 2
    for n_index, n_size in enumerate(x.chunks[0]):
        for out_index in itertools.product(*[range(len(chunks)) for chunks in per_axis]):
            parts = [chunks[i] for chunks, i in zip(per_axis, out_index)]
            key = (name,) + _chunk_index(ndim, n_index, spatial_axes, out_index)
            if any(not part.blocks for part in parts):
                shape = list(x.shape)
                shape[0] = n_size
                for axis, part in zip(spatial_axes, parts):
                    shape[axis] = part.window
                dsk[key] = (_convolve_padding, tuple(shape), dtype, weight_key, bias_key, call)
                continue
            blocks = _block_keys(x.name, ndim, n_index, spatial_axes,
                                 [part.blocks for part in parts])
            dsk[key] = (_convolve_blocks, blocks, tuple(part.crop for part in parts),
                        spatial_axes, tuple(part.pads for part in parts), weight_key, bias_key,
                        call)

    out_chunks = [x.chunks[0]] + [None] * (ndim - 1)
    out_chunks[channel_axis] = (problem.c_out,)
    for axis, chunks in zip(spatial_axes, per_axis):
        out_chunks[axis] = tuple(part.size for part in chunks)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    return da.Array(graph, name, tuple(out_chunks), meta=np.empty((0,) * ndim, dtype))


def _chunk_index(ndim, n_index, spatial_axes, spatial_index) -> tuple[int, ...]:
    """A chunk's index: ``n_index`` along N, 0 along channels (one chunk), ``spatial_index``
    along the spatial axes."""
    index = [0] * ndim
    index[0] = n_index
    for axis, i in zip(spatial_axes, spatial_index):
        index[axis] = i
    return tuple(index)


def _block_keys(name, ndim, n_index, spatial_axes, ranges):
    """Keys of x's chunks over ``ranges`` (one per spatial axis), nested one list per axis."""
    def nest(prefix):
        if len(prefix) == len(ranges):
            return (name,) + _chunk_index(ndim, n_index, spatial_axes, prefix)
        return [nest(prefix + (i,)) for i in ranges[len(prefix)]]
    return nest(())
