"""PyTorch integration: autograd functions and drop-in ``Conv2d`` / ``Conv1d`` modules.

Importable only when torch is installed (``pip install "fastconv[torch]"``).

``fastconv.torch.Conv2d`` *is* a ``torch.nn.Conv2d`` (a subclass that only replaces the
convolution call), so it takes nn.Conv2d's constructor arguments, initialises its parameters
the same way, has the same state_dict keys and passes ``isinstance(m, nn.Conv2d)``: a model can
swap one for the other and load the other's checkpoints. Forward runs fastconv.conv2d, backward
fastconv.grad's gradients, on CPU tensors of float32 or float64 (the tensors' memory is shared
with NumPy, not copied). Padding modes 'zeros', 'reflect', 'replicate' and 'circular' all work
('zeros' inside the kernels, the others by torch's own padding first, as nn.Conv2d does).
"""
from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from . import api, grad

__all__ = ["Conv1d", "Conv2d", "conv1d", "conv2d"]

_DTYPES = (torch.float32, torch.float64)
_GRADIENTS = {1: (grad.conv1d_grad_input, grad.conv1d_grad_weight),
              2: (grad.conv2d_grad_input, grad.conv2d_grad_weight)}


def _as_numpy(t: torch.Tensor, name: str) -> np.ndarray:
    """The tensor's memory as a NumPy array (no copy for CPU float tensors)."""
    if t.device.type != "cpu":
        raise NotImplementedError(f"fastconv.torch: {name} is on {t.device}; only CPU tensors "
                                  "are supported (use torch.nn's convolutions on the GPU)")
    if t.dtype not in _DTYPES:
        raise TypeError(f"fastconv.torch: {name} has dtype {t.dtype}; fastconv computes in "
                        "float32 or float64")
    return t.detach().resolve_conj().resolve_neg().numpy()


def _batch_view(a: np.ndarray) -> np.ndarray:
    """Autograd hands gradients that may be expanded (zero strides, e.g. from ``y.sum()``);
    kernels read each element once per use, so a broadcast view is materialised first."""
    return np.ascontiguousarray(a) if 0 in a.strides else a


class _Convolution(torch.autograd.Function):
    """conv1d/conv2d with fastconv's forward and gradients (torch's functional semantics,
    'zeros' padding; ``padding`` may be an int, per-dimension ints, 'valid' or 'same')."""

    @staticmethod
    def forward(ctx, x, weight, bias, spatial_dims, stride, padding, dilation, groups):
        conv = api.conv2d if spatial_dims == 2 else api.conv1d
        b = None if bias is None else _as_numpy(bias, "bias")
        y = conv(_as_numpy(x, "input"), _as_numpy(weight, "weight"), b, stride, padding,
                 dilation, groups)
        ctx.save_for_backward(x, weight)
        ctx.conv_args = (spatial_dims, stride, padding, dilation, groups)
        ctx.has_bias = bias is not None
        return torch.from_numpy(y)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        spatial_dims, stride, padding, dilation, groups = ctx.conv_args
        dy = _batch_view(_as_numpy(grad_y, "grad_output"))
        args = (stride, padding, dilation, groups)
        grad_x = grad_w = grad_b = None
        grad_input, grad_weight = _GRADIENTS[spatial_dims]
        if ctx.needs_input_grad[0]:
            grad_x = torch.from_numpy(grad_input(dy, _as_numpy(weight, "weight"),
                                                 tuple(x.shape), *args))
        if ctx.needs_input_grad[1]:
            grad_w = torch.from_numpy(grad_weight(_as_numpy(x, "input"), dy,
                                                  tuple(weight.shape), *args))
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_y.sum(dim=(0, *range(2, grad_y.dim())))
        return grad_x, grad_w, grad_b, None, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv2d`` computed by fastconv, differentiable.

    Forward runs :func:`fastconv.conv2d`; backward :func:`fastconv.conv2d_grad_input` and
    :func:`fastconv.conv2d_grad_weight` (and a sum for the bias). The tensors' memory is shared
    with NumPy, not copied.

    Parameters
    ----------
    input : torch.Tensor
        ``(N, C_in, H, W)``, or one unbatched sample ``(C_in, H, W)``; a CPU tensor of
        float32 or float64.
    weight : torch.Tensor
        ``(C_out, C_in/groups, kH, kW)``, same dtype.
    bias : torch.Tensor or None, optional
        ``(C_out,)``. Default None.
    stride, padding, dilation, groups : optional
        As ``torch.nn.functional.conv2d`` ('zeros' padding: an int, per-dimension ints,
        ``"valid"`` or ``"same"``); fastconv's asymmetric pairs are accepted too.

    Returns
    -------
    torch.Tensor
        ``(N, C_out, H_out, W_out)`` (unbatched in, unbatched out), with a gradient function
        when an input requires grad.

    Raises
    ------
    TypeError
        A dtype other than float32 / float64.
    NotImplementedError
        A tensor on a device other than the CPU (CUDA included): the gradients are written
        on host arrays.
    ValueError
        Arguments :func:`fastconv.conv2d` refuses (same messages).
    """
    return _apply(2, input, weight, bias, stride, padding, dilation, groups)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """``torch.nn.functional.conv1d`` computed by fastconv, differentiable.

    Parameters
    ----------
    input : torch.Tensor
        ``(N, C_in, L)`` or one unbatched sample ``(C_in, L)``; CPU float32 or float64.
    weight : torch.Tensor
        ``(C_out, C_in/groups, K)``, same dtype.
    bias : torch.Tensor or None, optional
        ``(C_out,)``. Default None.
    stride, padding, dilation, groups : optional
        As ``torch.nn.functional.conv1d``.

    Returns
    -------
    torch.Tensor
        ``(N, C_out, L_out)``.

    Raises
    ------
    TypeError, NotImplementedError, ValueError
        As :func:`conv2d`.
    """
    return _apply(1, input, weight, bias, stride, padding, dilation, groups)


def _apply(spatial_dims, input, weight, bias, stride, padding, dilation, groups):
    # torch also takes one unbatched sample, (C, H, W) / (C, L): run it as a batch of one.
    unbatched = input.dim() == spatial_dims + 1
    if unbatched:
        input = input.unsqueeze(0)
    y = _Convolution.apply(input, weight, bias, spatial_dims, _arg(stride), _arg(padding),
                           _arg(dilation), groups)
    return y.squeeze(0) if unbatched else y


def _arg(value):
    """torch modules keep sizes as tuples; fastconv takes tuples of the same meaning."""
    return tuple(value) if isinstance(value, list) else value


class Conv2d(torch.nn.Conv2d):
    """``torch.nn.Conv2d`` whose convolution runs in fastconv.

    A subclass that replaces only the convolution call: the constructor takes
    ``torch.nn.Conv2d``'s arguments (``in_channels, out_channels, kernel_size, stride=1,
    padding=0, dilation=1, groups=1, bias=True, padding_mode='zeros', device=None,
    dtype=None``), initialises the parameters the same way, has the same ``state_dict`` keys
    and repr, and passes ``isinstance(m, torch.nn.Conv2d)``, so a model can swap one for the
    other and load the other's checkpoints. Every ``padding_mode`` works: 'zeros' inside the
    kernels; 'reflect', 'replicate' and 'circular' padded by torch first, as nn.Conv2d does.

    Raises
    ------
    TypeError
        In forward: an input or parameter dtype other than float32 / float64.
    NotImplementedError
        In forward: tensors on a device other than the CPU.

    Examples
    --------
    >>> import torch, fastconv.torch
    >>> conv = fastconv.torch.Conv2d(1, 16, 3, padding=1)
    >>> conv(torch.rand(4, 1, 8, 8)).shape
    torch.Size([4, 16, 8, 8])
    """

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            # nn.Conv2d's own route: pad with the mode, then convolve unpadded.
            input = torch.nn.functional.pad(input, self._reversed_padding_repeated_twice,
                                            mode=self.padding_mode)
            return conv2d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv2d(input, weight, bias, self.stride, self.padding, self.dilation,
                      self.groups)


class Conv1d(torch.nn.Conv1d):
    """``torch.nn.Conv1d`` whose convolution runs in fastconv.

    Constructor arguments, parameters, ``state_dict``, padding modes and errors as
    :class:`Conv2d`, with one spatial dimension.
    """

    def _conv_forward(self, input, weight, bias):
        if self.padding_mode != "zeros":
            input = torch.nn.functional.pad(input, self._reversed_padding_repeated_twice,
                                            mode=self.padding_mode)
            return conv1d(input, weight, bias, self.stride, 0, self.dilation, self.groups)
        return conv1d(input, weight, bias, self.stride, self.padding, self.dilation,
                      self.groups)
