"""The HTTP and PCM WebSocket endpoints on the real stack.

Real llama-server (tiny orpheus-like GGUF: 12 frames, about 1 s, per segment),
random-weight SNAC (small config; the real 24 kHz architecture in one test), the
app under uvicorn on 127.0.0.1, the official `openai` client.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import av
import httpx
import openai
import pytest
import websockets

from orpheus_service.api.transport.encoding import MEDIA_TYPES, RESPONSE_FORMATS
from orpheus_service.llama.server import LlamaServerProcess
from tests.support.llama import ORPHEUS_FRAMES
from tests.support.service_support import RealService, ServerThread

pytestmark = pytest.mark.llama

KEY = "sk-real-stack"
SEGMENT_SAMPLES = ORPHEUS_FRAMES * 2048
"""Audio of one segment of the tiny model."""


@pytest.fixture
def server(real_service: RealService, llama_orpheus_server: LlamaServerProcess) -> ServerThread:
    return real_service(llama_orpheus_server.base_url, api_key=KEY)


@pytest.fixture
def client(server: ServerThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.http}/v1", api_key=KEY, max_retries=0)


def decoded_samples(data: bytes) -> int:
    container = av.open(io.BytesIO(data), mode="r")
    rate = container.streams.audio[0].rate
    return sum(f.samples for f in container.decode(audio=0)) * 24000 // rate


def test_openai_client_speech_create_returns_one_segment_of_audio(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(
        model="orpheus", voice="tara", input="Hello there, friend.", response_format="wav"
    )
    assert decoded_samples(response.read()) == SEGMENT_SAMPLES


def test_openai_client_streaming_response_delivers_the_audio_in_chunks(
    client: openai.OpenAI,
) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="orpheus", voice="tara", input="Hello there, friend.", response_format="pcm"
    ) as response:
        chunks = list(response.iter_bytes(4096))
    assert len(b"".join(chunks)) == 2 * SEGMENT_SAMPLES and len(chunks) > 1


@pytest.mark.parametrize("fmt", RESPONSE_FORMATS)
def test_every_format_streams_decodable_audio(client: openai.OpenAI, fmt: str) -> None:
    response = client.audio.speech.create(
        model="orpheus",
        voice="leo",
        input="Hi.",
        response_format=fmt,  # type: ignore[arg-type]
    )
    assert response.response.headers["content-type"].startswith(MEDIA_TYPES[fmt])
    data = response.read()
    samples = len(data) // 2 if fmt == "pcm" else decoded_samples(data)
    assert SEGMENT_SAMPLES - 64 <= samples <= SEGMENT_SAMPLES + 3000


def test_two_sentences_give_two_segments_of_audio(server: ServerThread) -> None:
    r = httpx.post(
        f"{server.http}/v1/audio/speech/stream",
        json={"input": "First sentence here. And a second one.", "voice": "tara"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert r.headers["content-type"] == "audio/pcm" and len(r.content) == 2 * 2 * SEGMENT_SAMPLES


def test_sse_stream_decodes_to_the_audio(server: ServerThread) -> None:
    r = httpx.post(
        f"{server.http}/v1/audio/speech",
        json={"input": "Hi.", "voice": "tara", "response_format": "pcm", "stream_format": "sse"},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    events = [json.loads(x[6:]) for x in r.text.splitlines() if x.startswith("data: ")]
    audio = b"".join(base64.b64decode(e["audio"]) for e in events if "audio" in e)
    assert events[-1]["type"] == "speech.audio.done" and len(audio) == 2 * SEGMENT_SAMPLES


def test_speed_four_gives_a_quarter_of_the_audio(client: openai.OpenAI) -> None:
    response = client.audio.speech.create(
        model="orpheus", voice="tara", input="Hi.", response_format="pcm", speed=4.0
    )
    assert len(response.read()) // 2 == pytest.approx(SEGMENT_SAMPLES / 4, rel=0.1)


async def test_pcm_websocket_streams_pcm_and_closes(server: ServerThread) -> None:
    async with websockets.connect(
        f"{server.ws}/v1/audio/speech/stream/ws?voice=tara",
        additional_headers={"Authorization": f"Bearer {KEY}"},
    ) as ws:
        await ws.send("Hello world! This is a streaming test.")
        audio = [m async for m in ws]
    assert ws.close_code == 1000
    assert sum(len(m) for m in audio) == 2 * 2 * SEGMENT_SAMPLES


def test_health_reports_llama_and_snac(server: ServerThread) -> None:
    body = httpx.get(f"{server.http}/health").json()
    assert body["status"] == "ok" and body["llama"] == "ok" and body["snac"] == "loaded"


def test_metrics_show_time_to_first_audio_and_real_time_factor(
    client: openai.OpenAI, server: ServerThread
) -> None:
    client.audio.speech.create(model="orpheus", voice="tara", input="Hi.", response_format="pcm")
    text = httpx.get(f"{server.http}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    assert 'orpheus_time_to_first_audio_seconds_count{endpoint="speech"} 1.0' in text
    assert 'orpheus_real_time_factor_ratio_count{endpoint="speech"} 1.0' in text
    assert "orpheus_decode_batch_size_count" in text


@pytest.mark.slow
def test_real_snac_24khz_architecture_serves_the_openai_client(
    real_service: RealService, llama_orpheus_server: LlamaServerProcess, snac_24khz_dir: Path
) -> None:
    server = real_service(llama_orpheus_server.base_url, snac_dir=snac_24khz_dir)
    client = openai.OpenAI(base_url=f"{server.http}/v1", api_key="unused", max_retries=0)
    with client.audio.speech.with_streaming_response.create(
        model="orpheus", voice="tara", input="Hello there, friend.", response_format="wav"
    ) as response:
        data = response.read()
    assert decoded_samples(data) == SEGMENT_SAMPLES
