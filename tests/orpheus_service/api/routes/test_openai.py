"""OpenAI's HTTP endpoints on a fake engine: speech (formats, SSE, raw PCM), voices, models."""

from __future__ import annotations

import base64
import io
import json
import time

import av
import httpx
import pytest

from orpheus_service.api.transport.encoding import MEDIA_TYPES, RESPONSE_FORMATS
from orpheus_service.vocabulary.voices import ALL_VOICES
from tests.support.service_support import (
    FakeEngine,
    ServerThread,
)


def speech(server: ServerThread, path: str = "/v1/audio/speech", **body: object) -> httpx.Response:
    payload: dict[str, object] = {"model": "orpheus", "input": "Hello big world", "voice": "tara"}
    payload.update(body)
    return httpx.post(f"{server.http}{path}", json=payload, timeout=10)


@pytest.mark.parametrize("fmt", RESPONSE_FORMATS)
def test_each_format_has_its_content_type(server: ServerThread, fmt: str) -> None:
    r = speech(server, response_format=fmt)
    assert r.status_code == 200 and r.headers["content-type"].startswith(MEDIA_TYPES[fmt])


def test_default_format_is_wav(server: ServerThread) -> None:
    r = speech(server)
    assert r.headers["content-type"] == "audio/wav"
    assert av.open(io.BytesIO(r.content)).format.name == "wav"


def test_wav_holds_all_the_audio(server: ServerThread) -> None:
    r = speech(server, response_format="wav")
    container = av.open(io.BytesIO(r.content), mode="r")
    samples = sum(frame.samples for frame in container.decode(audio=0))
    assert samples == 3 * 2 * 2048


def test_first_bytes_leave_before_the_synthesis_ends(
    server: ServerThread, engine: FakeEngine
) -> None:
    engine.chunk_delay_s = 0.25  # 6 chunks: about 1.5 s in all
    started = time.perf_counter()
    with httpx.stream(
        "POST",
        f"{server.http}/v1/audio/speech",
        json={"input": "one two three", "voice": "tara", "response_format": "pcm"},
    ) as r:
        chunks = r.iter_raw()
        next(chunks)
        first = time.perf_counter() - started
        for _ in chunks:
            pass
        total = time.perf_counter() - started
    assert first < 0.6 and total > 1.2


def test_sse_streams_base64_deltas_then_done(server: ServerThread) -> None:
    r = speech(server, response_format="pcm", stream_format="sse")
    assert r.headers["content-type"].startswith("text/event-stream")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events[-1:]] == ["speech.audio.done"]
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert all(e["type"] == "speech.audio.delta" for e in events[:-1])
    assert len(audio) == 2 * 3 * 2 * 2048


def test_sse_reports_a_failure_as_an_error_event(server: ServerThread, engine: FakeEngine) -> None:
    engine.fail_after_words = 1
    r = speech(server, response_format="pcm", stream_format="sse")
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: ")]
    assert events[-1]["type"] == "error" and "fake failure" in events[-1]["error"]["message"]


def test_failure_before_any_audio_is_an_http_error(
    server: ServerThread, engine: FakeEngine
) -> None:
    engine.fail_after_words = 0
    r = speech(server, response_format="pcm")
    assert r.status_code == 500 and "fake failure" in r.json()["error"]["message"]


def test_failure_after_audio_breaks_the_transfer(server: ServerThread, engine: FakeEngine) -> None:
    engine.fail_after_words = 1
    with pytest.raises(httpx.RemoteProtocolError):
        speech(server, response_format="pcm")


def test_raw_pcm_stream_endpoint_returns_16_bit_samples(server: ServerThread) -> None:
    r = speech(server, path="/v1/audio/speech/stream", response_format="mp3")
    assert r.headers["content-type"] == "audio/pcm"
    assert len(r.content) == 2 * 3 * 2 * 2048


def test_speed_two_halves_the_audio(server: ServerThread) -> None:
    normal = speech(server, response_format="pcm")
    fast = speech(server, response_format="pcm", speed=2.0)
    assert len(fast.content) == pytest.approx(len(normal.content) / 2, rel=0.1)


def test_voices_lists_every_voice_and_the_default(server: ServerThread) -> None:
    body = httpx.get(f"{server.http}/v1/audio/voices").json()
    assert body["voices"] == list(ALL_VOICES) and body["default"] == "tara"


def test_models_lists_orpheus_openai_style(server: ServerThread) -> None:
    body = httpx.get(f"{server.http}/v1/models").json()
    assert body["object"] == "list"
    assert "orpheus" in [m["id"] for m in body["data"]]


def test_http_at_capacity_is_429(server: ServerThread, engine: FakeEngine) -> None:
    engine.chunk_delay_s = 0.2
    with httpx.stream(
        "POST",
        f"{server.http}/v1/audio/speech",
        json={"input": "one two three", "voice": "tara", "response_format": "pcm"},
    ) as held:
        chunks = held.iter_raw()
        next(chunks)  # the only channel is busy
        r = speech(server)
    assert r.status_code == 429 and r.json()["error"]["message"] == "no free channels"
