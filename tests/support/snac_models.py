"""SNAC models with random weights for tests (the real weights cannot be downloaded here).

`SNAC_24KHZ_CONFIG` is the architecture of `hubertsiuzdak/snac_24khz` (the codec of
Orpheus); `SMALL_SNAC_CONFIG` is the same architecture (same strides, kernels,
depthwise convs, noise blocks, hop 512, codebooks 4096 x 8, vq strides 4/2/1) with
far fewer channels, for tests where only the structure matters.

`save_random_snac(config, folder)` builds the architecture with random weights
(weight norm still in place, as the published checkpoint is) and writes the hub
layout (config.json + pytorch_model.bin) into `folder`; `random_snac(...)` does
that and loads it back through `load_snac`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from snac import SNAC

from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.snac.loading import CONFIG_FILE, WEIGHTS_FILE, load_snac
from orpheus_service.vocabulary.tokens import Frame

SNAC_24KHZ_CONFIG: dict[str, Any] = {
    "sampling_rate": 24000,
    "encoder_dim": 48,
    "encoder_rates": [2, 4, 8, 8],
    "decoder_dim": 1024,
    "decoder_rates": [8, 8, 4, 2],
    "attn_window_size": None,
    "codebook_size": 4096,
    "codebook_dim": 8,
    "vq_strides": [4, 2, 1],
    "noise": True,
    "depthwise": True,
}

SMALL_SNAC_CONFIG: dict[str, Any] = {
    **SNAC_24KHZ_CONFIG,
    "encoder_dim": 4,  # latent_dim = 4 * 16 = 64
    "decoder_dim": 64,  # channels 64 -> 32 -> 16 -> 8 -> 4
}


def build_random_snac(config: dict[str, Any], seed: int = 0) -> SNAC:
    """Build `config` with random weights (weight norm in place, eval mode).

    Beyond PyTorch's default init, the Snake alphas, weight-norm gains and
    biases are randomized too, so that a decoder mixing up layers would show.
    """
    torch.manual_seed(seed)
    model = SNAC(**config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("alpha"):
                param.uniform_(0.5, 2.0)
            elif name.endswith("original0"):  # weight-norm gain g
                param.mul_(torch.empty_like(param).uniform_(0.5, 1.5))
            elif name.endswith("bias"):
                param.normal_(0.0, 0.05)
    return model.eval()


def save_random_snac(config: dict[str, Any], folder: Path, seed: int = 0) -> Path:
    """Write a random-weight SNAC of `config` in the hub layout into `folder`."""
    model = build_random_snac(config, seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / CONFIG_FILE).write_text(json.dumps(config), encoding="utf-8")
    torch.save(model.state_dict(), folder / WEIGHTS_FILE)
    return folder


def random_snac(
    config: dict[str, Any], folder: Path, *, seed: int = 0, noise: bool = False
) -> SNAC:
    """Save a random SNAC of `config` into `folder` and load it back on the CPU."""
    save_random_snac(config, folder, seed)
    return load_snac(str(folder), device="cpu", noise=noise)


# -- decoding helpers ------------------------------------------------------------

TOLERANCE = 1e-4
"""Largest streaming error allowed, as a fraction of the reference's peak."""


def random_frames(n: int, seed: int = 0) -> list[Frame]:
    """`n` frames of random codes."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 4096, size=(n, 7))
    return [
        (int(a), int(b), int(c), int(d), int(e), int(f), int(g)) for a, b, c, d, e, f, g in codes
    ]


def level_codes(frames: list[Frame]) -> list[torch.Tensor]:
    """Orpheus slot order -> SNAC's three code levels."""
    l0 = [f[0] for f in frames]
    l1 = [c for f in frames for c in (f[1], f[4])]
    l2 = [c for f in frames for c in (f[2], f[3], f[5], f[6])]
    return [torch.tensor([level], dtype=torch.long) for level in (l0, l1, l2)]


def full_decode(model: Any, frames: list[Frame]) -> np.ndarray:
    """SNAC's own decode of the whole sequence (the reference)."""
    with torch.inference_mode():
        return model.decode(level_codes(frames))[0, 0].numpy()


def stream_chunks(decoder: SnacStreamDecoder, frames: list[Frame]) -> list[np.ndarray | None]:
    """What each push returns, then what flush returns (last)."""
    stream = decoder.new_stream()
    return [stream.push(f) for f in frames] + [stream.flush()]


def stitched(chunks: list[np.ndarray | None]) -> np.ndarray:
    """The chunks joined, the Nones left out."""
    parts = [c for c in chunks if c is not None]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def assert_close_to(reference: np.ndarray, got: np.ndarray) -> None:
    """`got` has the shape of `reference` and is within TOLERANCE of its peak."""
    assert got.shape == reference.shape
    peak = float(np.abs(reference).max())
    assert peak > 0
    err = float(np.abs(got - reference).max())
    assert err <= TOLERANCE * peak, f"max error {err:.3g} = {err / peak:.3g} of the peak"
