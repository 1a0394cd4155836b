"""load_settings: errors name the variable and never quote a secret; env_var names it."""

from __future__ import annotations

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from unmute.tts.settings import SettingsError, env_var, load_settings, reset_settings


class DemoSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore")

    api_key: SecretStr | None = Field(default=None, min_length=8)
    timeout_s: float = 1.0


def test_env_var_is_the_prefix_and_the_field_in_capitals() -> None:
    assert env_var(DemoSettings, "timeout_s") == "DEMO_TIMEOUT_S"


def test_an_error_names_the_variable_and_quotes_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError, match=r"DEMO_TIMEOUT_S: .* \(got 'soon'\)"):
        load_settings(DemoSettings)


def test_a_field_named_secret_is_never_quoted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_API_KEY", "short")
    with pytest.raises(SettingsError) as caught:
        load_settings(DemoSettings, secret=("api_key",))
    assert "DEMO_API_KEY" in str(caught.value)
    assert "short" not in str(caught.value)
    assert "a hidden value" in str(caught.value)


def test_a_password_inside_a_url_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_TIMEOUT_S", "https://user:hunter2@example.com")
    with pytest.raises(SettingsError) as caught:
        load_settings(DemoSettings)
    assert "hunter2" not in str(caught.value)
    assert "https://user:***@example.com" in str(caught.value)


def test_settings_are_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_TIMEOUT_S", "2")
    first = load_settings(DemoSettings)
    monkeypatch.setenv("DEMO_TIMEOUT_S", "3")
    assert load_settings(DemoSettings) is first
    assert first.timeout_s == 2.0


def test_reset_settings_reads_the_environment_again(monkeypatch: pytest.MonkeyPatch) -> None:
    load_settings(DemoSettings)
    monkeypatch.setenv("DEMO_TIMEOUT_S", "3")
    reset_settings()
    assert load_settings(DemoSettings).timeout_s == 3.0


def test_overrides_make_a_new_object_and_leave_the_cached_one() -> None:
    cached = load_settings(DemoSettings)
    overridden = load_settings(DemoSettings, timeout_s=5.0)
    assert overridden.timeout_s == 5.0
    assert load_settings(DemoSettings) is cached
    assert cached.timeout_s == 1.0


def test_an_invalid_environment_is_not_cached(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_TIMEOUT_S", "soon")
    with pytest.raises(SettingsError):
        load_settings(DemoSettings)
    monkeypatch.setenv("DEMO_TIMEOUT_S", "4")
    assert load_settings(DemoSettings).timeout_s == 4.0
