"""The `kyutai` backend against a local stand-in of Kyutai's TTS server (moshi-server).

The stand-in (`tests/support/kyutai_server.py`) records what the client sent: the
path, query, headers and messages, so these tests check the wire details unmute's own
client has: query, key header, dropped empty Text, capacity refusals, custom voices.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import msgpack  # pyright: ignore[reportMissingTypeStubs]
import pytest

from backends.kyutai import backend
from backends.kyutai.client import KyutaiTextToSpeech
from backends.kyutai.settings import KyutaiClientSettings
from tests.support.kyutai_server import NO_FREE_CHANNELS, KyutaiTTSServer
from unmute.tts import upstream
from unmute.tts.base import AtCapacityError, BackendError, RetryPolicy
from unmute.tts.conformance import speak
from unmute.tts.protocol import TTSAudioMessage, TTSErrorMessage, TTSTextMessage
from unmute.tts.websocket_client import ServiceAuthError

ServerFactory = Callable[..., KyutaiTTSServer]


@pytest.fixture(autouse=True)
def outside_unmute(isolated_env: None) -> Iterator[None]:
    """No project variable or .env file of the machine, and no upstream module found before,
    reaches these tests."""
    upstream.refresh()
    yield
    upstream.refresh()


def client(
    server: KyutaiTTSServer, voice: str | None = None, **settings: Any
) -> KyutaiTextToSpeech:
    values: dict[str, Any] = {"url": server.url, "startup_budget_s": 2.0}
    values.update(settings)
    return KyutaiTextToSpeech(voice, settings=KyutaiClientSettings(**values))


# -- the wire, as unmute's client speaks it ----------------------------------------------


async def test_query_and_key_header_are_unmutes(kyutai_server: KyutaiTTSServer) -> None:
    await speak(client(kyutai_server, "unmute-prod-website/p329_022.wav"), "Hello there.")
    connection = kyutai_server.connections[0]
    assert connection.path == "/api/tts_streaming"
    assert connection.query == {
        "format": "PcmMessagePack",
        "voice": "unmute-prod-website/p329_022.wav",
        "cfg_alpha": "1.5",
    }
    assert connection.headers["kyutai-api-key"] == "public_token"


async def test_sends_each_word_as_text_then_eos(kyutai_server: KyutaiTTSServer) -> None:
    await speak(client(kyutai_server), "one two three")
    connection = kyutai_server.connections[0]
    assert connection.texts == ["one", "two", "three"] and connection.got_eos


async def test_speaks_words_with_audio_and_drops_the_empty_text(
    kyutai_server: KyutaiTTSServer,
) -> None:
    messages = await speak(client(kyutai_server), "one two three")
    assert {"type": "Text", "text": "", "start_s": 0.0, "stop_s": 0.0} in (
        kyutai_server.connections[0].sent
    )
    words = [m for m in messages if isinstance(m, TTSTextMessage)]
    assert [w.text for w in words] == ["one", "two", "three"]
    assert sum(isinstance(m, TTSAudioMessage) for m in messages) > 3
    assert not any(isinstance(m, TTSErrorMessage) for m in messages)


async def test_the_key_is_configurable(kyutai_server_factory: ServerFactory) -> None:
    server = kyutai_server_factory(api_key="s3cret")
    await speak(client(server, api_key="s3cret"), "hello")
    assert server.connections[0].headers["kyutai-api-key"] == "s3cret"


async def test_a_wrong_key_fails_at_once_naming_the_variable(
    kyutai_server_factory: ServerFactory,
) -> None:
    server = kyutai_server_factory(api_key="s3cret")
    tts = client(server)
    with pytest.raises(ServiceAuthError, match="KYUTAI_TTS_API_KEY") as caught:
        await tts.start_up()
    assert tts.connections == 1 and "public_token" not in str(caught.value)


async def test_no_free_channels_before_ready_is_a_capacity_refusal_retried(
    kyutai_server_factory: ServerFactory,
) -> None:
    server = kyutai_server_factory(max_sessions=0)
    # a budget that leaves room for retries on a loaded machine
    tts = client(server, startup_budget_s=1.5)
    tts.retry = RetryPolicy(budget_s=1.5, initial_backoff_s=0.05)
    with pytest.raises(BackendError, match=NO_FREE_CHANNELS):
        await tts.start_up()
    assert tts.connections >= 2
    assert all(isinstance(e, AtCapacityError) for e in tts.startup_errors)


async def test_any_error_before_ready_counts_as_capacity(
    kyutai_server_factory: ServerFactory,
) -> None:
    server = kyutai_server_factory(max_sessions=0)
    tts = client(server, startup_budget_s=0.3)
    with pytest.raises(BackendError):
        await tts.start_up()
    assert isinstance(tts.startup_errors[0], AtCapacityError)


async def test_connection_refused_is_retried_then_reported(kyutai_server: KyutaiTTSServer) -> None:
    port = kyutai_server.port
    kyutai_server.stop()
    tts = KyutaiTextToSpeech(
        settings=KyutaiClientSettings(url=f"ws://127.0.0.1:{port}", startup_budget_s=0.5)
    )
    with pytest.raises(BackendError, match=r"not ready within 0.5 s.*cannot connect"):
        await tts.start_up()


async def test_the_instance_url_wins_over_the_setting(
    kyutai_server: KyutaiTTSServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KYUTAI_TTS_URL", "ws://127.0.0.1:9")
    assert backend.create_at is not None
    tts = backend.create_at(kyutai_server.url, None)
    await speak(tts, "hello")
    assert kyutai_server.connections[0].texts == ["hello"]


async def test_closing_mid_stream_closes_the_connection(kyutai_server: KyutaiTTSServer) -> None:
    tts = client(kyutai_server)
    await tts.start_up()
    await tts.send("hello")
    async for message in tts:
        if isinstance(message, TTSAudioMessage):
            await tts.shutdown()
    assert await asyncio.to_thread(kyutai_server.wait_all_closed, 2)


# -- custom voices ----------------------------------------------------------------------


class VoiceCache:
    def __init__(self, entries: dict[str, bytes]) -> None:
        self.entries = entries

    def get(self, key: str) -> bytes | None:
        return self.entries.get(key)


def voice_message() -> bytes:
    packb: Any = msgpack.packb  # pyright: ignore[reportUnknownMemberType]
    data: bytes = packb({"type": "Voice", "embeddings": [0.5, -0.5], "shape": [1, 2]})
    return data


@pytest.fixture
def voice_cache(monkeypatch: pytest.MonkeyPatch) -> VoiceCache:
    """A stand-in for unmute's `unmute.tts.voice_cloning` with its embeddings cache."""
    cache = VoiceCache({"custom:abc": voice_message()})
    module = ModuleType(upstream.VOICE_CLONING)
    module.voice_embeddings_cache = cache  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, upstream.VOICE_CLONING, module)
    upstream.refresh()
    return cache


async def test_a_custom_voice_is_sent_as_its_embeddings_not_in_the_query(
    kyutai_server: KyutaiTTSServer, voice_cache: VoiceCache
) -> None:
    await speak(client(kyutai_server, "custom:abc"), "hello")
    connection = kyutai_server.connections[0]
    assert "voice" not in connection.query
    assert connection.messages[0] == {"type": "Voice", "embeddings": [0.5, -0.5], "shape": [1, 2]}
    assert connection.texts == ["hello"]


async def test_a_custom_voice_missing_from_the_cache_is_not_sent(
    kyutai_server: KyutaiTTSServer, voice_cache: VoiceCache, caplog: pytest.LogCaptureFixture
) -> None:
    messages = await speak(client(kyutai_server, "custom:gone"), "hello")
    assert kyutai_server.connections[0].voice_messages == []
    assert any(isinstance(m, TTSAudioMessage) for m in messages)
    assert "custom:gone not found" in caplog.text


def test_a_custom_voice_outside_unmute_is_a_clear_error(kyutai_server: KyutaiTTSServer) -> None:
    with pytest.raises(BackendError, match="voice cache"):
        client(kyutai_server, "custom:abc")
