"""The backend registry: entry points, default rule, clear errors."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from unmute.tts import registry
from unmute.tts.registry import BackendSpec, UnknownBackendError
from unmute.tts.settings import SettingsError, TTSSettings, load_settings, reset_settings


@pytest.fixture
def third_party_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tiny installed distribution that registers backend `thirdparty`."""
    package = tmp_path / "thirdparty_tts"
    package.mkdir()
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """
            from unmute.tts.registry import BackendSpec

            def _create(voice):
                raise RuntimeError("not needed by the test")

            backend = BackendSpec(
                name="thirdparty", description="a third-party backend", create=_create
            )
            """
        )
    )
    dist_info = tmp_path / "thirdparty_tts-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thirdparty-tts\nVersion: 1.0\n"
    )
    (dist_info / "entry_points.txt").write_text(
        "[unmute.tts_backends]\nthirdparty = thirdparty_tts:backend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.refresh()
    yield tmp_path
    sys.modules.pop("thirdparty_tts", None)
    monkeypatch.undo()
    registry.refresh()


def test_built_in_backends_are_registered_through_entry_points() -> None:
    assert {"espeak", "fixture"} <= set(registry.list_backends())


def test_third_party_backend_is_found_by_name(third_party_package: Path) -> None:
    spec = registry.get_backend("thirdparty")
    assert isinstance(spec, BackendSpec)
    assert spec.description == "a third-party backend"


def test_unknown_backend_error_lists_available_names() -> None:
    with pytest.raises(UnknownBackendError) as info:
        registry.get_backend("nope")
    assert "espeak" in str(info.value) and "fixture" in str(info.value)


def test_explicit_setting_picks_the_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", "fixture")
    assert registry.resolve_backend_name()[0] == "fixture"


def test_unknown_backend_in_environment_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNMUTE_TTS_BACKEND", "nope")
    with pytest.raises(UnknownBackendError, match="UNMUTE_TTS_BACKEND"):
        registry.resolve_backend_name()


def test_default_is_espeak_without_a_service_url_or_a_piper_voice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIPER_VOICE", "/nonexistent/voice.onnx")  # piper unusable
    monkeypatch.delenv("UNMUTE_TTS_BACKEND", raising=False)
    monkeypatch.delenv("ORPHEUS_FASTAPI_URL", raising=False)
    monkeypatch.delenv("KYUTAI_TTS_URL", raising=False)
    registry.refresh()
    name, reason = registry.resolve_backend_name()
    assert name == "espeak"
    assert reason


def test_default_choice_is_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("UNMUTE_TTS_BACKEND", raising=False)
    monkeypatch.delenv("ORPHEUS_FASTAPI_URL", raising=False)
    monkeypatch.delenv("KYUTAI_TTS_URL", raising=False)
    registry.refresh()
    with caplog.at_level("INFO", logger="unmute.tts.registry"):
        registry.resolve_backend_name()
        registry.resolve_backend_name()
    assert sum("chosen by default" in r.message for r in caplog.records) == 1


def test_kyutai_url_makes_kyutai_the_default_below_orpheus(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("UNMUTE_TTS_BACKEND", raising=False)
    monkeypatch.delenv("ORPHEUS_FASTAPI_URL", raising=False)
    monkeypatch.setenv("KYUTAI_TTS_URL", "ws://127.0.0.1:8089")
    registry.refresh()
    assert registry.resolve_backend_name()[0] == "kyutai"
    monkeypatch.setenv("ORPHEUS_FASTAPI_URL", "http://127.0.0.1:8000")
    reset_settings()
    registry.refresh()
    assert registry.resolve_backend_name()[0] == "orpheus"


def test_invalid_setting_error_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNMUTE_TTS_STARTUP_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError, match="UNMUTE_TTS_STARTUP_TIMEOUT_S"):
        load_settings(TTSSettings)
