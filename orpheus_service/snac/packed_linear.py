"""The linear maps of the streaming SNAC layers, with the fastest kernel at hand:
oneDNN with the weight packed once on the CPU, `F.linear` elsewhere."""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["PackedLinear", "onednn_linear", "onednn_pack"]


class PackedLinear:
    """y = x @ weight.T + bias over the last dimension, with the fastest kernel at hand.

    On the CPU, oneDNN with a weight packed once (PyTorch's own prepacked-linear op,
    as used by its compiler) is faster than `F.linear` for the few-row products of
    streaming (MKL repacks the weight on every call). It is checked
    against `F.linear` at build time; anything unexpected falls back to `F.linear`.
    """

    def __init__(self, weight: Tensor, bias: Tensor | None, rows_hint: int) -> None:
        self.weight = weight.detach().contiguous()
        self.bias = None if bias is None else bias.detach().contiguous()
        self.packed: Tensor | None = None
        if self.weight.device.type == "cpu" and self.weight.dtype == torch.float32:
            self.packed = onednn_pack(self.weight, self.bias, rows_hint)

    def __call__(self, x: Tensor) -> Tensor:
        if self.packed is not None:
            return onednn_linear(x.contiguous(), self.packed, self.bias)
        return F.linear(x, self.weight, self.bias)


def onednn_linear(x: Tensor, packed: Tensor, bias: Tensor | None) -> Tensor:
    """x @ weight.T + bias, with the weight as packed by `onednn_pack`."""
    op = torch.ops.mkldnn._linear_pointwise  # pyright: ignore[reportPrivateUsage]
    return cast(Tensor, op(x, packed, bias, "none", [], ""))


def onednn_pack(weight: Tensor, bias: Tensor | None, rows_hint: int) -> Tensor | None:
    """The oneDNN-packed weight, or None when unavailable or not matching F.linear."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        reorder = torch.ops.mkldnn._reorder_linear_weight  # pyright: ignore[reportPrivateUsage]
        packed = cast(Tensor, reorder(weight, rows_hint))
        generator = torch.Generator().manual_seed(0)
        for shape in ((1, 1), (1, rows_hint), (3, rows_hint + 1)):  # (batch, time)
            x = torch.randn((*shape, weight.shape[1]), generator=generator)
            want = F.linear(x, weight, bias)
            got = onednn_linear(x, packed, bias)
            scale = float(want.abs().max()) + 1e-12
            if got.shape != want.shape or float((got - want).abs().max()) > 1e-5 * scale:
                return None
    except (RuntimeError, AttributeError):
        return None
    return packed
