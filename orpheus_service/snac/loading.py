"""Load a SNAC codec for decoding: folder or hub id, weight norm folded, eval mode.

`load_snac(source, device=None, noise=True)`:

- `source` is a local folder holding `config.json` and `pytorch_model.bin` (the
  layout of the hub repositories, e.g. `hubertsiuzdak/snac_24khz`), or a hub id,
  which needs the network (or a warm Hugging Face cache). `SnacLoadError` says
  what was tried when neither works.
- Weight norm is folded into plain weights (bit-identical output, less work per call):
  the parametrizations of a freshly built model are removed with
  `leave_parametrized=True` (or the old-style `weight_g`/`weight_v` hooks are
  removed, whichever the installed `snac` uses).
- The model is put in eval mode on `device` (CUDA when available, else CPU).
- `noise=False` replaces the decoder's NoiseBlocks by identities: decoding is
  then deterministic (tests compare decoders that way). Production keeps the
  noise on, as the model was trained.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch
from snac import SNAC  # pyright: ignore[reportMissingTypeStubs]
from snac.layers import NoiseBlock  # pyright: ignore[reportMissingTypeStubs]
from torch import nn
from torch.nn.utils import parametrize

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "pytorch_model.bin"

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "SnacLoadError",
    "default_device",
    "disable_noise",
    "fold_weight_norm",
    "load_snac",
]


class SnacLoadError(RuntimeError):
    """The SNAC model could be loaded neither from a folder nor from the hub."""


def default_device() -> str:
    """The default device: "cuda" when CUDA is available, else "cpu"."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def fold_weight_norm(model: nn.Module) -> int:
    """Fold every weight-norm reparametrization of `model` into a plain weight.

    Works in place and returns how many modules were folded. Call it on a freshly
    built (or freshly loaded) model, not on a deep copy of a parametrized one.
    """
    folded = 0
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            names = list(cast(nn.ModuleDict, module.parametrizations).keys())
            for name in names:
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
            folded += 1
        elif hasattr(module, "weight_g") and hasattr(module, "weight_v"):
            # Old-style torch.nn.utils.weight_norm (a forward pre-hook).
            torch.nn.utils.remove_weight_norm(module)
            folded += 1
    return folded


def disable_noise(model: nn.Module) -> int:
    """Replace every SNAC NoiseBlock in `model` by an identity; returns the count."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, NoiseBlock):
                setattr(parent, name, nn.Identity())
                replaced += 1
    return replaced


def _read_config(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        config = json.load(f)
    if not isinstance(config, dict):
        raise SnacLoadError(f"{path} does not hold a JSON object")
    return cast(dict[str, Any], config)


def _hub_files(source: str) -> tuple[Path, Path]:
    try:
        import huggingface_hub
    except ImportError as exc:  # pragma: no cover - huggingface_hub ships with snac
        raise SnacLoadError(
            f"SNAC source {source!r} is not a local folder and huggingface_hub is missing"
        ) from exc
    download = cast(
        Callable[..., str],
        huggingface_hub.hf_hub_download,  # pyright: ignore[reportUnknownMemberType]
    )
    try:
        config_path = download(repo_id=source, filename=CONFIG_FILE)
        weights_path = download(repo_id=source, filename=WEIGHTS_FILE)
    except Exception as exc:
        raise SnacLoadError(
            f"SNAC source {source!r} is not a local folder holding {CONFIG_FILE} and "
            f"{WEIGHTS_FILE}, and downloading it as a hub id failed "
            f"({type(exc).__name__}: {exc}). Download the model once into a folder "
            "and pass the folder."
        ) from exc
    return Path(config_path), Path(weights_path)


def _local_files(folder: Path) -> tuple[Path, Path]:
    config_path = folder / CONFIG_FILE
    weights_path = folder / WEIGHTS_FILE
    missing = [p.name for p in (config_path, weights_path) if not p.is_file()]
    if missing:
        raise SnacLoadError(f"SNAC folder {str(folder)!r} lacks {', '.join(missing)}")
    return config_path, weights_path


def load_snac(
    source: str | os.PathLike[str], device: str | None = None, *, noise: bool = True
) -> SNAC:
    """Load SNAC from a folder or a hub id; weight norm folded, eval mode, on `device`.

    `device` None picks CUDA when available, else CPU. `noise=False` replaces the
    decoder's noise blocks by identities (deterministic decoding).
    """
    folder = Path(source)
    if folder.is_dir():
        config_path, weights_path = _local_files(folder)
    else:
        config_path, weights_path = _hub_files(str(source))
    config = _read_config(config_path)
    try:
        model = SNAC(**config)
    except TypeError as exc:
        raise SnacLoadError(f"{config_path} is not a SNAC config: {exc}") from exc
    try:
        state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state_dict)
    except Exception as exc:
        raise SnacLoadError(f"cannot load SNAC weights from {weights_path}: {exc}") from exc
    fold_weight_norm(model)
    if not noise:
        disable_noise(model)
    model.eval()
    model.requires_grad_(False)
    return model.to(device or default_device())
