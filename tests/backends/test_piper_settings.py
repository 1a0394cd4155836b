"""The piper backend's settings: read from PIPER_* variables (empty ones unset), a speed
outside piper's range refused naming the variable, and the voice folder defaulting to
the user cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.piper.settings import BUNDLED_VOICE, load_piper_settings
from unmute.tts.settings import SettingsError

pytestmark = pytest.mark.usefixtures("isolated_env")


def test_unset_the_bundled_voice_at_normal_speed_speaks() -> None:
    settings = load_piper_settings()
    assert (settings.voice, settings.speed, settings.speaker) == (BUNDLED_VOICE, 1.0, None)


def test_the_variables_set_voice_speaker_speed_and_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PIPER_VOICE", "en_GB-alba-medium")
    monkeypatch.setenv("PIPER_SPEAKER", "3")
    monkeypatch.setenv("PIPER_SPEED", "1.5")
    monkeypatch.setenv("PIPER_VOICE_DIR", str(tmp_path))
    settings = load_piper_settings()
    assert (settings.voice, settings.speaker, settings.speed) == ("en_GB-alba-medium", "3", 1.5)
    assert settings.voice_folder() == tmp_path


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPER_VOICE", "")
    assert load_piper_settings().voice == BUNDLED_VOICE


@pytest.mark.parametrize("speed", ["0.1", "5", "fast"])
def test_a_speed_outside_pipers_range_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, speed: str
) -> None:
    monkeypatch.setenv("PIPER_SPEED", speed)
    with pytest.raises(SettingsError, match="PIPER_SPEED"):
        load_piper_settings()


def test_without_a_folder_voices_go_to_the_user_cache() -> None:
    folder = load_piper_settings().voice_folder()
    assert folder.parts[-2:] == ("unmute-tts", "piper-voices")
