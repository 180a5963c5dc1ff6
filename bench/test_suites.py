"""Every implementation and peer on every layer of the named model tables, as pytest-benchmark
benchmarks grouped by problem, so that ``pytest-benchmark compare`` and the grouped table show
fastconv next to torch, onnxruntime, scipy and OpenCV on the same layer.

extra_info of each benchmark: problem id, implementation, kind (fastconv / peer), flops,
min_bytes, GFLOP/s of the fastest round and its fraction of this machine's measured FMA peak
(fastconv.machine). The first call (JIT compilation, planning, page faults) is never timed.
"""
import pytest

from fastconv.cli import fastconv_runner
from fastconv.peers import PEERS, peer_rejection, peer_runner
from fastconv.registry import BY_NAME
from fastconv.testing import case_rng, make_inputs


def test_conv(benchmark, case, contender, threads, peak):
    problem = case.problem
    x, w, b = make_inputs(case, case_rng(case))
    if contender in PEERS:
        reason = peer_rejection(contender, case)
        if reason:
            pytest.skip(reason)
        run = peer_runner(contender, case, x, w, b, threads)
    else:
        impl = BY_NAME[contender]
        reason = impl.rejection(problem)
        if reason:
            pytest.skip(reason)
        run = fastconv_runner(case, impl, x, w, b)
    run()  # untimed first call
    benchmark.group = case.id
    benchmark.extra_info.update(problem=problem.id, implementation=contender,
                                kind="peer" if contender in PEERS else "fastconv",
                                flops=problem.flops, min_bytes=problem.min_bytes,
                                threads=threads)
    benchmark(run)
    if benchmark.stats is not None:  # None under --benchmark-disable
        best = benchmark.stats.stats.min
        gflops = problem.flops / best / 1e9
        benchmark.extra_info["gflops"] = gflops
        if peak is not None:
            benchmark.extra_info["peak_fraction"] = gflops / peak.fma_gflops
