"""Bad input to POST /v1/audio/speech: clear 400/422 answers before any synthesis."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.service_support import FakeEngine, ServerThread, start_fake_service

LIMIT = 200


@pytest.fixture(scope="module")
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture(scope="module")
def server(engine: FakeEngine) -> Iterator[ServerThread]:
    srv = start_fake_service(engine, max_input_chars=LIMIT)
    yield srv
    srv.stop()


def post(server: ServerThread, **body: object) -> httpx.Response:
    payload: dict[str, object] = {"model": "orpheus", "input": "Hello there.", "voice": "tara"}
    payload.update(body)
    return httpx.post(f"{server.http}/v1/audio/speech", json=payload)


def test_empty_input_is_400(server: ServerThread) -> None:
    r = post(server, input="")
    assert r.status_code == 400 and r.json()["error"]["code"] == "empty_input"


def test_whitespace_only_input_is_400(server: ServerThread) -> None:
    assert post(server, input="   \n\t ").status_code == 400


def test_input_made_only_of_special_tokens_is_400(server: ServerThread) -> None:
    assert post(server, input="<|eot_id|> <custom_token_5>").status_code == 400


def test_input_over_the_configured_limit_is_400(server: ServerThread) -> None:
    r = post(server, input="a" * (LIMIT + 1))
    assert r.status_code == 400
    assert str(LIMIT) in r.json()["error"]["message"]


def test_input_at_the_limit_is_accepted(server: ServerThread) -> None:
    assert post(server, input="word " * (LIMIT // 5), response_format="pcm").status_code == 200


def test_unknown_voice_is_400_listing_the_voices(server: ServerThread) -> None:
    r = post(server, voice="nobody")
    assert r.status_code == 400
    message = r.json()["error"]["message"]
    assert "nobody" in message and "tara" in message and "zoe" in message


def test_voice_object_with_an_id_is_accepted(server: ServerThread, engine: FakeEngine) -> None:
    r = post(server, voice={"id": "leo"}, response_format="pcm")
    assert r.status_code == 200 and engine.syntheses[-1].voice == "leo"


def test_voice_is_case_insensitive(server: ServerThread, engine: FakeEngine) -> None:
    assert post(server, voice="Tara", response_format="pcm").status_code == 200
    assert engine.syntheses[-1].voice == "tara"


@pytest.mark.parametrize("speed", [0.1, 0.24, 4.01, 10])
def test_speed_out_of_range_is_422(server: ServerThread, speed: float) -> None:
    r = post(server, speed=speed)
    assert r.status_code == 422 and r.json()["error"]["param"] == "speed"


def test_unknown_response_format_is_422_naming_the_formats(server: ServerThread) -> None:
    r = post(server, response_format="ogg")
    assert r.status_code == 422
    assert "mp3" in r.json()["error"]["message"]


def test_unknown_stream_format_is_422(server: ServerThread) -> None:
    assert post(server, stream_format="chunks").status_code == 422


def test_missing_input_is_422(server: ServerThread) -> None:
    r = httpx.post(f"{server.http}/v1/audio/speech", json={"voice": "tara"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "input"


def test_body_that_is_not_json_is_422(server: ServerThread) -> None:
    r = httpx.post(
        f"{server.http}/v1/audio/speech",
        content=b"{oops",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 422


def test_rejected_requests_start_no_synthesis(server: ServerThread, engine: FakeEngine) -> None:
    before = engine.started
    post(server, input="")
    post(server, voice="nobody")
    post(server, speed=9)
    assert engine.started == before


def test_unknown_fields_such_as_instructions_are_ignored(server: ServerThread) -> None:
    assert post(server, instructions="cheerful", response_format="pcm").status_code == 200
