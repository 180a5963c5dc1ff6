"""This machine's measured ceilings: float32 FMA peak and streaming memory bandwidth.

The roofline (``fastconv bench --plot``), ``fastconv info`` and the benchmarks' "fraction of
peak" use these rather than datasheet numbers: a VM, a shared host or a throttled CPU runs below
its paper peak, and a fraction of a number the machine never reaches says little. Both come from
small C loops (csrc/machine_peak.c) timed a few times, best kept; together they take well under
a second, and are measured once per process for each (threads, ISA).
"""
from __future__ import annotations

import functools
from dataclasses import asdict, dataclass

import numpy as np

from .backends import c as c_backend
from .machine_params import cpu_model  # noqa: F401  (re-exported: fastconv.machine.cpu_model)
from .threads import get_num_threads


# FMA loop: ~10-20 ms per run at a few GHz (24 flops per cycle-ish x 2e6 iterations x 12
# chains), best of RUNS. Triad: three 64 MiB arrays (beyond the L3 of current desktop and server
# parts per core complex), so the loop streams from memory.
FMA_ITERATIONS = 2_000_000
TRIAD_FLOATS = 1 << 24
RUNS = 5


@dataclass(frozen=True)
class MachinePeak:
    isa: str                 # the ISA the FMA loop ran on (the C kernels' active one)
    threads: int
    fma_gflops: float        # float32 GFLOP/s of independent FMA chains on all threads
    bandwidth_gbs: float     # GB/s (1e9 bytes) of a streaming triad, STREAM byte counting

    @property
    def ridge_point(self) -> float:
        """Arithmetic intensity (flop/byte) where the roofline's two ceilings meet."""
        return self.fma_gflops / self.bandwidth_gbs

    def roof(self, intensity: float) -> float:
        """Attainable GFLOP/s at ``intensity`` flop/byte: min(peak, bandwidth x intensity)."""
        return min(self.fma_gflops, self.bandwidth_gbs * intensity)

    def as_dict(self) -> dict:
        return asdict(self)


def fma_peak_gflops(threads: int, isa: str, iterations: int = FMA_ITERATIONS,
                    runs: int = RUNS) -> float:
    """Best float32 GFLOP/s of the FMA loop on ``threads`` threads with ``isa``'s vectors."""
    ffi, lib = c_backend._native()
    flops, seconds = ffi.new("double *"), ffi.new("double *")
    best = 0.0
    for _ in range(runs):
        c_backend.check_status(lib.fc_f32_fma_peak(c_backend.ISA_NAMES.index(isa), iterations,
                                                   threads, flops, seconds), "fma_peak")
        best = max(best, flops[0] / seconds[0] / 1e9)
    return best


def triad_bandwidth_gbs(threads: int, n: int = TRIAD_FLOATS, runs: int = RUNS) -> float:
    """Best GB/s of the streaming triad over three arrays of ``n`` float32."""
    ffi, lib = c_backend._native()
    b = np.ones(n, np.float32)
    c = np.ones(n, np.float32)
    a = np.zeros(n, np.float32)  # np.zeros maps untouched pages: the untimed pass faults them in
    nbytes, seconds = ffi.new("double *"), ffi.new("double *")
    args = (c_backend.pointer(a), c_backend.pointer(b), c_backend.pointer(c), n)
    c_backend.check_status(lib.fc_f32_stream_triad(*args, 1, threads, nbytes, seconds), "triad")
    best = 0.0
    for _ in range(runs):
        c_backend.check_status(lib.fc_f32_stream_triad(*args, 1, threads, nbytes, seconds),
                               "triad")
        best = max(best, nbytes[0] / seconds[0] / 1e9)
    return best


def peak(threads: int | None = None) -> MachinePeak:
    """The measured ceilings for ``threads`` (default: fastconv's thread count) on the C
    kernels' active ISA, measured on the first call and remembered for the process."""
    threads = get_num_threads() if threads is None else int(threads)
    return _measure(threads, c_backend.active_isa())


@functools.cache
def _measure(threads: int, isa: str) -> MachinePeak:
    return MachinePeak(isa=isa, threads=threads, fma_gflops=fma_peak_gflops(threads, isa),
                       bandwidth_gbs=triad_bandwidth_gbs(threads))
