"""The streaming layers: fed a signal in chunks, each gives what its PyTorch layer gives
on the whole signal (convolutions causal, delayed by their padding), and the snake's
three modes compute the same function."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from snac.layers import Snake1d
from torch import Tensor, nn

from orpheus_service.snac.stream_ops import (
    ForwardContext,
    StatefulStreamOp,
    StreamConv,
    StreamConvTranspose,
    StreamSnake,
    StreamTiming,
    snake_alpha_foldable,
)

TIMING = StreamTiming(rate=1, const=0, offset=0)
CHUNKS = (1, 4, 2, 7)


def context(state: Tensor, *, masking: bool = False, steps: int = 1) -> ForwardContext:
    return ForwardContext(
        states=[state], positions=[0], totals=[None], steps=steps, noise=False, masking=masking
    )


def streamed(op: StatefulStreamOp, x: Tensor, state: Tensor) -> Tensor:
    """`x` (batch, time, channels) fed to `op` in CHUNKS, the outputs joined."""
    ctx = context(state)
    outputs: list[Tensor] = []
    start = 0
    for size in CHUNKS:
        outputs.append(op.forward(x[:, start : start + size], ctx))
        start += size
    return torch.cat(outputs, dim=1)


def signal(channels: int, seed: int = 0) -> Tensor:
    return torch.randn(2, sum(CHUNKS), channels, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("groups", [1, 3], ids=["dense", "depthwise"])
def test_a_convolution_in_chunks_equals_the_causal_convolution(groups: int) -> None:
    torch.manual_seed(0)
    conv = nn.Conv1d(3, 3, kernel_size=3, dilation=2, groups=groups)
    op = StreamConv(conv, index=0, timing=TIMING, rows_hint=4)
    x = signal(3)
    history = (conv.kernel_size[0] - 1) * conv.dilation[0]
    got = streamed(op, x, torch.zeros(2, history, 3))
    with torch.no_grad():
        want = conv(F.pad(x.transpose(1, 2), (history, 0))).transpose(1, 2)
    torch.testing.assert_close(got, want)


def test_a_transposed_convolution_in_chunks_equals_the_full_one() -> None:
    torch.manual_seed(0)
    stride = 4
    conv = nn.ConvTranspose1d(3, 2, kernel_size=2 * stride, stride=stride)
    op = StreamConvTranspose(conv, index=0, timing=TIMING, rows_hint=4)
    x = signal(3, seed=1)
    got = streamed(op, x, torch.zeros(2, stride, 2))
    with torch.no_grad():
        want = conv(x.transpose(1, 2)).transpose(1, 2)
    # Each input completes `stride` output samples; the last block is still pending.
    torch.testing.assert_close(got, want[:, : x.shape[1] * stride])


def test_the_exact_snake_is_snacs_snake() -> None:
    torch.manual_seed(0)
    snake = Snake1d(4)
    with torch.no_grad():
        snake.alpha.uniform_(0.5, 2.0)
        x = signal(4)
        want = snake(x.transpose(1, 2)).transpose(1, 2)
    got = StreamSnake(snake.alpha).forward(x, context(torch.zeros(0)))
    torch.testing.assert_close(got, want)


def test_the_scaled_snakes_give_alpha_times_the_exact_snake() -> None:
    alpha = torch.linspace(0.5, 2.0, 4).view(1, 4, 1)
    x = signal(4)
    exact = StreamSnake(alpha).apply(x.clone())
    scaled = StreamSnake(alpha, mode="scaled").apply(x.clone())
    prescaled = StreamSnake(alpha, mode="prescaled").apply(x * alpha.view(-1))
    torch.testing.assert_close(scaled, exact * alpha.view(-1))
    torch.testing.assert_close(prescaled, exact * alpha.view(-1))


@pytest.mark.parametrize(
    ("alpha", "foldable"),
    [(1.0, True), (1e-3, True), (1e-5, False), (float("inf"), False), (float("nan"), False)],
)
def test_only_finite_alphas_not_too_small_fold_into_the_next_layer(
    alpha: float, foldable: bool
) -> None:
    assert snake_alpha_foldable(torch.tensor([1.0, alpha])) is foldable


def test_no_mask_while_no_stream_starts_or_ends() -> None:
    assert context(torch.zeros(0), steps=4).mask(StreamTiming(2, 0, 3)) is None


def test_the_mask_hides_the_samples_before_a_stream_starts_and_after_it_ends() -> None:
    ctx = ForwardContext(
        states=[torch.zeros(0)],
        positions=[0, 2],
        totals=[None, 3],
        steps=2,
        noise=False,
        masking=True,
    )
    mask = ctx.mask(StreamTiming(rate=2, const=0, offset=1))
    assert mask is not None
    # Position q holds true time q - 1. Stream 0 starts here: its first sample (true
    # time -1) is outside it. Stream 1 (3 steps: true times 0..5) gets positions 4..7,
    # true times 3..6: the last is past its end.
    assert mask[:, :, 0].tolist() == [[False, True, True, True], [True, True, True, False]]
