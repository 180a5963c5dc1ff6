"""``fastconv.profile()``: where a pipeline's convolution time goes.

    with fastconv.profile() as prof:
        run_my_pipeline()          # every fastconv.conv2d / conv1d call in here is recorded
    # the summary table is printed on exit; prof.calls holds one CallRecord per call

Every call is timed around the kernel (the API's run step: validation and dispatch are not
in it, output allocation neither), and C kernels also report their phases (input transform,
kernel transform, multiply, output transform: NNPACK's nnp_profile) through the fc_profile
struct that fastconv.backends.c attaches to the call's descriptor while a profile is active.
When no profile is active the API pays one global lookup per call and the C descriptors carry
NULL, which the kernels test once per phase.
"""
from __future__ import annotations

import contextlib
import sys
import threading
import time
from typing import Iterator, NamedTuple, Optional

from .problem import ConvProblem

PHASES = ("input_transform", "kernel_transform", "multiply", "output_transform")
PHASE_HEADERS = ("input", "kernel", "multiply", "output")


class CallRecord(NamedTuple):
    problem: ConvProblem
    implementation: str           # "algo:backend"
    seconds: float                # wall time of the kernel call
    phases: Optional[dict]        # seconds per PHASES entry plus "total" (the C kernel's own
                                  # clock), or None when the implementation reports none

    @property
    def gflops(self) -> float:
        return self.problem.flops / self.seconds / 1e9 if self.seconds > 0 else float("inf")


class ProfileSummary:
    """The calls recorded by one ``fastconv.profile()`` block; ``str()`` is a table with one
    row per (problem, implementation): calls, ms per call, GFLOP/s, share of the block's
    convolution time, and the C kernels' phases in ms per call ("other" is the call's wall
    time not inside a phase: marshalling, workspace, unreported work)."""

    def __init__(self):
        self.calls: list[CallRecord] = []
        self._lock = threading.Lock()

    def _add(self, record: CallRecord) -> None:
        with self._lock:
            self.calls.append(record)

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[CallRecord]:
        return iter(list(self.calls))

    @property
    def total_seconds(self) -> float:
        return sum(r.seconds for r in self.calls)

    @property
    def total_flops(self) -> int:
        return sum(r.problem.flops for r in self.calls)

    def rows(self) -> list[dict]:
        """One dict per (problem id, implementation), in order of first call: ``problem``,
        ``implementation``, ``calls``, ``seconds`` (sum), ``gflops`` (over all its calls),
        ``phases`` (seconds summed over calls that reported them, or None)."""
        groups: dict = {}
        for r in list(self.calls):
            g = groups.setdefault((r.problem.id, r.implementation), dict(
                problem=r.problem, implementation=r.implementation, calls=0, seconds=0.0,
                flops=0, phases=None, phase_calls=0))
            g["calls"] += 1
            g["seconds"] += r.seconds
            g["flops"] += r.problem.flops
            if r.phases is not None:
                g["phases"] = {k: (g["phases"] or {}).get(k, 0.0) + r.phases[k]
                               for k in PHASES + ("total",)}
                g["phase_calls"] += 1
        for g in groups.values():
            g["gflops"] = g["flops"] / g["seconds"] / 1e9 if g["seconds"] > 0 else float("inf")
        return list(groups.values())

    def table(self) -> str:
        total = self.total_seconds
        header = ("problem", "implementation", "calls", "ms/call", "GFLOP/s", "share") + \
            PHASE_HEADERS + ("other",)
        lines = []
        for g in self.rows():
            per_call = g["seconds"] / g["calls"]
            row = [g["problem"].id, g["implementation"], str(g["calls"]),
                   f"{per_call * 1e3:.3f}", f"{g['gflops']:.1f}",
                   f"{100 * g['seconds'] / total:.0f}%" if total > 0 else "-"]
            if g["phases"] is None:
                row += ["-"] * (len(PHASES) + 1)
            else:
                n = g["phase_calls"]
                phase_ms = [g["phases"][k] / n * 1e3 for k in PHASES]
                row += [f"{ms:.3f}" for ms in phase_ms]
                row.append(f"{max(per_call * 1e3 - sum(phase_ms), 0.0):.3f}")
            lines.append(row)
        title = (f"fastconv.profile: {len(self.calls)} call(s), {total * 1e3:.3f} ms in "
                 f"kernels, {self.total_flops / max(total, 1e-12) / 1e9:.1f} GFLOP/s overall; "
                 "phases in ms per call")
        return title + "\n" + format_table(header, lines)

    def __str__(self) -> str:
        return self.table()

    def __repr__(self) -> str:
        return f"<ProfileSummary: {len(self.calls)} calls, {self.total_seconds:.6f} s>"


class _Recorder:
    """Receives the API's calls while at least one profile block is open, and adds each
    record to every open block's summary (nested blocks each see their own calls)."""

    def __init__(self):
        self.summaries: list[ProfileSummary] = []

    def record(self, problem: ConvProblem, impl, fn, *args):
        """Run ``fn(*args)`` (the kernel call) timed, with an fc_profile attached to the C
        descriptors it builds when ``impl`` (an Implementation or its name) is a C one."""
        name = impl if isinstance(impl, str) else impl.name
        c_profile, slot = None, contextlib.nullcontext()
        if name.endswith(":c"):
            from .backends import c as c_backend
            c_profile = c_backend.new_profile()
            slot = c_backend.profile_into(c_profile)
        start = time.perf_counter()
        try:
            with slot:
                return fn(*args)
        finally:
            seconds = time.perf_counter() - start
            phases = None
            if c_profile is not None:
                if c_profile.calls > 0:
                    phases = {k: float(getattr(c_profile, k)) for k in PHASES + ("total",)}
            record = CallRecord(problem, name, seconds, phases)
            for summary in list(self.summaries):
                summary._add(record)


# The API's hook: None when no profile block is open (one global load per call).
recorder: Optional[_Recorder] = None
_lock = threading.Lock()


class profile:
    """Record every fastconv convolution made inside a ``with`` block, in any thread.

    Each call's problem id, implementation, wall time and GFLOP/s are recorded, with the
    phases the C kernels report (input transform, kernel transform, multiply, output
    transform; phases run on several threads are shares of the call's wall time). On exit a
    table with one row per (problem, implementation) is printed. Outside a block the cost is
    one global lookup per call.

    Parameters
    ----------
    quiet : bool, optional
        Do not print the table on exit. Default False.
    file : file-like, optional
        Where the table goes. Default ``sys.stdout``.

    Returns
    -------
    ProfileSummary
        From ``__enter__`` (the ``as`` target): ``.calls`` (a list of records with
        ``problem``, ``implementation``, ``seconds``, ``phases`` and ``gflops``),
        ``.total_seconds``, ``.total_flops``, ``.rows()`` and ``.table()``; filled as calls
        happen.

    Examples
    --------
    >>> import numpy as np, fastconv
    >>> x, w = np.random.rand(1, 16, 32, 32), np.random.rand(16, 16, 3, 3)
    >>> with fastconv.profile(quiet=True) as prof:
    ...     y = fastconv.conv2d(x, w, padding=1)
    >>> len(prof.calls)
    1
    """

    def __init__(self, quiet: bool = False, file=None):
        self.quiet = quiet
        self.file = file
        self.summary = ProfileSummary()

    def __enter__(self) -> ProfileSummary:
        global recorder
        with _lock:
            if recorder is None:
                recorder = _Recorder()
            recorder.summaries.append(self.summary)
        return self.summary

    def __exit__(self, *exc) -> None:
        global recorder
        with _lock:
            if recorder is not None:
                recorder.summaries.remove(self.summary)
                if not recorder.summaries:
                    recorder = None
        if not self.quiet:
            print(self.summary, file=self.file or sys.stdout)


def format_table(header, rows) -> str:
    """Left-aligned columns, a rule under the header (the CLI's tables too)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = "  ".join("{:<%d}" % w for w in widths)
    out = [line.format(*header), "  ".join("-" * w for w in widths)]
    out += [line.format(*map(str, row)) for row in rows]
    return "\n".join(out)
