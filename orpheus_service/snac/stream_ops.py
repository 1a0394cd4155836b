"""Streaming layers of the SNAC decoder: new samples in, the samples they complete out.

Every layer keeps its own state across calls (one tensor per stream, stacked along
the batch dimension by the caller):

- a convolution with padding p runs as a causal convolution delayed by p samples,
  on its input history (the last (k-1)*dilation samples) plus the new samples;
- a ConvTranspose1d runs as one matrix product over its kernel taps and an
  overlap-add whose pending tail is the state (no slow `conv_transpose` path);
- a residual unit delays its skip branch by the delay of its main branch;
- Snake, Tanh, 1x1 convolutions and noise blocks are pointwise (a noise block
  draws noise for the new samples only).

Speed: activations are time-major (batch, time, channels), so every 1x1 conv and
transposed conv is a plain linear map; on the CPU those run through oneDNN with
weights packed once (`snac_packed_linear`; MKL repacks a 32 MB weight on every
few-row product); depthwise convs are summed tap by tap; each Snake's 1/alpha
moves into the next layer (and its alpha into a depthwise conv before it), and a
Snake in front of a convolution writes straight into that convolution's input
buffer.

Each stateful layer zeroes its input samples that lie before the start or after
the end of the stream (`ForwardContext.mask`), where the full decode would see zero
padding. `snac_stream_graph` builds these layers from a SNAC model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from orpheus_service.snac.packed_linear import PackedLinear

__all__ = [
    "ForwardContext",
    "StatefulStreamOp",
    "StreamConv",
    "StreamConvTranspose",
    "StreamNoise",
    "StreamOp",
    "StreamPointwiseConv",
    "StreamResidual",
    "StreamSequence",
    "StreamSnake",
    "StreamTanh",
    "StreamTiming",
    "apply_mask",
    "snake_alpha_foldable",
]


# -- timing bookkeeping ------------------------------------------------------------


@dataclass(frozen=True)
class StreamTiming:
    """Where a layer's stream sits against true time.

    `rate`: samples per latent step; the valid length of a stream of T latent steps
    is `rate * T + const`; stream position q holds true time `q - offset`.
    """

    rate: int
    const: int
    offset: int


@dataclass
class ForwardContext:
    """Per-call context shared by the ops of one forward pass."""

    states: list[Tensor]
    positions: list[int]  # latent steps each stream had before this call
    totals: list[int | None]  # latent steps of each stream, once it ends
    steps: int  # new latent steps per stream in this call
    noise: bool
    masking: bool  # some stream is warming up or ending
    masks: dict[StreamTiming, Tensor | None] = field(
        default_factory=dict[StreamTiming, Tensor | None]
    )

    def mask(self, timing: StreamTiming) -> Tensor | None:
        """(B, N, 1) bool mask of the samples of this call that are inside the stream."""
        if not self.masking:
            return None
        if timing in self.masks:
            return self.masks[timing]
        width = self.steps * timing.rate
        bounds: list[tuple[int, int]] = []
        needed = False
        for pos, total in zip(self.positions, self.totals, strict=True):
            start = pos * timing.rate
            lo = timing.offset - start
            hi = (
                width
                if total is None
                else timing.offset + timing.rate * total + timing.const - start
            )
            needed = needed or lo > 0 or hi < width
            bounds.append((lo, hi))
        mask: Tensor | None = None
        if needed:
            device = self.states[0].device if self.states else None
            idx = torch.arange(width, device=device).view(1, width, 1)
            b = torch.tensor(bounds, device=device).view(len(bounds), 1, 2)
            mask = (idx >= b[:, :, 0:1]) & (idx < b[:, :, 1:2])
        self.masks[timing] = mask
        return mask


def apply_mask(x: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return x
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))


# -- streaming ops (time-major: activations are (batch, time, channels)) -------------


class StreamOp:
    """One streaming layer: new input samples in, the output samples they complete out."""

    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        raise NotImplementedError


class StreamSequence(StreamOp):
    def __init__(self, ops: list[StreamOp]) -> None:
        self.ops = ops

    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        for op in self.ops:
            x = op.forward(x, ctx)
        return x


class StreamSnake(StreamOp):
    """snac's Snake1d: x + 1/(alpha + 1e-9) * sin(alpha * x)^2.

    Modes: "exact" computes that. When the next layer is linear over channels, it
    takes a 1/alpha input scale and the snake emits alpha * snake(x) = u + sin(u)^2
    with u = alpha * x ("scaled"; the 1e-9 is below float32 resolution for the
    alphas allowed); when the previous layer is a depthwise conv it takes an alpha
    output scale too, and the snake gets u directly ("prescaled", in place). That
    saves one or two passes over the activations per snake.
    """

    def __init__(self, alpha: Tensor, mode: str = "exact") -> None:
        self.alpha = alpha.detach().reshape(-1).clone()
        self.inv_alpha = (self.alpha + 1e-9).reciprocal()
        self.mode = mode

    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        return self.apply(x)

    def apply(self, x: Tensor, out: Tensor | None = None) -> Tensor:
        """The snake of `x`, written into `out` when given."""
        if self.mode == "prescaled":
            s = torch.sin(x)
            if out is None:
                return x.addcmul_(s, s)
            return torch.addcmul(x, s, s, out=out)
        if self.mode == "scaled":
            u = torch.mul(x, self.alpha) if out is None else torch.mul(x, self.alpha, out=out)
            s = torch.sin(u)
            return u.addcmul_(s, s)
        y = torch.mul(x, self.alpha)
        y.sin_().pow_(2)
        if out is None:
            return torch.addcmul(x, self.inv_alpha, y)
        return torch.addcmul(x, self.inv_alpha, y, out=out)


def snake_alpha_foldable(alpha: Tensor) -> bool:
    """Alphas whose reciprocal can move into the next layer without loss."""
    return bool(torch.isfinite(alpha).all()) and float(alpha.abs().min()) >= 1e-3


class StreamTanh(StreamOp):
    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        return torch.tanh(x)


class StreamPointwiseConv(StreamOp):
    """A 1x1 convolution: a linear map over channels."""

    def __init__(self, conv: nn.Conv1d, rows_hint: int, in_scale: Tensor | None = None) -> None:
        weight = conv.weight.detach()[:, :, 0]
        if in_scale is not None:
            weight = weight * in_scale
        self.linear = PackedLinear(weight, conv.bias, rows_hint)

    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        return self.linear(x)


class StreamNoise(StreamOp):
    """snac's NoiseBlock: x + randn(B, T, 1) * linear(x), noise for new samples only."""

    def __init__(self, linear: StreamPointwiseConv) -> None:
        self.linear = linear

    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        if not ctx.noise:
            return x
        h = self.linear.forward(x, ctx)
        noise = torch.randn((x.shape[0], x.shape[1], 1), dtype=x.dtype, device=x.device)
        return torch.addcmul(x, noise, h)


class StatefulStreamOp(StreamOp):
    """An op with one state tensor per stream, of shape (length, channels)."""

    def __init__(self, index: int, timing: StreamTiming) -> None:
        self.index = index
        self.timing = timing  # of the op's input


class StreamConv(StatefulStreamOp):
    """A stride-1 convolution with symmetric padding p, run causally with delay p.

    An optional snake in front of it writes straight into its input buffer.
    """

    def __init__(
        self,
        conv: nn.Conv1d,
        index: int,
        timing: StreamTiming,
        rows_hint: int,
        in_scale: Tensor | None = None,
        snake: StreamSnake | None = None,
    ) -> None:
        super().__init__(index, timing)
        weight = conv.weight.detach()
        if in_scale is not None:
            if conv.groups == conv.in_channels:
                weight = weight * in_scale.view(-1, 1, 1)
            else:
                weight = weight * in_scale.view(1, -1, 1)
        self.snake = snake
        self.dilation = conv.dilation[0]
        self.kernel = conv.kernel_size[0]
        self.bias = None if conv.bias is None else conv.bias.detach().clone()
        self.depthwise = conv.groups == conv.in_channels == conv.out_channels
        self.out_channels = conv.out_channels
        # Depthwise: per-channel taps summed with addcmul (faster than oneDNN's
        # depthwise kernel at these sizes). Dense: one linear map to every tap's
        # output (rows ordered tap, channel), then the taps are summed with shifts.
        self.taps = [weight[:, 0, j].contiguous() for j in range(self.kernel)]
        self.linear: PackedLinear | None = None
        if not self.depthwise:
            assert conv.groups == 1, "the graph builder refuses grouped convolutions"
            w = weight.permute(2, 0, 1).reshape(self.kernel * conv.out_channels, conv.in_channels)
            self.linear = PackedLinear(w, None, rows_hint)

    def scale_output(self, scale: Tensor) -> None:
        """Multiply a depthwise conv's output channels by `scale`."""
        assert self.depthwise
        self.taps = [t * scale for t in self.taps]
        if self.bias is not None:
            self.bias = self.bias * scale

    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        x = apply_mask(x, ctx.mask(self.timing))
        batch, n, channels = x.shape
        d = self.dilation
        history = ctx.states[self.index]
        if self.snake is None:
            buf = torch.cat((history, x), dim=1)
        else:
            h = history.shape[1]
            buf = torch.empty((batch, h + n, channels), dtype=x.dtype, device=x.device)
            buf[:, :h] = history
            self.snake.apply(x, out=buf[:, h:])
        ctx.states[self.index] = buf[:, n:].clone()
        if self.depthwise:
            if self.bias is None:
                y = torch.mul(buf[:, :n], self.taps[0])
            else:
                y = torch.addcmul(self.bias, buf[:, :n], self.taps[0])
            for j in range(1, self.kernel):
                y.addcmul_(buf[:, j * d : j * d + n], self.taps[j])
            return y
        assert self.linear is not None
        z = self.linear(buf).view(buf.shape[0], buf.shape[1], self.kernel, self.out_channels)
        if self.bias is None:
            y = z[:, :n, 0].clone(memory_format=torch.contiguous_format)
        else:
            y = torch.add(z[:, :n, 0], self.bias)
        for j in range(1, self.kernel):
            y += z[:, j * d : j * d + n, j]
        return y


class StreamConvTranspose(StatefulStreamOp):
    """ConvTranspose1d as one linear map over kernel taps plus an overlap-add state."""

    def __init__(
        self,
        conv: nn.ConvTranspose1d,
        index: int,
        timing: StreamTiming,
        rows_hint: int,
        in_scale: Tensor | None = None,
    ) -> None:
        super().__init__(index, timing)
        stride, kernel = conv.stride[0], conv.kernel_size[0]
        blocks = math.ceil(kernel / stride)
        # weight (Cin, Cout, K) -> rows ordered (block j, phase r, Cout), taps zero-padded.
        w = F.pad(conv.weight.detach(), (0, blocks * stride - kernel))
        if in_scale is not None:
            w = w * in_scale.view(-1, 1, 1)
        w = w.permute(2, 1, 0).reshape(blocks * stride * conv.out_channels, conv.in_channels)
        self.linear = PackedLinear(w, None, rows_hint)
        self.bias = None if conv.bias is None else conv.bias.detach().clone()
        self.stride = stride
        self.blocks = blocks
        self.out_channels = conv.out_channels

    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        x = apply_mask(x, ctx.mask(self.timing))
        batch, n, _ = x.shape
        s, m, c = self.stride, self.blocks, self.out_channels
        # taps[:, i, j]: block j (s samples) of input i, landing on output block i + j.
        taps = self.linear(x).view(batch, n, m, s, c)
        state = ctx.states[self.index]
        if m == 2:  # kernel = 2 * stride, as in SNAC: one block of pending state
            if self.bias is None:
                y = taps[:, :, 0].clone(memory_format=torch.contiguous_format)
            else:
                y = torch.add(taps[:, :, 0], self.bias)
            y[:, 0] += state
            y[:, 1:] += taps[:, : n - 1, 1]
            ctx.states[self.index] = taps[:, n - 1, 1].clone()
            return y.view(batch, n * s, c)
        out = torch.zeros((batch, n + m - 1, s, c), dtype=x.dtype, device=x.device)
        if m > 1:
            out[:, : m - 1] = state.view(batch, m - 1, s, c)
        for j in range(m):
            out[:, j : j + n] += taps[:, :, j]
        ctx.states[self.index] = out[:, n:].reshape(batch, (m - 1) * s, c).clone()
        y = out[:, :n].reshape(batch, n * s, c)
        return y if self.bias is None else y.add_(self.bias)


class StreamResidual(StatefulStreamOp):
    """x (delayed by the main branch's delay) + main(x)."""

    def __init__(self, main: StreamOp, index: int, delay: int, timing: StreamTiming) -> None:
        super().__init__(index, timing)
        self.main = main
        self.delay = delay

    def forward(self, x: Tensor, ctx: ForwardContext) -> Tensor:
        y = self.main.forward(x, ctx)
        n, d = x.shape[1], self.delay
        if d == 0:
            return y.add_(x)
        history = ctx.states[self.index]
        if n >= d:  # y += [history | x[:n-d]]; the new history is the tail of x
            y[:, :d] += history
            y[:, d:] += x[:, : n - d]
            ctx.states[self.index] = x[:, n - d :].clone()
            return y
        buf = torch.cat((history, x), dim=1)
        ctx.states[self.index] = buf[:, n:].clone()
        return y.add_(buf[:, :n])
