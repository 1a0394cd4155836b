"""How the `openai` backend fails: rejected keys at once, busy servers retried before
any audio, stalls and dropped connections ending the stream without repeating audio."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from tests.backends.openai_support import audio_s, errors, session, speak
from tests.support.openai_server import WORD_S, OpenAISpeechServer
from unmute.tts.base import RetryPolicy

Factory = Callable[..., OpenAISpeechServer]
TEXT = "One two three four five six."
KEY = "sk-very-secret-key"


async def test_a_rejected_key_is_an_error_naming_the_key_variable_without_retry(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(statuses_first=[401, 401, 401])
    tts = session(server.url, api_key=KEY)
    messages = await speak(tts, TEXT)
    [error] = errors(messages)
    assert "OPENAI_TTS_API_KEY" in error and "OPENAI_API_KEY" in error
    assert "HTTP 401" in error
    assert KEY not in error
    assert len(server.requests) == 1


async def test_a_429_then_200_is_retried_and_spoken_once(openai_server_factory: Factory) -> None:
    server = openai_server_factory(statuses_first=[429])
    tts = session(server.url)
    messages = await speak(tts, TEXT)
    assert errors(messages) == []
    assert len(server.requests) == 2
    assert tts.metrics.retries == 1
    assert audio_s(messages) == pytest.approx(len(TEXT.split()) * WORD_S, abs=0.01)


async def test_a_server_busy_past_the_budget_ends_the_stream_with_an_error(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(statuses_first=[503] * 100)
    retry = RetryPolicy(budget_s=0.5, initial_backoff_s=0.05, max_backoff_s=0.1)
    messages = await speak(session(server.url, retry=retry), TEXT)
    [error] = errors(messages)
    assert "not ready within 0.5 s" in error and "HTTP 503" in error
    assert "stand-in says 503" in error
    assert 2 < len(server.requests) < 100


async def test_a_server_that_cannot_be_reached_is_retried_then_reported() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    retry = RetryPolicy(budget_s=0.4, initial_backoff_s=0.05, max_backoff_s=0.1)
    tts = session(f"http://127.0.0.1:{port}/v1", retry=retry)
    messages = await speak(tts, TEXT)
    [error] = errors(messages)
    assert "cannot connect" in error and "not ready within 0.4 s" in error
    assert tts.metrics.retries >= 2


async def test_a_stall_after_audio_ends_the_stream_without_repeating(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(stall_after_s=0.5)
    tts = session(server.url, stall_timeout_s=0.3)
    messages = await speak(tts, TEXT)
    [error] = errors(messages)
    assert "OPENAI_TTS_STALL_TIMEOUT_S" in error
    assert len(server.requests) == 1
    assert audio_s(messages) <= 0.5 + 0.08


async def test_a_connection_dropped_mid_audio_ends_the_stream_without_repeating(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(drop_after_s=0.5)
    messages = await speak(session(server.url), TEXT)
    [error] = errors(messages)
    assert "lost after" in error
    assert len(server.requests) == 1
    assert audio_s(messages) <= 0.5 + 0.08


async def test_an_unknown_voice_is_an_error_with_the_servers_message(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(statuses_first=[400])
    messages = await speak(session(server.url), TEXT)
    [error] = errors(messages)
    assert "HTTP 400" in error and "stand-in says 400" in error
    assert len(server.requests) == 1


async def test_a_wrong_path_names_the_base_url_variable(openai_server_factory: Factory) -> None:
    server = openai_server_factory()
    messages = await speak(session(server.url + "/nothing/here"), TEXT)
    [error] = errors(messages)
    assert "HTTP 404" in error and "OPENAI_TTS_BASE_URL" in error


async def test_the_first_byte_timeout_is_retried_inside_the_budget(
    openai_server_factory: Factory,
) -> None:
    server = openai_server_factory(stall_after_s=0.0)
    retry = RetryPolicy(budget_s=0.6, initial_backoff_s=0.05, max_backoff_s=0.1)
    tts = session(server.url, retry=retry, first_byte_timeout_s=0.15)
    messages = await speak(tts, TEXT)
    [error] = errors(messages)
    assert "OPENAI_TTS_FIRST_BYTE_TIMEOUT_S" in error and "not ready within 0.6 s" in error
    assert len(server.requests) >= 2
