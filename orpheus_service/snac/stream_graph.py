"""Walk a SNAC decoder module into streaming layers, tracking each layer's delay.

`StreamGraphBuilder.build` maps every module of the decoder to a layer of
`snac_stream_ops` and follows where its stream sits against true time
(`StreamTiming`: rate, valid-length constant, delay), so that the decoder can tell
which output samples are final and which input samples lie outside the stream. A
Snake followed by a convolution is folded into it. A layer without a streaming
rule (local attention included) is refused with `UnsupportedSnacModel`.
`code_tables` turns the quantizer's code -> latent path into lookup tables.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from snac.attention import LocalMHA  # pyright: ignore[reportMissingTypeStubs]
from snac.layers import (  # pyright: ignore[reportMissingTypeStubs]
    DecoderBlock,
    NoiseBlock,
    ResidualUnit,
    Snake1d,
)
from snac.vq import ResidualVectorQuantize  # pyright: ignore[reportMissingTypeStubs]
from torch import Tensor, nn

from orpheus_service.snac.stream_ops import (
    StreamConv,
    StreamConvTranspose,
    StreamNoise,
    StreamOp,
    StreamPointwiseConv,
    StreamResidual,
    StreamSequence,
    StreamSnake,
    StreamTanh,
    StreamTiming,
    snake_alpha_foldable,
)

__all__ = [
    "ATTENTION_REFUSED",
    "StreamGraphBuilder",
    "UnsupportedSnacModel",
    "code_tables",
]

ATTENTION_REFUSED = (
    "SNAC models with local attention (attn_window_size set) cannot be streamed by "
    "this decoder; the 24 kHz model (Orpheus) has none"
)


class UnsupportedSnacModel(ValueError):
    """The SNAC model has a layer or layout the streaming decoder cannot stream."""


class StreamGraphBuilder:
    """Builds the streaming layers of a module and the shapes of their states."""

    def __init__(self, steps_hint: int) -> None:
        self.state_shapes: list[tuple[int, int]] = []  # (length, channels)
        self.steps_hint = steps_hint  # latent steps of a typical call

    def _state(self, length: int, channels: int) -> int:
        self.state_shapes.append((length, channels))
        return len(self.state_shapes) - 1

    def _rows(self, timing: StreamTiming) -> int:
        return self.steps_hint * timing.rate

    def build(self, module: nn.Module, timing: StreamTiming) -> tuple[StreamOp, StreamTiming]:
        """The streaming layer of `module` whose input sits at `timing`, and its output's."""
        if isinstance(module, nn.Sequential):
            return self._sequence(list(module), timing)
        if isinstance(module, DecoderBlock):
            return self.build(cast(nn.Module, module.block), timing)
        if isinstance(module, ResidualUnit):
            return self._residual(module, timing)
        if isinstance(module, Snake1d):
            return StreamSnake(cast(Tensor, module.alpha)), timing
        if isinstance(module, nn.Tanh):
            return StreamTanh(), timing
        if isinstance(module, nn.Identity):
            return StreamSequence([]), timing
        if isinstance(module, NoiseBlock):
            linear = cast(nn.Conv1d, module.linear)
            return StreamNoise(StreamPointwiseConv(linear, self._rows(timing))), timing
        if isinstance(module, nn.ConvTranspose1d):
            return self._conv_transpose(module, timing)
        if isinstance(module, nn.Conv1d):
            return self._conv(module, timing)
        if isinstance(module, LocalMHA):
            raise UnsupportedSnacModel(ATTENTION_REFUSED)
        raise UnsupportedSnacModel(f"no streaming rule for layer {type(module).__name__}")

    def _sequence(
        self, children: list[nn.Module], timing: StreamTiming
    ) -> tuple[StreamOp, StreamTiming]:
        ops: list[StreamOp] = []
        i = 0
        while i < len(children):
            child = children[i]
            nxt = children[i + 1] if i + 1 < len(children) else None
            if (
                isinstance(child, Snake1d)
                and isinstance(nxt, nn.Conv1d | nn.ConvTranspose1d)
                and snake_alpha_foldable(cast(Tensor, child.alpha))
            ):
                # Fold 1/alpha into the next layer (and alpha into a depthwise conv before).
                alpha = cast(Tensor, child.alpha).detach().reshape(-1)
                prev = ops[-1] if ops else None
                if isinstance(prev, StreamConv) and prev.depthwise:
                    prev.scale_output(alpha)
                    snake = StreamSnake(alpha, "prescaled")
                else:
                    snake = StreamSnake(alpha, "scaled")
                if isinstance(nxt, nn.ConvTranspose1d):
                    ops.append(snake)
                    op, timing = self._conv_transpose(nxt, timing, 1.0 / alpha)
                else:
                    op, timing = self._conv(nxt, timing, 1.0 / alpha, snake)
                    if isinstance(op, StreamPointwiseConv):
                        ops.append(snake)
                ops.append(op)
                i += 2
                continue
            op, timing = self.build(child, timing)
            ops.append(op)
            i += 1
        return StreamSequence(ops), timing

    def _conv(
        self,
        conv: nn.Conv1d,
        timing: StreamTiming,
        in_scale: Tensor | None = None,
        snake: StreamSnake | None = None,
    ) -> tuple[StreamOp, StreamTiming]:
        kernel, stride, dilation = conv.kernel_size[0], conv.stride[0], conv.dilation[0]
        padding = conv.padding
        if isinstance(padding, str) or stride != 1 or conv.padding_mode != "zeros":
            raise UnsupportedSnacModel(f"unsupported Conv1d {conv}")
        pad = padding[0]
        if 2 * pad != (kernel - 1) * dilation:
            raise UnsupportedSnacModel(f"Conv1d without symmetric 'same' padding: {conv}")
        if kernel == 1:
            if conv.groups != 1:
                raise UnsupportedSnacModel(f"grouped 1x1 Conv1d is not supported: {conv}")
            return StreamPointwiseConv(conv, self._rows(timing), in_scale), timing
        depthwise = conv.groups == conv.in_channels == conv.out_channels
        if conv.groups != 1 and not depthwise:
            raise UnsupportedSnacModel(f"grouped Conv1d is not supported: {conv}")
        index = self._state((kernel - 1) * dilation, conv.in_channels)
        op = StreamConv(conv, index, timing, self._rows(timing), in_scale, snake)
        return op, StreamTiming(timing.rate, timing.const, timing.offset + pad)

    def _conv_transpose(
        self, conv: nn.ConvTranspose1d, timing: StreamTiming, in_scale: Tensor | None = None
    ) -> tuple[StreamOp, StreamTiming]:
        stride, kernel = conv.stride[0], conv.kernel_size[0]
        pad, out_pad = cast(tuple[int, ...], conv.padding)[0], conv.output_padding[0]
        if conv.groups != 1 or conv.dilation[0] != 1 or out_pad > pad or kernel < stride:
            raise UnsupportedSnacModel(f"unsupported ConvTranspose1d {conv}")
        blocks = math.ceil(kernel / stride)
        index = self._state((blocks - 1) * stride, conv.out_channels)
        op = StreamConvTranspose(conv, index, timing, self._rows(timing), in_scale)
        out = StreamTiming(
            rate=timing.rate * stride,
            # L_out = (L_in - 1) * stride - 2 * pad + kernel + output_padding
            const=timing.const * stride - stride - 2 * pad + kernel + out_pad,
            offset=timing.offset * stride + pad,
        )
        return op, out

    def _residual(self, unit: ResidualUnit, timing: StreamTiming) -> tuple[StreamOp, StreamTiming]:
        index = self._state(0, 0)  # filled in below, once the main branch is known
        main, out = self.build(cast(nn.Module, unit.block), timing)
        if out.rate != timing.rate or out.const != timing.const:
            raise UnsupportedSnacModel("residual unit whose branch changes the length")
        delay = out.offset - timing.offset
        self.state_shapes[index] = (delay, _channels_of(unit))
        return StreamResidual(main, index, delay, timing), out


def _channels_of(unit: ResidualUnit) -> int:
    for module in cast(nn.Module, unit.block).modules():
        if isinstance(module, nn.Conv1d):
            return module.in_channels
    raise UnsupportedSnacModel("residual unit without a convolution")


def code_tables(quantizer: ResidualVectorQuantize) -> Tensor:
    """(levels, codebook_size, latent_dim): out_proj(embedding) of every code."""
    tables: list[Tensor] = []
    for vq in quantizer.quantizers:
        codebook = cast(nn.Embedding, vq.codebook).weight.detach()
        out_proj = cast(nn.Conv1d, vq.out_proj)
        latents = cast(Tensor, out_proj(codebook.t().unsqueeze(0)))  # (1, D, N)
        tables.append(latents[0].t())
    return torch.stack(tables).contiguous()
