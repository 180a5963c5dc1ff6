"""Scratch memory for the C kernels: Python owns it, sizes it and bounds it.

C kernels never allocate. They answer a size query (e.g. ``fc_f32_conv2d_im2col_workspace_size``
given the budget below) and take a buffer from here. The budget bounds what one call may use
for scratch (im2col lowers its patch matrix in blocks of output rows to stay under it); the
GEMM packing buffers (a few MiB at most) are always granted.

The budget defaults to a fraction of physical memory: RAM / 16, at least 256 MiB and at most
4 GiB (1.5 GiB on a 24 GiB machine), so a large layer does not push a user's process into swap.
``FASTCONV_WORKSPACE_LIMIT`` overrides it at import: a plain
number is MiB (``FASTCONV_WORKSPACE_LIMIT=64``), or give a unit: ``512K``, ``64M``, ``1G``,
``1048576B``. ``set_workspace_limit(nbytes)`` changes it at run time (in bytes).
"""
from __future__ import annotations

import numbers
import os
import re
import threading

import numpy as np



def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not POSIX, or the value is unknown
        return None


MIN_DEFAULT_LIMIT = 256 * 2**20
MAX_DEFAULT_LIMIT = 4 * 2**30
DEFAULT_LIMIT = min(MAX_DEFAULT_LIMIT, max(MIN_DEFAULT_LIMIT, (_physical_memory() or 0) // 16))
ALIGNMENT = 64
SCRATCH_KEEP = 64 * 2**20  # most bytes a thread keeps cached between calls
_UNITS = {"": 2**20, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30}

_limit: int | None = None
_local = threading.local()


def _parse_limit(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([BKMG]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise ValueError(f"FASTCONV_WORKSPACE_LIMIT must be a size such as 256 (MiB), 64M, 1G "
                         f"or 1048576B; got {text!r}")
    return int(m.group(1)) * _UNITS[m.group(2)]


def get_workspace_limit() -> int:
    """Bytes of scratch memory one kernel call may use.

    Returns
    -------
    int
        The last :func:`set_workspace_limit`; else ``FASTCONV_WORKSPACE_LIMIT`` (a plain
        number is MiB; or with a unit: ``512K``, ``64M``, ``1G``, ``1048576B``); else
        RAM / 16, at least 256 MiB and at most 4 GiB.

    Raises
    ------
    ValueError
        ``FASTCONV_WORKSPACE_LIMIT`` is not a size.
    """
    global _limit
    if _limit is None:
        env = os.environ.get("FASTCONV_WORKSPACE_LIMIT", "").strip()
        _limit = _parse_limit(env) if env else DEFAULT_LIMIT
    return _limit


def set_workspace_limit(nbytes) -> None:
    """Set the scratch memory one kernel call may use.

    Kernels that need more cut their work into blocks that fit (im2col:c, direct:c's
    blocked kernel); a budget below a kernel's minimum still grants that minimum (one output
    row of im2col). Kernels whose memory cannot be cut (fft:c's kernel spectra, winograd:c's
    kernel transform) are not chosen by ``algo="auto"`` when they would need more, and raise
    :class:`MemoryError` before allocating when asked for explicitly. Choices the dispatcher
    remembered under the old limit are forgotten.

    Parameters
    ----------
    nbytes : int or None
        Bytes, >= 0; None restores the default (``FASTCONV_WORKSPACE_LIMIT``, else RAM / 16
        within 256 MiB .. 4 GiB).

    Raises
    ------
    TypeError
        ``nbytes`` is not an int (or None).
    ValueError
        ``nbytes`` < 0.
    """
    global _limit
    if nbytes is None:
        _limit = None
        _forget_choices()
        return
    if isinstance(nbytes, bool) or not isinstance(nbytes, numbers.Integral):
        raise TypeError(f"set_workspace_limit: nbytes must be an int, got "
                        f"{type(nbytes).__name__}")
    if nbytes < 0:
        raise ValueError(f"set_workspace_limit: nbytes must be >= 0, got {nbytes}")
    _limit = int(nbytes)
    _local.__dict__.pop("buf", None)  # drop a cached buffer above the new budget
    _forget_choices()


# Which implementations accept a problem depends on the budget (over_limit), so choices made
# under the old budget must be forgotten when it changes. The layers above that remember
# choices (fastconv.dispatch) register a callback here; this module imports nothing above it.
_limit_listeners: list = []


def on_limit_change(callback) -> None:
    """Call ``callback()`` (no arguments) whenever the workspace limit changes."""
    if callback not in _limit_listeners:
        _limit_listeners.append(callback)


def _forget_choices() -> None:
    for callback in _limit_listeners:
        callback()


class OverLimit(str):
    """A rejection reason that is the workspace limit: when every implementation a request
    allows is rejected for it, the dispatcher raises MemoryError (before allocating) instead
    of NotImplementedError."""


def over_limit(nbytes: int, what: str) -> "OverLimit | None":
    """Why a kernel whose memory cannot be cut into blocks (fft's spectra, winograd's kernel
    transform, with their workspaces) must not run: ``nbytes`` over the budget; else None."""
    limit = get_workspace_limit()
    if nbytes <= limit:
        return None
    return OverLimit(f"{what} would take {nbytes / 2**20:.1f} MiB, over the workspace limit of "
                     f"{limit / 2**20:.1f} MiB (fastconv.set_workspace_limit, "
                     f"FASTCONV_WORKSPACE_LIMIT)")


def aligned_empty(nbytes: int, alignment: int = ALIGNMENT) -> np.ndarray:
    """An uninitialised uint8 array of ``nbytes`` whose data starts on an ``alignment``-byte
    boundary. MemoryError names the size when it cannot be had."""
    nbytes = int(nbytes)
    try:
        raw = np.empty(nbytes + alignment, dtype=np.uint8)
    except (MemoryError, ValueError):
        raise MemoryError(f"fastconv: cannot allocate a {nbytes / 2**20:.1f} MiB workspace "
                          f"({nbytes} bytes)") from None
    start = -raw.ctypes.data % alignment
    return raw[start:start + nbytes]


def scratch(nbytes: int) -> np.ndarray:
    """An aligned buffer of at least ``nbytes`` for one kernel call on this thread.

    The buffer is kept and reused by the next call on the same thread (fresh pages cost a
    page fault each, ~0.1 ms per MiB), as long as it is within the budget and at most
    SCRATCH_KEEP (64 MiB) is held; larger requests get a one-off buffer. Valid until the next
    ``scratch`` call on this thread."""
    nbytes = int(nbytes)
    buf = getattr(_local, "buf", None)
    if buf is not None and buf.nbytes >= nbytes:
        return buf
    new = aligned_empty(nbytes)
    if nbytes <= min(get_workspace_limit(), SCRATCH_KEEP):
        _local.buf = new
    return new


def scratch_arrays(dtype, *sizes: int) -> list[np.ndarray]:
    """Uninitialised arrays of ``dtype`` with these element counts, each 64-byte aligned, carved
    from one ``scratch`` buffer of this thread (valid until its next scratch call): one
    allocation, reused between calls, for a kernel that needs several buffers at once."""
    item = np.dtype(dtype).itemsize
    spans = [-(-n * item // ALIGNMENT) * ALIGNMENT for n in sizes]
    buf = scratch(max(1, sum(spans)))
    out, start = [], 0
    for n, span in zip(sizes, spans):
        out.append(buf[start:start + n * item].view(dtype))
        start += span
    return out
