"""What every service client configures the same way: URL check, key, retry policy."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from pydantic import SecretStr

from unmute.tts.service_settings import (
    HTTP_SCHEMES,
    WS_SCHEMES,
    ServiceClientSettings,
    check_service_url,
)
from unmute.tts.settings import SettingsError, settings_config


class DemoClientSettings(ServiceClientSettings):
    model_config = settings_config("DEMO_SERVICE_")


def check(value: str, schemes: Mapping[str, str] = WS_SCHEMES) -> str:
    return check_service_url(
        value, example="http://127.0.0.1:8000", credentials_hint="set DEMO_KEY", schemes=schemes
    )


def test_a_url_with_a_scheme_and_host_passes_unchanged() -> None:
    assert check("wss://tts.example.com/api") == "wss://tts.example.com/api"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://tts.example.com", "must be an http://, https://, ws:// or wss:// URL"),
        ("http://", "must be an"),
        ("http://user:pw@tts.example.com", "must not hold credentials; set DEMO_KEY"),
        ("http://tts.example.com/?key=1", "must not have a query"),
    ],
)
def test_a_bad_url_names_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("?", r"\?")):
        check(url)


def test_http_only_schemes_refuse_websocket_urls() -> None:
    with pytest.raises(ValueError, match=r"must be an http:// or https:// URL"):
        check("ws://tts.example.com", schemes=HTTP_SCHEMES)


def test_a_blank_url_is_unset() -> None:
    assert DemoClientSettings.checked_url("  ") is None


def test_the_key_is_masked_in_messages() -> None:
    settings = DemoClientSettings(api_key=SecretStr("sk-secret-1234"))
    assert settings.redact("refused sk-secret-1234") == "refused ***"


def test_a_bad_value_is_a_settings_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEMO_SERVICE_STALL_TIMEOUT_S", "-1")
    with pytest.raises(SettingsError, match="DEMO_SERVICE_STALL_TIMEOUT_S"):
        DemoClientSettings.load()


def test_the_start_up_budget_defaults_to_unmutes_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UNMUTE_TTS_STARTUP_TIMEOUT_S", "7")
    assert DemoClientSettings.load().retry_policy().budget_s == 7.0
    assert DemoClientSettings.load(startup_budget_s=2.0).retry_policy().budget_s == 2.0


def test_the_longest_backoff_is_never_below_the_first() -> None:
    settings = DemoClientSettings(retry_initial_backoff_s=1.0, retry_max_backoff_s=0.5)
    policy = settings.retry_policy()
    assert (policy.initial_backoff_s, policy.max_backoff_s) == (1.0, 1.0)
