"""PackedLinear: the linear maps of the streaming layers equal `F.linear`, with the
oneDNN-packed weight or without it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from orpheus_service.snac import packed_linear as snac_packed_linear
from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.snac.packed_linear import PackedLinear
from tests.support.snac_models import (
    SMALL_SNAC_CONFIG,
    assert_close_to,
    full_decode,
    random_frames,
    random_snac,
    stitched,
    stream_chunks,
)


def weights(rows: int = 24, columns: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(rows, columns, generator=generator), torch.randn(rows, generator=generator)


@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (3, 40)])
def test_packed_linear_equals_f_linear_for_any_batch_and_length(shape: tuple[int, int]) -> None:
    weight, bias = weights()
    x = torch.randn(*shape, weight.shape[1], generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(
        PackedLinear(weight, bias, rows_hint=8)(x), F.linear(x, weight, bias)
    )


def test_a_linear_without_bias_equals_f_linear() -> None:
    weight, _ = weights()
    x = torch.randn(2, 5, weight.shape[1], generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(PackedLinear(weight, None, rows_hint=5)(x), F.linear(x, weight))


def test_a_weight_other_than_float32_on_the_cpu_is_not_packed() -> None:
    weight, bias = weights()
    linear = PackedLinear(weight.double(), bias.double(), rows_hint=8)
    x = torch.randn(1, 3, weight.shape[1], dtype=torch.float64)
    assert linear.packed is None
    torch.testing.assert_close(linear(x), F.linear(x, weight.double(), bias.double()))


def test_plain_linear_path_without_onednn_streams_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The path CUDA (and CPUs without oneDNN) take: F.linear everywhere.
    model = random_snac(SMALL_SNAC_CONFIG, tmp_path, noise=False)
    monkeypatch.setattr(snac_packed_linear, "onednn_pack", lambda *args: None)
    frames = random_frames(5, seed=9)
    got = stitched(stream_chunks(SnacStreamDecoder(model, noise=False), frames))
    assert_close_to(full_decode(model, frames), got)
