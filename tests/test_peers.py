"""The peers the benchmarks compare against compute the same problem as fastconv."""
import pytest

from fastconv import peers
from fastconv.testing import F64, c1, c2, case_rng, make_inputs, normwise_error, oracle

CASES = [
    c2(2, 4, 11, 9, 6, 3, 3, padding=1),
    c2(1, 6, 10, 12, 6, 3, 5, stride=2, padding=(1, 2), dilation=(1, 2), groups=3),
    c2(1, 4, 9, 9, 8, 3, 3, padding=1, layout="NHWC", flip=True),
    c2(2, 1, 16, 15, 1, 7, 5, padding=(3, 2)),
    c2(1, 2, 9, 9, 3, 3, 3, padding=((0, 1), (1, 0))),
    c1(2, 3, 40, 5, 9, padding=4, dilation=2),
    c1(1, 4, 33, 4, 5, layout="NLC", groups=4, stride=2, padding=2),
    c2(1, 3, 8, 8, 2, 3, 3, dtype=F64, bias=False),
]


@pytest.mark.parametrize("name", peers.PEERS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_peer_matches_oracle(name, case):
    reason = peers.peer_rejection(name, case)
    if reason:
        pytest.skip(reason)
    x, w, b = make_inputs(case, case_rng(case))
    run = peers.peer_runner(name, case, x, w, b, threads=1)
    y = peers.peer_output(name, case, run())
    assert y.shape == case.out_shape
    tol = 1e-5 if case.dtype == "float32" else 1e-12
    assert normwise_error(y, oracle(case, x, w, b)) < tol


def test_rejections_name_the_limit():
    assert "asymmetric" in peers.peer_rejection("torch", CASES[4]) or \
        peers.peer_rejection("torch", CASES[4]).endswith("not installed")
    with pytest.raises(ValueError, match="peer must be one of"):
        peers.peer_rejection("mkl", CASES[0])
