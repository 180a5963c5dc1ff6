"""Known calls: a repeated call with the same signature skips validation, dispatch and the
backend's set-up.

Validating arguments, choosing an implementation and building a C descriptor cost tens of
microseconds of Python per call, more than a small layer's kernel. What they produce depends
only on the call's *signature*: the arrays' shapes, strides and dtypes (x, weight, bias, out),
the other arguments with their types (``stride=True`` is invalid where ``stride=1`` is not,
though ``True == 1``), the thread count, and ``dispatch.generation`` (bumped whenever the
dispatcher forgets its choices: FASTCONV_ALGO / FASTCONV_BACKEND, a measured plan, the
workspace limit, the ISA cap). conv2d / conv1d (fastconv.api) and ConvPlan (fastconv.plan) map
the signatures of calls that passed validation to a :class:`KnownCall`.

A KnownCall holds the problem, the rules that turn the user's arrays into kernel operands
(layout views, flip, dtype copies: fixed by the signature) and a runner the implementation bound
to operands of those strides (``Implementation.bound``). What depends on the data and not the
signature is checked per call: the alignment of operands passed through uncopied, and that
``out`` is writeable and clear of the inputs. When a check fails the KnownCall answers None and
the caller takes the full path, which copies, or raises the error the user should see.
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

from .arguments import _logical_input, _logical_weight, logical_output
from .problem import ConvProblem

KNOWN_CALLS_MAX = 1024  # signatures remembered per table (the table is emptied when full)
_PLAIN_TYPES = frozenset((int, str, bool, type(None)))


def value_key(v):
    """A hashable key for an argument that distinguishes types, or None when the argument is
    not a plain value (int, str, bool, None, or tuples of them)."""
    t = type(v)
    if t is int or t is str or t is bool or v is None:
        return (t, v)
    if t is tuple:
        parts = tuple(value_key(e) for e in v)
        return None if None in parts else (t, parts)
    return None


def values_key(values: tuple):
    """The key of a call's non-array arguments: the values and their types when all are plain
    scalars (the common case, a few hundred nanoseconds), else ``value_key`` of each; None when
    one is not a plain value (a list, a NumPy scalar: validated every time)."""
    types = tuple(map(type, values))
    if _PLAIN_TYPES.issuperset(types):
        return values, types
    keys = tuple(map(value_key, values))
    return None if None in keys else keys


def array_key(a):
    """(shape, strides, dtype) of a NumPy array; () for None; None for anything else."""
    if type(a) is np.ndarray:
        return a.shape, a.strides, a.dtype
    return () if a is None else None


def _passes(a: np.ndarray, dtype: np.dtype) -> bool:
    """Whether ``a`` reaches kernels uncopied when aligned (arguments._kernel_operand): the
    compute dtype, strides in whole elements."""
    return a.dtype == dtype and all(s % dtype.itemsize == 0 for s in a.strides)


class KnownCall:
    """What one validated signature needs per call; ``known(x, weight, bias, out)`` runs it and
    returns the result, or None when this call's data fails a check the signature cannot
    settle (the caller then takes the full path)."""

    __slots__ = ("problem", "_bind", "_run", "_dtype", "_shape", "_x_view", "_w_view",
                 "_y_view", "_x_pass", "_w_pass", "_b_pass", "_out_pass", "_plain")

    def __init__(self, problem: ConvProblem, bind: Callable, x: np.ndarray,
                 weight: Optional[np.ndarray], bias: Optional[np.ndarray],
                 out: Optional[np.ndarray]):
        """``bind(x4, w4, b4, y)`` returns ``run(x4, w4, b4, y)`` for kernel operands with the
        strides of these (``Implementation.bound``); it is called on the first run. ``x``,
        ``weight``, ``bias``, ``out``: arrays of the signature (weight None: a plan's prepared
        weights); only their dtypes and strides are used, none is kept."""
        self.problem, self._bind, self._run = problem, bind, None
        layout, flip = problem.layout, problem.flip
        self._dtype = dtype = problem.np_dtype
        self._shape = problem.user_out_shape
        self._x_view = None if layout == "NCHW" else (lambda a: _logical_input(a, layout))
        if flip:
            self._w_view = lambda a: _logical_weight(a, layout)[:, :, ::-1, ::-1]
        else:
            self._w_view = None if layout == "NCHW" else (lambda a: _logical_weight(a, layout))
        self._y_view = None if layout == "NCHW" else (lambda a: logical_output(problem, a))
        self._x_pass = _passes(x if self._x_view is None else self._x_view(x), dtype)
        self._w_pass = weight is not None and _passes(
            weight if self._w_view is None else self._w_view(weight), dtype)
        self._b_pass = bias is not None and _passes(bias, dtype)
        self._out_pass = out is not None and _passes(out, dtype)
        # the common case: NCHW, no flip, every operand passed through, a new output
        self._plain = (layout == "NCHW" and not flip and self._x_pass and out is None
                       and (weight is None or self._w_pass) and (bias is None or self._b_pass))

    def _bound(self, x4, w4, b4, y):
        run = self._run = self._bind(x4, w4, b4, y)
        return run

    def __call__(self, x, weight, bias, out):
        if self._plain:
            if not x.flags.aligned or (weight is not None and not weight.flags.aligned) \
                    or (bias is not None and not bias.flags.aligned):
                return None
            result = np.empty(self._shape, self._dtype)
            (self._run or self._bound(x, weight, bias, result))(x, weight, bias, result)
            return result
        dtype = self._dtype
        x4 = x if self._x_view is None else self._x_view(x)
        if self._x_pass:
            if not x4.flags.aligned:
                return None
        else:
            x4 = np.array(x4, dtype=dtype, order="C")
        w4 = weight
        if weight is not None:
            if self._w_view is not None:
                w4 = self._w_view(weight)
            if self._w_pass:
                if not w4.flags.aligned:
                    return None
            else:
                w4 = np.array(w4, dtype=dtype, order="C")
        b4 = bias
        if bias is not None:
            if self._b_pass:
                if not bias.flags.aligned:
                    return None
            else:
                b4 = np.array(bias, dtype=dtype, order="C")
        if out is None:
            result = np.empty(self._shape, dtype)
        else:
            # anything unusual (strides kernels cannot take, misaligned, read-only, possibly
            # overlapping an input) goes the full way, which copies back or raises
            if not (self._out_pass and out.flags.aligned and out.flags.writeable):
                return None
            for a in (x, weight, bias):
                if a is not None and np.may_share_memory(out, a):
                    return None
            result = out
        y = result if self._y_view is None else self._y_view(result)
        (self._run or self._bound(x4, w4, b4, y))(x4, w4, b4, y)
        return result


def remember(table: dict, key, known: KnownCall) -> None:
    """``table[key] = known``, emptying the table first when it is full."""
    if len(table) >= KNOWN_CALLS_MAX:
        table.clear()
    table[key] = known
