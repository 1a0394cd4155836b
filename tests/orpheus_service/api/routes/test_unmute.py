"""/api/tts_streaming driven exactly as unmute's handler drives its TTS, on the real stack.

Real llama-server (tiny orpheus-like GGUF), random-weight SNAC, the app under uvicorn.
The client below does what unmute's `TextToSpeech` does: connect with the query
and the `kyutai-api-key` header, wait for Ready (unmute allows 0.5 s), send the
LLM's words one by one while another task reads, send Eos, read until the server
closes. Every server message must parse with unmute's message models.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import numpy as np
import pytest
import websockets

from orpheus_service.llama.server import LlamaServerProcess
from tests.support.service_support import RealService, pack, unpack
from unmute.tts.protocol import (
    SAMPLE_RATE,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSClientTextMessage,
    TTSErrorMessage,
    TTSMessageAdapter,
    TTSReadyMessage,
    TTSTextMessage,
)

pytestmark = pytest.mark.llama

KEY = "sk-unmute-handler"
LLM_ANSWER: str = "Hi there! I am doing well, thanks for asking. What shall we talk about today?"
# The words as an LLM writes them, one by one.
LLM_WORDS: list[str] = [str(word) for word in LLM_ANSWER.split()]


@dataclass
class Transcript:
    ready_s: float = 0.0
    messages: list[TTSAudioMessage | TTSTextMessage | TTSErrorMessage] = field(
        default_factory=lambda: list[TTSAudioMessage | TTSTextMessage | TTSErrorMessage]()
    )
    close_code: int | None = None

    @property
    def words(self) -> list[TTSTextMessage]:
        return [m for m in self.messages if isinstance(m, TTSTextMessage)]

    @property
    def audio_s(self) -> float:
        return (
            sum(len(m.pcm) for m in self.messages if isinstance(m, TTSAudioMessage)) / SAMPLE_RATE
        )


async def unmute_handler_session(base_ws: str, words: list[str], voice: str = "tara") -> Transcript:
    """What unmute's handler and TextToSpeech client do, step by step."""
    transcript = Transcript()
    query = urlencode({"format": "PcmMessagePack", "voice": voice, "cfg_alpha": 1.5})
    started = time.perf_counter()
    async with websockets.connect(
        f"{base_ws}/api/tts_streaming?{query}", additional_headers={"kyutai-api-key": KEY}
    ) as ws:
        first = TTSMessageAdapter.validate_python(unpack(await ws.recv()))
        assert isinstance(first, TTSReadyMessage)
        transcript.ready_s = time.perf_counter() - started

        async def receive() -> None:
            async for raw in ws:
                message = TTSMessageAdapter.validate_python(unpack(raw))
                assert not isinstance(message, TTSReadyMessage)
                transcript.messages.append(message)

        reader = asyncio.create_task(receive())
        for word in words:  # as the LLM writes them
            await ws.send(pack(TTSClientTextMessage(text=" " + word).model_dump()))
            await asyncio.sleep(0.005)
        await ws.send(pack(TTSClientEosMessage().model_dump()))
        await asyncio.wait_for(reader, 30)
        transcript.close_code = ws.close_code
    return transcript


@pytest.fixture
def service(real_service: RealService, llama_orpheus_server: LlamaServerProcess) -> str:
    return real_service(llama_orpheus_server.base_url, api_key=KEY).ws


async def test_ready_arrives_within_unmutes_startup_budget(service: str) -> None:
    transcript = await unmute_handler_session(service, ["Hello."])
    assert transcript.ready_s < 0.5


async def test_every_word_is_reported_spoken_in_order(service: str) -> None:
    transcript = await unmute_handler_session(service, LLM_WORDS)
    assert [m.text for m in transcript.words] == LLM_WORDS


async def test_word_times_are_ordered_and_inside_the_audio(service: str) -> None:
    transcript = await unmute_handler_session(service, LLM_WORDS)
    words = transcript.words
    assert all(a.stop_s <= b.start_s + 1e-6 for a, b in itertools.pairwise(words))
    assert all(w.start_s <= w.stop_s for w in words)
    assert words[-1].stop_s <= transcript.audio_s + 1e-3


async def test_each_word_arrives_before_the_audio_where_it_starts(service: str) -> None:
    transcript = await unmute_handler_session(service, LLM_WORDS)
    heard = 0.0
    pending: list[TTSTextMessage] = []
    for message in transcript.messages:
        if isinstance(message, TTSAudioMessage):
            heard += len(message.pcm) / SAMPLE_RATE
            assert all(w.start_s < heard for w in pending)
            pending = []
        elif isinstance(message, TTSTextMessage):
            pending.append(message)
    assert pending == [] or all(w.start_s < heard for w in pending)


async def test_audio_is_float32_pcm_within_range(service: str) -> None:
    transcript = await unmute_handler_session(service, LLM_WORDS[:4])
    audio = [m.pcm for m in transcript.messages if isinstance(m, TTSAudioMessage)]
    assert audio and all(a.dtype == np.float32 for a in audio)
    assert transcript.audio_s > 0.5


async def test_session_ends_with_a_normal_close_and_no_error(service: str) -> None:
    transcript = await unmute_handler_session(service, LLM_WORDS[:6])
    assert transcript.close_code == 1000
    assert not [m for m in transcript.messages if isinstance(m, TTSErrorMessage)]


async def test_two_sessions_at_once_each_get_their_own_words(service: str) -> None:
    first, second = await asyncio.gather(
        unmute_handler_session(service, LLM_WORDS[:5], voice="tara"),
        unmute_handler_session(service, LLM_WORDS[5:], voice="leo"),
    )
    assert [m.text for m in first.words] == LLM_WORDS[:5]
    assert [m.text for m in second.words] == LLM_WORDS[5:]
