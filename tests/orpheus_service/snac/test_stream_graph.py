"""The streaming graph built from a SNAC model: each layer kind it meets streams
exactly (against SNAC's own full decode), and what it cannot stream is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from snac import SNAC
from snac.layers import Snake1d

from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.snac.stream_graph import UnsupportedSnacModel
from tests.support.snac_models import (
    SMALL_SNAC_CONFIG,
    assert_close_to,
    full_decode,
    random_frames,
    random_snac,
    stitched,
    stream_chunks,
)


def test_model_with_attention_is_refused() -> None:
    torch.manual_seed(0)
    model = SNAC(**{**SMALL_SNAC_CONFIG, "attn_window_size": 4})
    with pytest.raises(UnsupportedSnacModel, match="attention"):
        SnacStreamDecoder(model)


def test_dense_convolutions_stream_exactly(tmp_path: Path) -> None:
    model = random_snac({**SMALL_SNAC_CONFIG, "depthwise": False}, tmp_path, noise=False)
    frames = random_frames(6, seed=7)
    got = stitched(stream_chunks(SnacStreamDecoder(model, noise=False), frames))
    assert_close_to(full_decode(model, frames), got)


def test_snakes_with_tiny_alphas_stream_exactly(tmp_path: Path) -> None:
    # Alphas too small to fold into the next layer take the exact snake formula.
    model = random_snac(SMALL_SNAC_CONFIG, tmp_path, noise=False)
    with torch.no_grad():
        for module in model.decoder.modules():
            if isinstance(module, Snake1d):
                module.alpha[0, 0, 0] = 1e-5
    frames = random_frames(5, seed=8)
    got = stitched(stream_chunks(SnacStreamDecoder(model, noise=False), frames))
    assert_close_to(full_decode(model, frames), got)
