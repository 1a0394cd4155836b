"""Live: the deployed service's HTTP side (health, OpenAI speech in every format, streaming).

Needs ORPHEUS_FASTAPI_URL (see tests/live/conftest.py); `pytest -m live tests/live`.
"""

from __future__ import annotations

import base64
import io
import json
import time

import httpx
import pytest

from tests.live.conftest import LiveService

pytestmark = pytest.mark.live

TEXT = "Hello from Orpheus. This sentence checks the speech endpoint."
FORMATS = ("wav", "pcm", "mp3", "opus", "flac", "aac")
SAMPLE_RATE = 24_000
MAGIC = {
    "wav": (b"RIFF",),
    "mp3": (b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"\xff\xe3"),
    "opus": (b"OggS",),
    "flac": (b"fLaC",),
    "aac": (b"\xff\xf1", b"\xff\xf9"),
}


def decoded_seconds(data: bytes) -> float:
    """Seconds of audio in an encoded file, decoded with PyAV."""
    import av

    samples = 0
    rate = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        for frame in container.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
    return samples / rate if rate else 0.0


async def test_health_reports_llama_and_snac_ready(warm: LiveService) -> None:
    async with httpx.AsyncClient(headers=warm.headers_without_key(), timeout=60) as client:
        response = await client.get(f"{warm.base_url}/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["llama"] == "ok"
    assert body["snac"] == "loaded"


@pytest.mark.parametrize("response_format", FORMATS)
async def test_speech_endpoint_returns_playable_audio(
    http: httpx.AsyncClient, response_format: str
) -> None:
    response = await http.post(
        "/v1/audio/speech",
        json={
            "model": "orpheus",
            "input": TEXT,
            "voice": "tara",
            "response_format": response_format,
        },
    )
    assert response.status_code == 200, response.text
    data = response.content
    if response_format == "pcm":
        assert len(data) % 2 == 0
        seconds = len(data) / 2 / SAMPLE_RATE
    else:
        assert data.startswith(MAGIC[response_format]), data[:8]
        seconds = decoded_seconds(data)
    # About 4 s of speech: anything between 1 s and 20 s is the sentence, not a stub or a loop.
    assert 1.0 < seconds < 20.0


async def test_speech_sse_streams_deltas_then_done(http: httpx.AsyncClient) -> None:
    deltas = 0
    pcm_bytes = 0
    done = None
    async with http.stream(
        "POST",
        "/v1/audio/speech",
        json={"input": TEXT, "voice": "leo", "response_format": "pcm", "stream_format": "sse"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[len("data: ") :])
            if event["type"] == "speech.audio.delta":
                deltas += 1
                pcm_bytes += len(base64.b64decode(event["audio"]))
            elif event["type"] == "speech.audio.done":
                done = event
    assert deltas >= 2
    assert pcm_bytes / 2 / SAMPLE_RATE > 1.0
    assert done is not None
    usage = done["usage"]
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert usage["input_tokens"] > 0


async def test_http_stream_sends_audio_before_the_synthesis_ends(
    http: httpx.AsyncClient,
) -> None:
    long_text = " ".join([TEXT] * 4)
    started = time.perf_counter()
    first_at: float | None = None
    total = 0
    chunks = 0
    async with http.stream(
        "POST", "/v1/audio/speech/stream", json={"input": long_text, "voice": "tara"}
    ) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_bytes():
            if chunk and first_at is None:
                first_at = time.perf_counter() - started
            total += len(chunk)
            chunks += 1
    elapsed = time.perf_counter() - started
    assert first_at is not None
    assert chunks >= 2
    # Streaming: the first bytes come well before the whole ~15 s of audio is done.
    assert first_at < elapsed / 2
    assert total / 2 / SAMPLE_RATE > 5.0


async def test_voices_and_models_are_listed(http: httpx.AsyncClient) -> None:
    voices = (await http.get("/v1/audio/voices")).json()
    assert "tara" in voices["voices"]
    models = (await http.get("/v1/models")).json()
    assert any(entry["id"] == "orpheus" for entry in models["data"])


async def test_unknown_voice_is_a_400_naming_the_voices(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/audio/speech", json={"input": TEXT, "voice": "nobody"})
    assert response.status_code == 400
    assert "tara" in response.text
