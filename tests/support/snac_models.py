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

import torch
from snac import SNAC

from orpheus_service.snac.loading import CONFIG_FILE, WEIGHTS_FILE, load_snac

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
