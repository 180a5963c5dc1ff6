"""Per-call latency where a convolution is really used: after idle gaps and beside a busy core.

    python bench/bench_latency.py                  # every layer, every situation (~3 minutes)
    python bench/bench_latency.py --quick          # fewer calls per situation
    python bench/bench_latency.py --layers res2.3x3,dw --situations back,gap25,busy

Benchmarks call a kernel back to back on an idle machine; a video pipeline or a server leaves
the CPU idle between calls, and a shared machine has other processes on some cores. A parallel
loop that splits its work statically and ends at a barrier lasts as long as its latest thread:
one that sleeps (a vCPU woken by the host) or lost its core to another process. This script
times each library in the situations where that shows:

- ``back``: calls back to back (the usual benchmark), after 0.3 s of untimed calls;
- ``gapN``: ``time.sleep(N ms)`` before each call (only the call is timed);
- ``busy``: a busy loop at higher priority (``nice -n -10``, needs root) pinned to the last
  CPU, so one of the library's threads loses its core (0.3 s of untimed calls once it runs);
  without root it runs at nice 0 and the table says so.

Contenders, each in turn in one process with the same thread count (--threads, default 2):
fastconv (a ConvPlan with its weights, the dispatcher's choice unless the layer names one),
torch.nn.functional.conv2d, and onnxruntime with its worker spinning on (its default) and off;
and "fastconv 1t", fastconv on one thread: the floor a parallel loop that never waits for a
late thread cannot fall below, and what an idle gap costs a single thread by itself (on a
virtual machine a call after 25 ms idle runs 1.5-1.7x slower than back to back even on one
thread: the vCPU comes back with cold caches).
After each contender the script sleeps ``--settle`` seconds so that spinning pools go quiet
before the next one is timed.

Per situation: median and 90th-percentile milliseconds per call, and the process's CPU time
per wall second over the whole situation (sleeps included: 2.0 means both cores were busy the
whole time). ``idle CPU`` is the process's CPU per wall second over one second that starts
100 ms after the contender's last call: what the library burns while nothing runs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np

import fastconv
from fastconv.peers import peer_rejection, peer_runner
from fastconv.testing import c2, make_inputs

# The layers of the latency table: (short name, case, fastconv algo or "auto").
LAYERS = (
    ("res2.3x3", c2(1, 64, 56, 56, 64, 3, 3, padding=1, name="resnet50.res2.3x3"), "auto"),
    ("1x1.14x14", c2(1, 256, 14, 14, 1024, 1, 1, name="resnet50.res4.1x1_expand"), "auto"),
    ("stem7x7", c2(1, 3, 224, 224, 64, 7, 7, stride=2, padding=3, name="resnet50.conv1"), "auto"),
    ("dw", c2(1, 32, 112, 112, 32, 3, 3, padding=1, groups=32, name="mobilenet_v2.b1.dw"),
     "auto"),
    ("winograd", c2(1, 128, 28, 28, 128, 3, 3, padding=1, name="resnet50.res3.3x3"),
     "winograd"),
)
# A ResNet-50 bottleneck block (res2): 1x1 256->64, 3x3 64->64, 1x1 64->256, as one call each.
BLOCK = (
    c2(1, 256, 56, 56, 64, 1, 1, name="resnet50.res2.1x1_reduce"),
    c2(1, 64, 56, 56, 64, 3, 3, padding=1, name="resnet50.res2.3x3"),
    c2(1, 64, 56, 56, 256, 1, 1, name="resnet50.res2.1x1_expand"),
)
SITUATIONS = ("back", "gap5", "gap25", "gap100", "busy")
CONTENDERS = ("fastconv", "fastconv 1t", "torch", "ort spin on", "ort spin off")


def fastconv_call(cases, algo):
    calls = []
    for case in cases:
        x, w, b = make_inputs(case, np.random.default_rng(0))
        p = fastconv.plan(case.x_shape, case.weight_shape, weight=w, algo=algo, **case.kwargs)
        calls.append((p, x, b))

    def run():
        for p, x, b in calls:
            p(x, bias=b)
    return run


def peer_call(name, cases, threads):
    runners = []
    for case in cases:
        peer = "onnxruntime" if name.startswith("ort") else name
        if peer_rejection(peer, case):
            return None
        x, w, b = make_inputs(case, np.random.default_rng(0))
        runners.append(peer_runner(peer, case, x, w, b, threads,
                                   ort_spinning=name == "ort spin on"))

    def run():
        for r in runners:
            r()
    return run


class BusyCore:
    """A busy loop pinned to the last CPU, at nice -10 when the process may raise priority."""

    def __init__(self):
        self.cpu = os.cpu_count() - 1
        self.elevated = os.geteuid() == 0
        self.proc = None

    def __enter__(self):
        loop = [sys.executable, "-c", "while True: pass"]
        cmd = (["nice", "-n", "-10"] if self.elevated else []) + loop
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(self.cpu)] + cmd
        self.proc = subprocess.Popen(cmd)
        time.sleep(0.3)  # let it start and take its core
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


def time_situation(run, situation, calls):
    """(per-call seconds, process CPU seconds per wall second) for one situation."""
    gap = float(situation[3:]) / 1e3 if situation.startswith("gap") else 0.0
    times = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(calls):
        if gap:
            time.sleep(gap)
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    return times, cpu


def warm_up(run, seconds=0.3):
    """Calls for `seconds` first: back to back means the steady state (threads awake and
    settled on their cores), not the first calls after whatever came before."""
    end = time.perf_counter() + seconds
    run()
    while time.perf_counter() < end:
        run()


def idle_cpu(after=0.1, window=1.0):
    time.sleep(after)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(window)
    return (time.process_time() - cpu0) / (time.perf_counter() - wall0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="fewer calls per situation")
    ap.add_argument("--layers", default="all",
                    help="comma-separated short names of LAYERS and 'block', or all")
    ap.add_argument("--situations", default=",".join(SITUATIONS))
    ap.add_argument("--contenders", default=",".join(CONTENDERS))
    ap.add_argument("--settle", type=float, default=1.0,
                    help="seconds of sleep after each contender (spinning pools go quiet)")
    args = ap.parse_args(argv)

    layers = {name: ((case,), algo) for name, case, algo in LAYERS}
    layers["block"] = (BLOCK, "auto")
    chosen = list(layers) if args.layers == "all" else args.layers.split(",")
    situations = args.situations.split(",")
    contenders = args.contenders.split(",")
    calls = {"back": 15 if args.quick else 40, "busy": 10 if args.quick else 25}
    gap_calls = 10 if args.quick else 25

    fastconv.set_num_threads(args.threads)
    busy = BusyCore()
    from fastconv import machine
    print(f"CPU: {machine.cpu_model()}, {os.cpu_count()} logical CPUs; "
          f"fastconv {fastconv.__version__} (C ISA {fastconv.backends.c.active_isa()}), "
          f"{args.threads} threads for every library; busy core: CPU {busy.cpu}, "
          f"{'nice -10' if busy.elevated else 'nice 0 (not root)'}")
    print("per call: median / p90 ms; cpu: process CPU seconds per wall second\n")
    head = f"{'layer':<10} {'contender':<13} " + " ".join(
        f"{s:>17}" for s in situations) + f" {'idle CPU':>9}"
    print(head)
    print("-" * len(head))
    for name in chosen:
        cases, algo = layers[name]
        for who in contenders:
            fastconv.set_num_threads(1 if who == "fastconv 1t" else args.threads)
            if who.startswith("fastconv"):
                run = fastconv_call(cases, algo)
            else:
                run = peer_call(who, cases, args.threads)
                if run is None:
                    continue
            cells = []
            for situation in situations:
                n = calls.get(situation, gap_calls)
                if situation == "busy":
                    with busy:
                        warm_up(run)
                        times, cpu = time_situation(run, situation, n)
                else:
                    if situation == "back":
                        warm_up(run)
                    times, cpu = time_situation(run, situation, n)
                cells.append(f"{statistics.median(times) * 1e3:6.2f}/"
                             f"{np.percentile(times, 90) * 1e3:6.2f} {cpu:3.1f}")
            idle = idle_cpu()
            print(f"{name:<10} {who:<13} " + " ".join(f"{c:>17}" for c in cells)
                  + f" {idle:9.2f}", flush=True)
            del run
            fastconv.set_num_threads(args.threads)
            time.sleep(args.settle)


if __name__ == "__main__":
    main()
