"""The oracle: a slow, obviously correct NumPy float64 convolution.

It follows the definition term by term: zero-pad, then for every kernel tap (r, s) add the
strided input window times that tap's (c_out x c_in) weight matrix, group by group. Every test
compares against it; it is also the last-resort implementation (``reference:numpy``).
"""
from __future__ import annotations

import numpy as np

from . import arguments
from .problem import ConvProblem


def conv_logical(problem: ConvProblem, x, w, bias=None) -> np.ndarray:
    """Float64 output (n, c_out, h_out, w_out) from logical NCHW ``x`` and OIHW ``w``."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    top, bottom, left, right = problem.padding
    xp = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))
    (sh, sw), (dh, dw) = problem.stride, problem.dilation
    ho, wo = problem.h_out, problem.w_out
    cg, kg = problem.c_in_per_group, problem.c_out_per_group
    y = np.zeros(problem.out_shape, dtype=np.float64)
    for g in range(problem.groups):
        xg = xp[:, g * cg:(g + 1) * cg]
        wg = w[g * kg:(g + 1) * kg]
        for r in range(problem.kh):
            for s in range(problem.kw):
                # Input pixels that tap (r, s) meets: rows r*dh + i*sh, columns s*dw + j*sw.
                window = xg[:, :, r * dh: r * dh + sh * (ho - 1) + 1: sh,
                            s * dw: s * dw + sw * (wo - 1) + 1: sw]
                y[:, g * kg:(g + 1) * kg] += np.einsum("nchw,kc->nkhw", window, wg[:, :, r, s])
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return y


def run_problem(problem: ConvProblem, x, w, bias, y) -> None:
    """Registry entry: the oracle as an implementation (computes in float64, stores in y)."""
    y[...] = conv_logical(problem, x, w, bias)


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCHW",
           flip=False) -> np.ndarray:
    """:func:`fastconv.conv2d`'s semantics, computed by the oracle, in float64.

    Slow and obviously correct: zero-pad, then for every kernel tap add the strided input
    window times that tap's weight matrix, group by group, in float64. Every kernel is
    tested against it.

    Parameters
    ----------
    x, weight, bias, stride, padding, dilation, groups, layout, flip
        As :func:`fastconv.conv2d` (validated by the same code, with the same messages).

    Returns
    -------
    numpy.ndarray
        float64, the shape :func:`fastconv.conv2d` returns.

    Raises
    ------
    TypeError, ValueError
        As :func:`fastconv.conv2d`.
    """
    return _oracle(2, x, weight, bias, stride, padding, dilation, groups, layout, flip)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, layout="NCL",
           flip=False) -> np.ndarray:
    """:func:`fastconv.conv1d`'s semantics, computed by the oracle, in float64.

    Parameters
    ----------
    x, weight, bias, stride, padding, dilation, groups, layout, flip
        As :func:`fastconv.conv1d`.

    Returns
    -------
    numpy.ndarray
        float64, the shape :func:`fastconv.conv1d` returns.

    Raises
    ------
    TypeError, ValueError
        As :func:`fastconv.conv1d`.
    """
    return _oracle(1, x, weight, bias, stride, padding, dilation, groups, layout, flip)


def _oracle(spatial_dims, x, weight, bias, stride, padding, dilation, groups, layout, flip):
    # the API's own argument handling (fastconv.arguments) defines the semantics being checked
    call = arguments.prepare(spatial_dims, x, weight, bias, stride, padding, dilation, groups,
                             layout, flip, dtype=np.float64)
    out = np.empty(call.problem.user_out_shape, dtype=np.float64)
    arguments.logical_output(call.problem, out)[...] = conv_logical(call.problem, call.x,
                                                                    call.w, call.bias)
    return out
