"""fastconv.torch.Conv2d / Conv1d as drop-in replacements for torch.nn.Conv2d / Conv1d, and the
digits training example's quick variant."""
import importlib.util
import pathlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")
ft = pytest.importorskip("fastconv.torch")

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "train_digits.py"

CONV2D_ARGS = [
    {"in_channels": 3, "out_channels": 4, "kernel_size": 3},
    {"in_channels": 4, "out_channels": 6, "kernel_size": (3, 2), "stride": 2, "padding": 1,
     "groups": 2},
    {"in_channels": 4, "out_channels": 4, "kernel_size": 3, "padding": "same", "dilation": 2,
     "groups": 4},
    {"in_channels": 3, "out_channels": 5, "kernel_size": 2, "padding": "valid", "bias": False},
    {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "padding": (2, 1),
     "padding_mode": "reflect"},
    {"in_channels": 2, "out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1,
     "padding_mode": "replicate"},
    {"in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": 1,
     "padding_mode": "circular", "groups": 2},
]
CONV1D_ARGS = [
    {"in_channels": 3, "out_channels": 4, "kernel_size": 5, "stride": 2, "padding": 2},
    {"in_channels": 4, "out_channels": 8, "kernel_size": 3, "padding": "same", "dilation": 3,
     "groups": 4},
    {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "padding": 1,
     "padding_mode": "reflect", "bias": False},
]


def pair(ours_cls, theirs_cls, args):
    """The same layer twice, ours loaded from torch's state_dict, in float64."""
    torch.manual_seed(0)
    theirs = theirs_cls(**args).double()
    ours = ours_cls(**args).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def check_forward_backward(ours, theirs, x):
    xa = x.clone().requires_grad_()
    xb = x.clone().requires_grad_()
    ya, yb = ours(xa), theirs(xb)
    assert ya.shape == yb.shape
    torch.testing.assert_close(ya, yb, rtol=1e-10, atol=1e-10)
    dy = torch.randn_like(yb)
    ya.backward(dy)
    yb.backward(dy)
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-10, atol=1e-10)
    for (name, pa), pb in zip(ours.named_parameters(), theirs.parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-10, atol=1e-10, msg=name)


@pytest.mark.parametrize("args", CONV2D_ARGS, ids=str)
def test_conv2d_matches_nn_conv2d(args):
    ours, theirs = pair(ft.Conv2d, torch.nn.Conv2d, args)
    x = torch.randn(2, args["in_channels"], 9, 8, dtype=torch.float64)
    check_forward_backward(ours, theirs, x)


@pytest.mark.parametrize("args", CONV1D_ARGS, ids=str)
def test_conv1d_matches_nn_conv1d(args):
    ours, theirs = pair(ft.Conv1d, torch.nn.Conv1d, args)
    x = torch.randn(2, args["in_channels"], 17, dtype=torch.float64)
    check_forward_backward(ours, theirs, x)


def test_unbatched_and_strided_inputs():
    ours, theirs = pair(ft.Conv2d, torch.nn.Conv2d, CONV2D_ARGS[1])
    check_forward_backward(ours, theirs, torch.randn(4, 9, 8, dtype=torch.float64))
    wide = torch.randn(2, 8, 9, 16, dtype=torch.float64)
    check_forward_backward(ours, theirs, wide[:, ::2, :, ::2])  # channel and column strides


def test_drop_in_module_contract():
    """Same class hierarchy, constructor, parameter init, state_dict keys and repr."""
    torch.manual_seed(1)
    theirs = torch.nn.Conv2d(3, 8, 3, stride=2, padding=1)
    torch.manual_seed(1)
    ours = ft.Conv2d(3, 8, 3, stride=2, padding=1)
    assert isinstance(ours, torch.nn.Conv2d)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value)  # same initialisation
    assert repr(ours) == repr(theirs)
    theirs.load_state_dict(ours.state_dict())              # and back
    assert isinstance(ft.Conv1d(2, 2, 3), torch.nn.Conv1d)


def test_float32_and_grad_flags():
    torch.manual_seed(2)
    ours = ft.Conv2d(3, 4, 3, padding=1)
    theirs = torch.nn.Conv2d(3, 4, 3, padding=1)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 3, 7, 7)  # no requires_grad: only the weight gradients are computed
    ya, yb = ours(x), theirs(x)
    assert ya.dtype == torch.float32
    torch.testing.assert_close(ya, yb, rtol=1e-5, atol=1e-5)
    ya.square().sum().backward()
    yb.square().sum().backward()
    torch.testing.assert_close(ours.weight.grad, theirs.weight.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(ours.bias.grad, theirs.bias.grad, rtol=1e-4, atol=1e-4)


def test_unsupported_tensors_are_refused_clearly():
    layer = ft.Conv2d(1, 1, 3)
    with pytest.raises(TypeError, match="float16"):
        layer.half()(torch.zeros(1, 1, 5, 5, dtype=torch.float16))
    with pytest.raises(NotImplementedError, match="CPU tensors"):
        ft.conv2d(torch.zeros(1, 1, 5, 5, device="meta"), torch.zeros(1, 1, 3, 3))


def test_train_digits_quick():
    """The example's CI variant: both models learn, and ours follows torch's trajectory (same
    start, same batches) to the same accuracy."""
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("train_digits", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    results = example.main(["--quick", "--threads", "1"])
    ours, theirs = results["fastconv.torch.Conv2d"], results["torch.nn.Conv2d"]
    assert ours["accuracy"] >= 0.9
    assert abs(ours["accuracy"] - theirs["accuracy"]) <= 0.02
    assert np.isclose(ours["loss"], theirs["loss"], rtol=0.05, atol=0.01)
