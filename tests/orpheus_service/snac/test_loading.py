"""load_snac: a SNAC model from a folder or the hub, ready for streaming (eval, no
gradients, weight norm folded, noise blocks kept or removed), with errors that say
what is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from snac.layers import NoiseBlock

from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.snac.loading import SnacLoadError, disable_noise, fold_weight_norm, load_snac
from tests.support.snac_models import (
    SMALL_SNAC_CONFIG,
    assert_close_to,
    build_random_snac,
    full_decode,
    random_frames,
    random_snac,
    save_random_snac,
    stitched,
    stream_chunks,
)


def test_noise_off_matches_the_full_decode_of_a_model_without_noise_blocks(
    tmp_path: Path,
) -> None:
    model = random_snac(SMALL_SNAC_CONFIG, tmp_path, noise=True)
    frames = random_frames(5, seed=4)
    got = stitched(stream_chunks(SnacStreamDecoder(model, noise=False), frames))
    disable_noise(model)
    assert_close_to(full_decode(model, frames), got)


def test_load_snac_round_trips_a_folder(tmp_path: Path) -> None:
    save_random_snac(SMALL_SNAC_CONFIG, tmp_path, seed=3)
    loaded = load_snac(str(tmp_path), device="cpu", noise=False)
    original = build_random_snac(SMALL_SNAC_CONFIG, seed=3)
    disable_noise(original)
    frames = random_frames(3)
    np.testing.assert_allclose(
        full_decode(loaded, frames), full_decode(original, frames), rtol=0, atol=1e-6
    )
    assert not loaded.training
    assert not any(isinstance(m, NoiseBlock) for m in loaded.modules())
    assert all(not p.requires_grad for p in loaded.parameters())


def test_load_snac_keeps_noise_blocks_by_default(tmp_path: Path) -> None:
    save_random_snac(SMALL_SNAC_CONFIG, tmp_path)
    loaded = load_snac(tmp_path, device="cpu")
    assert sum(isinstance(m, NoiseBlock) for m in loaded.modules()) == 4


def test_folding_weight_norm_is_exact() -> None:
    model = build_random_snac(SMALL_SNAC_CONFIG, seed=1)
    disable_noise(model)
    frames = random_frames(4)
    before = full_decode(model, frames)
    assert fold_weight_norm(model) > 0
    assert not any(torch.nn.utils.parametrize.is_parametrized(m) for m in model.modules())
    np.testing.assert_allclose(full_decode(model, frames), before, rtol=0, atol=1e-6)


def test_load_snac_names_what_is_missing_in_a_folder(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(SnacLoadError, match=r"pytorch_model\.bin"):
        load_snac(tmp_path, device="cpu")


def test_load_snac_explains_a_source_that_is_neither_folder_nor_hub_id(
    tmp_path: Path,
) -> None:
    with pytest.raises(SnacLoadError, match="not a local folder"):
        load_snac(str(tmp_path / "no" / "such" / "model"), device="cpu")
