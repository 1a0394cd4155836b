"""How failures reach the client: ApiError's status and code, OpenAI's error body."""

from __future__ import annotations

import pytest

from orpheus_service.api.errors import ApiError, CapacityError, classify_error, error_body
from orpheus_service.engine.events import NoAudioError
from orpheus_service.llama.client import (
    LlamaHTTPError,
    LlamaProtocolError,
    LlamaTimeoutError,
    LlamaUnavailableError,
)
from orpheus_service.vocabulary.voices import UnknownVoiceError


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (UnknownVoiceError("no such voice"), 400, "unknown_voice"),
        (LlamaTimeoutError("stalled"), 504, "llama_timeout"),
        (LlamaUnavailableError("down"), 503, "llama_unavailable"),
        (LlamaProtocolError("garbage"), 502, "llama_bad_response"),
        (LlamaHTTPError(500, "boom"), 502, "llama_error"),
        (NoAudioError("silence"), 502, "no_audio"),
        (RuntimeError("bug"), 500, "internal_error"),
    ],
)
def test_each_failure_has_its_status_and_code(failure: Exception, status: int, code: str) -> None:
    error = classify_error(failure)
    assert (error.status, error.code) == (status, code)


def test_a_failure_is_found_behind_the_exception_that_wraps_it() -> None:
    try:
        try:
            raise LlamaUnavailableError("down")
        except LlamaUnavailableError as exc:
            raise RuntimeError("synthesis failed") from exc
    except RuntimeError as wrapped:
        assert classify_error(wrapped).code == "llama_unavailable"


def test_an_api_error_is_reported_as_it_is() -> None:
    error = ApiError(413, "too_long", "shorter, please", param="input")
    assert classify_error(error) is error


def test_a_capacity_error_starts_with_what_clients_read_as_try_again() -> None:
    error = CapacityError("this client holds its share")
    assert (error.status, error.message) == (429, "no free channels: this client holds its share")


def test_the_body_is_shaped_as_openais() -> None:
    assert error_body(400, "unknown_voice", "no", "voice") == {
        "error": {
            "message": "no",
            "type": "invalid_request_error",
            "param": "voice",
            "code": "unknown_voice",
        }
    }
    assert error_body(503, "llama_unavailable", "down")["error"]["type"] == "server_error"
