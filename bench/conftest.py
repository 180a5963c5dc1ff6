"""pytest-benchmark suites: options and parametrisation (see bench/test_suites.py).

    pytest bench/ --benchmark-only --bench-suite resnet50 [--bench-threads 2]
        [--bench-impl im2col:c fft:c] [--bench-peers torch,scipy]

Parametrised here rather than in the test module so that the options choose the parameters.
The default ``pytest`` (testpaths = tests) never collects this directory.
"""
import pytest

from fastconv import get_num_threads, implementations, machine, set_num_threads
from fastconv.backends import c as c_backend
from fastconv.cli import resolve_suites
from fastconv.peers import PEERS


def pytest_addoption(parser):
    group = parser.getgroup("fastconv benchmark suites")
    group.addoption("--bench-suite", default="all",
                    help="suite(s), comma-separated (quick, resnet50, vgg16, mobilenet_v2, "
                    "convnext_dw, large_kernel, audio, image_filter, smoke) or all (default)")
    group.addoption("--bench-impl", nargs="+", default=None, metavar="ALGO:BACKEND",
                    help="only these implementations (default: every available one)")
    group.addoption("--bench-peers", default="all",
                    help=f"peers, comma-separated ({', '.join(PEERS)}), all or none")
    group.addoption("--bench-threads", type=int, default=None,
                    help="threads for fastconv and the peers (default: fastconv's)")


def _contenders(config):
    names = config.getoption("--bench-impl")
    impls = [i.name for i in implementations() if i.available and i.backend != "numpy"
             and (names is None or i.name in names)]
    spec = config.getoption("--bench-peers")
    peers = list(PEERS) if spec == "all" else [p for p in spec.split(",") if p in PEERS]
    return impls, peers


def pytest_generate_tests(metafunc):
    if not {"case", "contender"} <= set(metafunc.fixturenames):
        return
    impls, peers = _contenders(metafunc.config)
    params = []
    for suite, cases in resolve_suites(metafunc.config.getoption("--bench-suite")).items():
        for case in cases:
            for name in impls + peers:
                params.append(pytest.param(case, name, id=f"{suite}-{case.id}-{name}"))
    metafunc.parametrize(("case", "contender"), params)


@pytest.fixture(scope="session")
def threads(pytestconfig):
    n = pytestconfig.getoption("--bench-threads")
    if n:
        set_num_threads(n)
    return get_num_threads()


@pytest.fixture(scope="session")
def peak(threads):
    """This machine's measured FMA peak and bandwidth (None without the C extension)."""
    return None if c_backend.unavailable_reason() else machine.peak(threads)
