"""The libraries fastconv is measured against, run on the same problem as a fastconv call.

Every benchmark (``fastconv bench``, ``bench/*.py``, the pytest-benchmark suites) builds its
peers here, so "torch" means the same call everywhere:

- ``torch``: ``torch.nn.functional.conv2d`` / ``conv1d`` (oneDNN on the CPU), under
  ``torch.no_grad()``; channels-last cases run on channels-last tensors (torch's own NHWC path).
- ``onnxruntime``: a one-node ONNX ``Conv`` model on the CPU execution provider
  (``intra_op_num_threads`` = threads, graph optimisations on, worker spinning off); ONNX
  Conv is NCHW, so channels-last inputs are transposed once when the runner is built, not per
  call. With spinning on (ORT's default), its idle worker keeps a core busy for tens of
  milliseconds after every run, so whatever is timed next in the process runs on one core:
  winograd:c's ResNet-50 res3 3x3 call took 11-21 ms right after ORT runs instead of 1.9. Off,
  ORT itself ran these layers as fast (best of 15, 2 threads, res2/res3/res5/VGG conv1_2,
  conv3_1, conv4_2: equal within run-to-run noise).
- ``scipy``: ``scipy.signal.oaconvolve`` of the padded input with the flipped kernel, broadcast
  over (batch, C_out, C_in) and summed over C_in; stride 1, dilation 1, groups 1 and at most
  ``SCIPY_MAX_CHANNEL_PAIRS`` channel pairs (beyond that the broadcast intermediate is the whole
  story), ``scipy.fft`` workers = threads.
- ``cv2``: ``cv2.filter2D`` (float32, BORDER_CONSTANT), single-channel 2-D "same" problems with
  an odd kernel, stride 1, dilation 1: classic image filtering.

Setup work (building a session, converting a layout, flipping a kernel) happens when the runner
is built and is never timed. :func:`peer_runners` returns only the peers that are installed and
can express the problem; :func:`peer_rejection` says why one cannot.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .testing import Case

PEERS: tuple[str, ...] = ("torch", "onnxruntime", "scipy", "cv2")

# scipy's broadcast (n, c_out, c_in, H, W) intermediate grows with the channel product.
SCIPY_MAX_CHANNEL_PAIRS = 64


def _import(name: str):
    try:
        if name == "torch":
            import torch
            return torch
        if name == "onnxruntime":
            import onnx  # noqa: F401  (the model is built with onnx.helper)
            import onnxruntime
            return onnxruntime
        if name == "scipy":
            import scipy.fft
            import scipy.signal
            return scipy
        if name == "cv2":
            import cv2
            return cv2
    except ImportError:
        return None
    raise ValueError(f"peer must be one of {', '.join(PEERS)}; got {name!r}")


def peer_rejection(name: str, case: Case) -> Optional[str]:
    """Why peer ``name`` cannot run ``case`` (not installed, problem outside what it
    expresses), or None when it can."""
    if _import(name) is None:
        return f"{name} is not installed"
    p = case.problem
    top, bottom, left, right = p.padding
    if name == "torch":
        if top != bottom or left != right:
            return "torch: asymmetric padding"
        return None
    if name == "onnxruntime":
        if np.dtype(case.dtype) != np.float32:
            return "onnxruntime: float32 only (CPU provider Conv)"
        return None
    if name == "scipy":
        if p.stride != (1, 1) or p.dilation != (1, 1) or p.groups != 1:
            return "scipy: stride 1, dilation 1, groups 1 only"
        if p.c_in * p.c_out > SCIPY_MAX_CHANNEL_PAIRS:
            return f"scipy: more than {SCIPY_MAX_CHANNEL_PAIRS} channel pairs"
        return None
    if name == "cv2":
        if p.spatial_dims != 2 or (p.c_in, p.c_out) != (1, 1):
            return "cv2.filter2D: single-channel 2-D problems only"
        if p.stride != (1, 1) or p.dilation != (1, 1):
            return "cv2.filter2D: stride 1, dilation 1 only"
        if p.kh % 2 == 0 or p.kw % 2 == 0 or (top, bottom, left, right) != (
                p.kh // 2, p.kh // 2, p.kw // 2, p.kw // 2):
            return "cv2.filter2D: odd kernel with 'same' padding only"
        return None
    raise ValueError(f"peer must be one of {', '.join(PEERS)}; got {name!r}")


def _nchw(case: Case, x, w):
    """x as (n, c, [h,] w) and w as (c_out, c_in/g, [kh,] kw), the kernel flipped when the case
    asks for a true convolution."""
    if case.channels_last:
        x = np.moveaxis(x, -1, 1)
        w = np.moveaxis(w, (-1, -2), (0, 1))
    if case.flip:
        w = w[(Ellipsis,) + (slice(None, None, -1),) * case.spatial_dims]
    return x, np.ascontiguousarray(w)


def _torch_runner(case: Case, x, w, b, threads):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(threads)
    p = case.problem
    xn, wn = _nchw(case, x, w)
    xt = torch.from_numpy(np.ascontiguousarray(x) if case.channels_last
                          else np.ascontiguousarray(xn))
    if case.channels_last:  # a permuted view of the NHWC buffer is torch's channels_last
        xt = xt.movedim(-1, 1)
    wt = torch.from_numpy(wn)
    bt = None if b is None else torch.from_numpy(np.ascontiguousarray(b))
    if case.channels_last and p.spatial_dims == 2:
        wt = wt.contiguous(memory_format=torch.channels_last)
    if p.spatial_dims == 1:
        args = (p.stride[1], p.padding[2], p.dilation[1], p.groups)
        conv = F.conv1d
    else:
        args = (p.stride, (p.padding[0], p.padding[2]), p.dilation, p.groups)
        conv = F.conv2d

    def run():
        with torch.no_grad():
            return conv(xt, wt, bt, *args)
    return run


def _onnxruntime_runner(case: Case, x, w, b, threads, spinning: bool = False):
    import onnxruntime as ort
    from onnx import TensorProto, helper
    p = case.problem
    xn, wn = _nchw(case, x, w)
    xn = np.ascontiguousarray(xn, np.float32)
    dims = p.spatial_dims
    top, bottom, left, right = p.padding
    attrs = dict(kernel_shape=list(wn.shape[2:]), group=p.groups,
                 strides=list(p.stride[2 - dims:]), dilations=list(p.dilation[2 - dims:]),
                 pads=[top, left, bottom, right] if dims == 2 else [left, right])
    inputs = ["x", "w"] + (["b"] if b is not None else [])
    inits = [helper.make_tensor("w", TensorProto.FLOAT, wn.shape, wn.ravel())]
    if b is not None:
        inits.append(helper.make_tensor("b", TensorProto.FLOAT, b.shape, np.ravel(b)))
    y_shape = list(p.out_shape) if dims == 2 else [p.n, p.c_out, p.w_out]
    graph = helper.make_graph(
        [helper.make_node("Conv", inputs, ["y"], **attrs)], "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, xn.shape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning",
                                  "1" if spinning else "0")  # module docstring
    session = ort.InferenceSession(model.SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    feed = {"x": xn}
    return lambda: session.run(None, feed)[0]


def _scipy_runner(case: Case, x, w, b, threads):
    import scipy.fft
    import scipy.signal
    p = case.problem
    xn, wn = _nchw(case, x, w)
    dims = p.spatial_dims
    pads = [(0, 0), (0, 0)] + ([(p.padding[0], p.padding[1])] if dims == 2 else []) + [
        (p.padding[2], p.padding[3])]
    xb = np.pad(xn, pads)[:, None]                      # (n, 1, c_in, ...)
    wb = wn[(slice(None), slice(None)) + (slice(None, None, -1),) * dims][None]  # (1, k, c, ...)
    axes = tuple(range(-dims, 0))
    bias = None if b is None else np.asarray(b).reshape((-1,) + (1,) * dims)

    def run():
        with scipy.fft.set_workers(threads):
            y = scipy.signal.oaconvolve(xb, wb, mode="valid", axes=axes).sum(axis=2)
        return y if bias is None else y + bias
    return run


def _cv2_runner(case: Case, x, w, b, threads):
    import cv2
    cv2.setNumThreads(threads)
    xn, wn = _nchw(case, x, w)
    image = np.ascontiguousarray(xn[0, 0])
    kernel = np.ascontiguousarray(wn[0, 0])
    delta = 0.0 if b is None else float(np.ravel(b)[0])
    batch = [np.ascontiguousarray(xn[i, 0]) for i in range(xn.shape[0])]
    if len(batch) == 1:
        return lambda: cv2.filter2D(image, -1, kernel, delta=delta,
                                    borderType=cv2.BORDER_CONSTANT)
    return lambda: [cv2.filter2D(img, -1, kernel, delta=delta, borderType=cv2.BORDER_CONSTANT)
                    for img in batch]


_BUILDERS = {"torch": _torch_runner, "onnxruntime": _onnxruntime_runner,
             "scipy": _scipy_runner, "cv2": _cv2_runner}


def peer_runner(name: str, case: Case, x, w, b, threads: int,
                ort_spinning: bool = False) -> Callable[[], object]:
    """A no-argument callable computing ``case`` on (x, w, b) with peer ``name`` (the inputs
    in the case's layout, as fastconv takes them). Raises ValueError with the reason when the
    peer cannot run the case (see :func:`peer_rejection`). ``ort_spinning`` turns
    onnxruntime's worker spinning on (its own default; off otherwise, see the module
    docstring) and is ignored by the other peers."""
    reason = peer_rejection(name, case)
    if reason:
        raise ValueError(reason)
    if name == "onnxruntime":
        return _onnxruntime_runner(case, x, w, b, threads, spinning=ort_spinning)
    return _BUILDERS[name](case, x, w, b, threads)


def peer_runners(case: Case, x, w, b, threads: int,
                 names=PEERS) -> dict[str, Callable[[], object]]:
    """name -> runner for every peer in ``names`` that is installed and can run ``case``."""
    return {name: peer_runner(name, case, x, w, b, threads) for name in names
            if peer_rejection(name, case) is None}


def peer_output(name: str, case: Case, result) -> np.ndarray:
    """A peer's result as a NumPy array in the case's output layout (for checking a peer
    against the oracle; not needed for timing)."""
    if name == "torch":
        result = result.numpy() if not case.channels_last else result.movedim(1, -1).numpy()
        return np.asarray(result)
    if name == "cv2":
        images = result if isinstance(result, list) else [result]
        y = np.stack(images)[:, None]
    else:
        y = np.asarray(result)
    return np.moveaxis(y, 1, -1) if case.channels_last else y
