"""Exact streaming SNAC decoder: 7-code frames in, 24 kHz float32 audio out.

Each frame is decoded once. The SNAC decoder is not causal (an output sample
depends on about 10 latent steps either side), so the model is compiled into a
streaming graph in which every layer keeps its own state across calls:

- a convolution with padding p runs as a causal convolution delayed by p samples,
  on its input history (the last (k-1)*dilation samples) plus the new samples;
- a ConvTranspose1d runs as one matrix product over its kernel taps and an
  overlap-add whose pending tail is the state (no slow `conv_transpose` path);
- a residual unit delays its skip branch by the delay of its main branch;
- Snake, Tanh, 1x1 convolutions and noise blocks are pointwise (a noise block
  draws noise for the new samples only);
- the quantizer's code -> latent path is a lookup in per-codebook tables (code
  embedding followed by `out_proj`), repeated by the vq strides.

Speed: activations are time-major (batch, time, channels), so every 1x1 conv and
transposed conv is a plain linear map; on the CPU those run through oneDNN with
weights packed once (MKL repacks a 32 MB weight on every few-row product);
depthwise convs are summed tap by tap; each Snake's 1/alpha moves into the next
layer (and its alpha into a depthwise conv before it), and a Snake in front of a
convolution writes straight into that convolution's input buffer. About 4x less
CPU per second of audio than the common 4-frame sliding window (BENCHMARKS.md).

Stream positions of each layer are tracked against true time: samples before the
start and after the end of the stream are zeroed where the full decode would see
zero padding, so the stitched output equals `model.decode` of the whole sequence
(to float rounding), first and last frames included. The graph is built by
walking the model's modules; a model with attention (`attn_window_size` set) is
refused.

Latency (SNAC 24 kHz): the total delay is 4757 samples (9.3 latent steps), so the
first audio (1387 samples) comes with the third frame, every later frame
returns 2048 samples, and a frame's audio is complete once the frame 3 places
after it has been pushed. `flush()` returns the tail; the stream's total length
is exactly frames * 2048.

API::

    decoder = SnacStreamDecoder(model)            # one per model; shares weights
    stream = decoder.new_stream()                 # one per utterance
    pcm = stream.push(frame)                      # np.float32 array or None
    pcm = stream.push_many(frames)                # several frames, one forward call
    tail = stream.flush()                         # end of stream: the rest, or None

    # batching scheduler: the pending work of many streams in one forward call
    states = [decoder.new_state() for _ in range(n)]
    outs = decoder.step_batch(states, [frame_or_None, ...])  # None = flush

    decoder.push(frame) / decoder.flush() / decoder.reset()  # a built-in stream

`Frame` is a tuple of 7 codes (0..4095) in Orpheus slot order (docs/LAYOUT.md).
A returned chunk is never empty (None instead). `step_batch` stacks the states of
all streams along the batch dimension; streams pushing a frame and streams
flushing need different amounts of work, so a batch mixing both runs as two
forward calls. The same code runs on CUDA (the model's device) and on the CPU.
`noise=False` skips the noise blocks (deterministic output, for comparisons);
production keeps the noise on, as the model was trained.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from snac import SNAC  # pyright: ignore[reportMissingTypeStubs]
from snac.attention import LocalMHA  # pyright: ignore[reportMissingTypeStubs]
from snac.layers import (  # pyright: ignore[reportMissingTypeStubs]
    DecoderBlock,
    NoiseBlock,
    ResidualUnit,
    Snake1d,
)
from snac.vq import ResidualVectorQuantize  # pyright: ignore[reportMissingTypeStubs]
from torch import Tensor, nn

from orpheus_service.tokens import Frame

__all__ = [
    "CODES_PER_FRAME",
    "LATENT_STEPS_PER_FRAME",
    "Pcm",
    "SnacStream",
    "SnacStreamDecoder",
    "SnacStreamState",
    "UnsupportedSnacModel",
]

Pcm = npt.NDArray[np.float32]
CODES_PER_FRAME = 7
LATENT_STEPS_PER_FRAME = 4
VQ_STRIDES = (4, 2, 1)
# Orpheus slot -> (codebook level, index within the frame's codes of that level).
_SLOT_LEVELS = ((0, 0), (1, 0), (2, 0), (2, 1), (1, 1), (2, 2), (2, 3))


class UnsupportedSnacModel(ValueError):
    """The SNAC model has a layer or layout the streaming decoder cannot stream."""


# -- timing bookkeeping ------------------------------------------------------------


@dataclass(frozen=True)
class _Timing:
    """Where a layer's stream sits against true time.

    `rate`: samples per latent step; the valid length of a stream of T latent steps
    is `rate * T + const`; stream position q holds true time `q - offset`.
    """

    rate: int
    const: int
    offset: int


@dataclass
class _Ctx:
    """Per-call context shared by the ops of one forward pass."""

    states: list[Tensor]
    positions: list[int]  # latent steps each stream had before this call
    totals: list[int | None]  # latent steps of each stream, once it ends
    steps: int  # new latent steps per stream in this call
    noise: bool
    masking: bool  # some stream is warming up or ending
    masks: dict[_Timing, Tensor | None] = field(default_factory=dict[_Timing, Tensor | None])

    def mask(self, timing: _Timing) -> Tensor | None:
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


def _apply_mask(x: Tensor, mask: Tensor | None) -> Tensor:
    if mask is None:
        return x
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))


# -- linear kernels ----------------------------------------------------------------------


class _Linear:
    """y = x @ weight.T + bias over the last dimension, with the fastest kernel at hand.

    On the CPU, oneDNN with a weight packed once (PyTorch's own prepacked-linear op,
    as used by its compiler) is up to 5x faster than `F.linear` for the few-row
    products of streaming (MKL repacks the weight on every call). It is checked
    against `F.linear` at build time; anything unexpected falls back to `F.linear`.
    """

    def __init__(self, weight: Tensor, bias: Tensor | None, rows_hint: int) -> None:
        self.weight = weight.detach().contiguous()
        self.bias = None if bias is None else bias.detach().contiguous()
        self.packed: Tensor | None = None
        if self.weight.device.type == "cpu" and self.weight.dtype == torch.float32:
            self.packed = _onednn_pack(self.weight, self.bias, rows_hint)

    def __call__(self, x: Tensor) -> Tensor:
        if self.packed is not None:
            return _onednn_linear(x.contiguous(), self.packed, self.bias)
        return F.linear(x, self.weight, self.bias)


def _onednn_linear(x: Tensor, packed: Tensor, bias: Tensor | None) -> Tensor:
    op = torch.ops.mkldnn._linear_pointwise  # pyright: ignore[reportPrivateUsage]
    return cast(Tensor, op(x, packed, bias, "none", [], ""))


def _onednn_pack(weight: Tensor, bias: Tensor | None, rows_hint: int) -> Tensor | None:
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
            got = _onednn_linear(x, packed, bias)
            scale = float(want.abs().max()) + 1e-12
            if got.shape != want.shape or float((got - want).abs().max()) > 1e-5 * scale:
                return None
    except (RuntimeError, AttributeError):
        return None
    return packed


# -- streaming ops (time-major: activations are (batch, time, channels)) -------------


class _Op:
    """One streaming layer: new input samples in, the output samples they complete out."""

    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
        raise NotImplementedError


class _Sequence(_Op):
    def __init__(self, ops: list[_Op]) -> None:
        self.ops = ops

    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
        for op in self.ops:
            x = op.forward(x, ctx)
        return x


class _Snake(_Op):
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

    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
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


def _foldable(alpha: Tensor) -> bool:
    """Alphas whose reciprocal can move into the next layer without loss."""
    return bool(torch.isfinite(alpha).all()) and float(alpha.abs().min()) >= 1e-3


class _Tanh(_Op):
    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
        return torch.tanh(x)


class _Pointwise(_Op):
    """A 1x1 convolution: a linear map over channels."""

    def __init__(self, conv: nn.Conv1d, rows_hint: int, in_scale: Tensor | None = None) -> None:
        weight = conv.weight.detach()[:, :, 0]
        if in_scale is not None:
            weight = weight * in_scale
        self.linear = _Linear(weight, conv.bias, rows_hint)

    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
        return self.linear(x)


class _Noise(_Op):
    """snac's NoiseBlock: x + randn(B, T, 1) * linear(x), noise for new samples only."""

    def __init__(self, linear: _Pointwise) -> None:
        self.linear = linear

    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
        if not ctx.noise:
            return x
        h = self.linear.forward(x, ctx)
        noise = torch.randn((x.shape[0], x.shape[1], 1), dtype=x.dtype, device=x.device)
        return torch.addcmul(x, noise, h)


class _StateOp(_Op):
    """An op with one state tensor per stream, of shape (length, channels)."""

    def __init__(self, index: int, timing: _Timing) -> None:
        self.index = index
        self.timing = timing  # of the op's input


class _Conv(_StateOp):
    """A stride-1 convolution with symmetric padding p, run causally with delay p.

    An optional snake in front of it writes straight into its input buffer.
    """

    def __init__(
        self,
        conv: nn.Conv1d,
        index: int,
        timing: _Timing,
        rows_hint: int,
        in_scale: Tensor | None = None,
        snake: _Snake | None = None,
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
        self.linear: _Linear | None = None
        if not self.depthwise:
            if conv.groups != 1:
                raise UnsupportedSnacModel(f"grouped Conv1d is not supported: {conv}")
            w = weight.permute(2, 0, 1).reshape(self.kernel * conv.out_channels, conv.in_channels)
            self.linear = _Linear(w, None, rows_hint)

    def scale_output(self, scale: Tensor) -> None:
        """Multiply a depthwise conv's output channels by `scale`."""
        assert self.depthwise
        self.taps = [t * scale for t in self.taps]
        if self.bias is not None:
            self.bias = self.bias * scale

    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
        x = _apply_mask(x, ctx.mask(self.timing))
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


class _ConvTranspose(_StateOp):
    """ConvTranspose1d as one linear map over kernel taps plus an overlap-add state."""

    def __init__(
        self,
        conv: nn.ConvTranspose1d,
        index: int,
        timing: _Timing,
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
        self.linear = _Linear(w, None, rows_hint)
        self.bias = None if conv.bias is None else conv.bias.detach().clone()
        self.stride = stride
        self.blocks = blocks
        self.out_channels = conv.out_channels

    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
        x = _apply_mask(x, ctx.mask(self.timing))
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


class _Residual(_StateOp):
    """x (delayed by the main branch's delay) + main(x)."""

    def __init__(self, main: _Op, index: int, delay: int, timing: _Timing) -> None:
        super().__init__(index, timing)
        self.main = main
        self.delay = delay

    def forward(self, x: Tensor, ctx: _Ctx) -> Tensor:
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


# -- graph building -----------------------------------------------------------------


class _Builder:
    def __init__(self, steps_hint: int) -> None:
        self.state_shapes: list[tuple[int, int]] = []  # (length, channels)
        self.steps_hint = steps_hint  # latent steps of a typical call

    def _state(self, length: int, channels: int) -> int:
        self.state_shapes.append((length, channels))
        return len(self.state_shapes) - 1

    def _rows(self, timing: _Timing) -> int:
        return self.steps_hint * timing.rate

    def build(self, module: nn.Module, timing: _Timing) -> tuple[_Op, _Timing]:
        if isinstance(module, nn.Sequential):
            return self._sequence(list(module), timing)
        if isinstance(module, DecoderBlock):
            return self.build(cast(nn.Module, module.block), timing)
        if isinstance(module, ResidualUnit):
            return self._residual(module, timing)
        if isinstance(module, Snake1d):
            return _Snake(cast(Tensor, module.alpha)), timing
        if isinstance(module, nn.Tanh):
            return _Tanh(), timing
        if isinstance(module, nn.Identity):
            return _Sequence([]), timing
        if isinstance(module, NoiseBlock):
            linear = cast(nn.Conv1d, module.linear)
            return _Noise(_Pointwise(linear, self._rows(timing))), timing
        if isinstance(module, nn.ConvTranspose1d):
            return self._conv_transpose(module, timing)
        if isinstance(module, nn.Conv1d):
            return self._conv(module, timing)
        if isinstance(module, LocalMHA):
            raise UnsupportedSnacModel(_ATTENTION_REFUSED)
        raise UnsupportedSnacModel(f"no streaming rule for layer {type(module).__name__}")

    def _sequence(self, children: list[nn.Module], timing: _Timing) -> tuple[_Op, _Timing]:
        ops: list[_Op] = []
        i = 0
        while i < len(children):
            child = children[i]
            nxt = children[i + 1] if i + 1 < len(children) else None
            if (
                isinstance(child, Snake1d)
                and isinstance(nxt, nn.Conv1d | nn.ConvTranspose1d)
                and _foldable(cast(Tensor, child.alpha))
            ):
                # Fold 1/alpha into the next layer (and alpha into a depthwise conv before).
                alpha = cast(Tensor, child.alpha).detach().reshape(-1)
                prev = ops[-1] if ops else None
                if isinstance(prev, _Conv) and prev.depthwise:
                    prev.scale_output(alpha)
                    snake = _Snake(alpha, "prescaled")
                else:
                    snake = _Snake(alpha, "scaled")
                if isinstance(nxt, nn.ConvTranspose1d):
                    ops.append(snake)
                    op, timing = self._conv_transpose(nxt, timing, 1.0 / alpha)
                else:
                    op, timing = self._conv(nxt, timing, 1.0 / alpha, snake)
                    if isinstance(op, _Pointwise):
                        ops.append(snake)
                ops.append(op)
                i += 2
                continue
            op, timing = self.build(child, timing)
            ops.append(op)
            i += 1
        return _Sequence(ops), timing

    def _conv(
        self,
        conv: nn.Conv1d,
        timing: _Timing,
        in_scale: Tensor | None = None,
        snake: _Snake | None = None,
    ) -> tuple[_Op, _Timing]:
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
            return _Pointwise(conv, self._rows(timing), in_scale), timing
        index = self._state((kernel - 1) * dilation, conv.in_channels)
        op = _Conv(conv, index, timing, self._rows(timing), in_scale, snake)
        return op, _Timing(timing.rate, timing.const, timing.offset + pad)

    def _conv_transpose(
        self, conv: nn.ConvTranspose1d, timing: _Timing, in_scale: Tensor | None = None
    ) -> tuple[_Op, _Timing]:
        stride, kernel = conv.stride[0], conv.kernel_size[0]
        pad, out_pad = cast(tuple[int, ...], conv.padding)[0], conv.output_padding[0]
        if conv.groups != 1 or conv.dilation[0] != 1 or out_pad > pad or kernel < stride:
            raise UnsupportedSnacModel(f"unsupported ConvTranspose1d {conv}")
        blocks = math.ceil(kernel / stride)
        index = self._state((blocks - 1) * stride, conv.out_channels)
        op = _ConvTranspose(conv, index, timing, self._rows(timing), in_scale)
        out = _Timing(
            rate=timing.rate * stride,
            # L_out = (L_in - 1) * stride - 2 * pad + kernel + output_padding
            const=timing.const * stride - stride - 2 * pad + kernel + out_pad,
            offset=timing.offset * stride + pad,
        )
        return op, out

    def _residual(self, unit: ResidualUnit, timing: _Timing) -> tuple[_Op, _Timing]:
        index = self._state(0, 0)  # filled in below, once the main branch is known
        main, out = self.build(cast(nn.Module, unit.block), timing)
        if out.rate != timing.rate or out.const != timing.const:
            raise UnsupportedSnacModel("residual unit whose branch changes the length")
        delay = out.offset - timing.offset
        self.state_shapes[index] = (delay, _channels_of(unit))
        return _Residual(main, index, delay, timing), out


_ATTENTION_REFUSED = (
    "SNAC models with local attention (attn_window_size set) cannot be streamed by "
    "this decoder; the 24 kHz model (Orpheus) has none"
)


def _channels_of(unit: ResidualUnit) -> int:
    for module in cast(nn.Module, unit.block).modules():
        if isinstance(module, nn.Conv1d):
            return module.in_channels
    raise UnsupportedSnacModel("residual unit without a convolution")


def _code_tables(quantizer: ResidualVectorQuantize) -> Tensor:
    """(levels, codebook_size, latent_dim): out_proj(embedding) of every code."""
    tables: list[Tensor] = []
    for vq in quantizer.quantizers:
        codebook = cast(nn.Embedding, vq.codebook).weight.detach()
        out_proj = cast(nn.Conv1d, vq.out_proj)
        latents = cast(Tensor, out_proj(codebook.t().unsqueeze(0)))  # (1, D, N)
        tables.append(latents[0].t())
    return torch.stack(tables).contiguous()


# -- public API ------------------------------------------------------------------------


@dataclass
class SnacStreamState:
    """One stream's decoding state (owned by a SnacStreamDecoder)."""

    tensors: list[Tensor]
    """Per-layer state, each (1, length, channels)."""
    latent_steps: int = 0
    """Latent steps pushed so far (4 per frame)."""
    total_steps: int | None = None
    """Set at flush: the stream's length in latent steps."""
    emitted: int = 0
    """Samples returned so far."""

    @property
    def finished(self) -> bool:
        """True once flushed."""
        return self.total_steps is not None


class SnacStreamDecoder:
    """Exact frame-by-frame SNAC decoding with per-layer streaming state.

    Build one per model (it copies the decoder's weights into the streaming graph),
    then open a stream per utterance with `new_stream()` or drive many streams at
    once with `new_state()` + `step_batch()`. Also usable directly as a single
    stream (`push`, `push_many`, `flush`, `reset`).
    """

    def __init__(self, model: SNAC, *, noise: bool = True) -> None:
        if cast(int | None, model.attn_window_size) is not None:
            raise UnsupportedSnacModel(_ATTENTION_REFUSED)
        vq_strides = tuple(cast(list[int], model.vq_strides))  # pyright: ignore[reportUnknownMemberType]
        if vq_strides != VQ_STRIDES:
            raise UnsupportedSnacModel(
                f"Orpheus frames need vq_strides {list(VQ_STRIDES)}, got {list(vq_strides)}"
            )
        decoder = cast(nn.Module, model.decoder)
        first = next(iter(decoder.parameters()))
        self.device = first.device
        self.dtype = first.dtype
        self.noise = noise
        self.codebook_size = int(model.codebook_size)
        with torch.inference_mode():
            self._tables = _code_tables(model.quantizer)
            builder = _Builder(steps_hint=LATENT_STEPS_PER_FRAME)
            self._graph, self._out = builder.build(
                cast(nn.Module, decoder.model), _Timing(rate=1, const=0, offset=0)
            )
        self._state_shapes = builder.state_shapes
        self.samples_per_frame = LATENT_STEPS_PER_FRAME * self._out.rate
        """Output samples per frame (2048 for SNAC 24 kHz)."""
        self.delay = self._out.offset
        """Output delay in samples: audio up to `pushed * samples_per_frame - delay` is out."""
        self._flush_steps = max(0, math.ceil((self._out.offset + self._out.const) / self._out.rate))
        self._own: SnacStream | None = None

    # -- streams

    def new_state(self) -> SnacStreamState:
        """A fresh stream state, for `step_batch`."""
        with torch.inference_mode():
            tensors = [
                torch.zeros((1, n, c), dtype=self.dtype, device=self.device)
                for n, c in self._state_shapes
            ]
        return SnacStreamState(tensors)

    def new_stream(self) -> SnacStream:
        """A fresh single stream with `push`/`push_many`/`flush` (shares this decoder)."""
        return SnacStream(self)

    # -- batched entry point

    def step_batch(
        self, states: Sequence[SnacStreamState], frames: Sequence[Frame | None]
    ) -> list[Pcm | None]:
        """Decode one frame (or, for None, the end of stream) for each stream.

        Returns, per stream, the audio that became final, or None if none did.
        Streams pushing a frame run in one forward call, flushing streams in another.
        """
        if len(states) != len(frames):
            raise ValueError("step_batch needs one frame (or None) per state")
        work = [
            (s, [] if f is None else [f], f is None) for s, f in zip(states, frames, strict=True)
        ]
        return self._run(work)

    def step_many(
        self,
        states: Sequence[SnacStreamState],
        frames: Sequence[Sequence[Frame]],
        *,
        flush: bool = False,
    ) -> list[Pcm | None]:
        """Like `step_batch` with several frames per stream (streams with equal frame counts
        share a forward call); `flush=True` also ends every stream."""
        if len(states) != len(frames):
            raise ValueError("step_many needs one frame list per state")
        return self._run([(s, list(f), flush) for s, f in zip(states, frames, strict=True)])

    # -- the built-in single stream

    def push(self, frame: Frame) -> Pcm | None:
        """Push one frame to the built-in stream."""
        return self._stream().push(frame)

    def push_many(self, frames: Sequence[Frame]) -> Pcm | None:
        """Push several frames to the built-in stream (one forward call)."""
        return self._stream().push_many(frames)

    def flush(self) -> Pcm | None:
        """End the built-in stream; return its tail. The next push starts a new stream."""
        out = self._stream().flush()
        self._own = None
        return out

    def reset(self) -> None:
        """Drop the built-in stream's state."""
        self._own = None

    def _stream(self) -> SnacStream:
        if self._own is None:
            self._own = SnacStream(self)
        return self._own

    # -- internals

    def _run(self, work: list[tuple[SnacStreamState, list[Frame], bool]]) -> list[Pcm | None]:
        if len({id(state) for state, _, _ in work}) != len(work):
            raise ValueError("a stream state appears twice in one batch")
        for state, fr, _ in work:
            if state.finished:
                raise RuntimeError("this stream was already flushed")
            for f in fr:
                self._check_frame(f)
        for state, fr, flush in work:
            if flush:
                state.total_steps = state.latent_steps + LATENT_STEPS_PER_FRAME * len(fr)
        groups: dict[tuple[int, bool], list[int]] = {}
        for i, (state, fr, flush) in enumerate(work):
            steps = LATENT_STEPS_PER_FRAME * len(fr) + (self._flush_steps if flush else 0)
            if steps == 0 or (flush and state.total_steps == 0):
                continue
            groups.setdefault((len(fr), flush), []).append(i)
        results: list[Pcm | None] = [None] * len(work)
        with torch.inference_mode():
            for (n_frames, flush), members in groups.items():
                outs = self._forward(
                    [work[i][0] for i in members],
                    [work[i][1] for i in members],
                    n_frames,
                    self._flush_steps if flush else 0,
                )
                for i, out in zip(members, outs, strict=True):
                    results[i] = out
        return results

    def _check_frame(self, frame: Frame) -> None:
        if len(frame) != CODES_PER_FRAME:
            raise ValueError(f"a frame has {CODES_PER_FRAME} codes, got {len(frame)}")
        for code in frame:
            if not 0 <= code < self.codebook_size:
                raise ValueError(f"code {code} outside 0..{self.codebook_size - 1} in {frame}")

    def _latents(self, frames: list[list[Frame]], n_frames: int, extra: int) -> Tensor:
        batch = len(frames)
        steps = LATENT_STEPS_PER_FRAME * n_frames + extra
        dim = self._tables.shape[2]
        if n_frames == 0:
            return torch.zeros((batch, steps, dim), dtype=self.dtype, device=self.device)
        # index[b, level, t]: the code of `level` at latent step t (levels repeated).
        index = torch.tensor(
            [
                [[f[slot] for f in fr for slot in _SLOT_ORDER[level]] for level in range(3)]
                for fr in frames
            ],
            dtype=torch.long,
            device=self.device,
        )
        z = self._tables[0][index[:, 0]]
        z = z + self._tables[1][index[:, 1]]
        z = z + self._tables[2][index[:, 2]]  # (B, T, D): time-major
        if extra:
            z = F.pad(z, (0, 0, 0, extra))
        return z

    def _forward(
        self, states: list[SnacStreamState], frames: list[list[Frame]], n_frames: int, extra: int
    ) -> list[Pcm | None]:
        batch = len(states)
        steps = LATENT_STEPS_PER_FRAME * n_frames + extra
        positions = [s.latent_steps for s in states]
        totals = [s.total_steps for s in states]
        masking = any(
            p * self._out.rate < self._out.offset or t is not None
            for p, t in zip(positions, totals, strict=True)
        )
        if batch == 1:
            tensors = list(states[0].tensors)
        else:
            tensors = [
                torch.cat([s.tensors[i] for s in states]) for i in range(len(self._state_shapes))
            ]
        ctx = _Ctx(tensors, positions, totals, steps, self.noise, masking)
        x = self._latents(frames, n_frames, extra)
        y = self._graph.forward(x, ctx)  # (B, steps * rate, 1)
        audio = y[:, :, 0].to(device="cpu", dtype=torch.float32).numpy()
        out = self._out
        results: list[Pcm | None] = []
        for b, state in enumerate(states):
            if batch == 1:
                state.tensors = ctx.states
            else:
                state.tensors = [t[b : b + 1] for t in ctx.states]
            start = state.latent_steps * out.rate
            state.latent_steps += LATENT_STEPS_PER_FRAME * n_frames
            lo = max(0, out.offset + state.emitted - start)
            hi = audio.shape[1]
            if state.total_steps is not None:
                hi = min(hi, out.offset + out.rate * state.total_steps + out.const - start)
            if hi > lo:
                results.append(np.ascontiguousarray(audio[b, lo:hi]))
                state.emitted += hi - lo
            else:
                results.append(None)
        return results


# Per level, the Orpheus slots of a frame in latent-step order, repeated by the vq stride.
_SLOT_ORDER: tuple[tuple[int, ...], ...] = tuple(
    tuple(
        slot
        for pos in range(LATENT_STEPS_PER_FRAME // stride)
        for slot in [s for s, (lv, p) in enumerate(_SLOT_LEVELS) if lv == level and p == pos]
        for _ in range(stride)
    )
    for level, stride in enumerate(VQ_STRIDES)
)


class SnacStream:
    """One utterance's stream on a shared SnacStreamDecoder: push frames, then flush."""

    def __init__(self, decoder: SnacStreamDecoder) -> None:
        self.decoder = decoder
        self.state = decoder.new_state()

    def push(self, frame: Frame) -> Pcm | None:
        """Decode one frame; return the audio that became final, or None."""
        return self.decoder.step_batch([self.state], [frame])[0]

    def push_many(self, frames: Sequence[Frame]) -> Pcm | None:
        """Decode several frames in one forward call."""
        if not frames:
            return None
        return self.decoder.step_many([self.state], [frames])[0]

    def flush(self) -> Pcm | None:
        """End of stream: return the remaining audio, or None."""
        return self.decoder.step_batch([self.state], [None])[0]
