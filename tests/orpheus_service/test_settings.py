"""OrpheusSettings: variables, and the checks that name the variable at fault."""

from __future__ import annotations

import pytest

from orpheus_service.settings import OrpheusSettings

pytestmark = pytest.mark.usefixtures("isolated_env")


def test_settings_read_orpheus_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORPHEUS_LLAMA_ENDPOINT", "http://llama:9000/")
    monkeypatch.setenv("ORPHEUS_DEFAULT_VOICE", "Leah")
    settings = OrpheusSettings.load(_env_file=None)
    assert settings.llama_endpoint == "http://llama:9000"
    assert settings.default_voice == "leah"


def test_settings_reject_other_sample_rates_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_SAMPLE_RATE", "16000")
    with pytest.raises(ValueError, match="ORPHEUS_SAMPLE_RATE"):
        OrpheusSettings.load(_env_file=None)


def test_settings_reject_unknown_default_voice_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_DEFAULT_VOICE", "bob")
    with pytest.raises(ValueError, match="ORPHEUS_DEFAULT_VOICE"):
        OrpheusSettings.load(_env_file=None)


def test_settings_reject_a_bad_endpoint_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_LLAMA_ENDPOINT", "llama:8080/completion")
    with pytest.raises(ValueError, match="ORPHEUS_LLAMA_ENDPOINT"):
        OrpheusSettings.load(_env_file=None)


def test_settings_reject_a_segment_bound_past_the_token_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_MAX_TOKENS", "300")
    with pytest.raises(ValueError, match="ORPHEUS_SEGMENT_MAX_CHARS"):
        OrpheusSettings.load(_env_file=None)


def test_settings_api_key_is_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORPHEUS_API_KEY", "s3cret")
    settings = OrpheusSettings.load(_env_file=None)
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
