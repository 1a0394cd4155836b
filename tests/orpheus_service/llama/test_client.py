"""LlamaClient against a real llama-server (tiny GGUFs) and against broken fake servers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest

from orpheus_service.engine.tokens import OrpheusTokenParser
from orpheus_service.llama.client import (
    LlamaClient,
    LlamaHTTPError,
    LlamaProtocolError,
    LlamaTimeoutError,
    LlamaUnavailableError,
)
from orpheus_service.llama.server import LlamaServerProcess, free_port
from orpheus_service.vocabulary.prompt import build_prompt
from orpheus_service.vocabulary.sampling import Sampling
from orpheus_service.vocabulary.tokens import (
    AUDIO_TOKEN_BASE,
    AUDIO_TOKEN_END,
    CUSTOM_TOKEN_BASE,
    END_OF_SPEECH,
    START_OF_SPEECH,
)
from tests.support.llama import (
    ORPHEUS_FRAMES,
    fake_http_server,
    http_reply,
    sse_reply,
    wait_slots_idle,
)
from tests.support.tiny_gguf import VOCAB_SIZE, expected_audio_tokens

llama = pytest.mark.llama
LONG = Sampling(max_tokens=3000)


async def collect(client: LlamaClient, prompt: list[int | str], **kwargs: object) -> list[int]:
    stream = client.stream_tokens(prompt, **kwargs)  # type: ignore[arg-type]
    return [token async for token in stream]


# -- real llama-server ---------------------------------------------------------------


@llama
async def test_health_is_true_when_the_model_is_loaded(llama_client: LlamaClient) -> None:
    assert await llama_client.health() is True


@llama
async def test_custom_token_base_is_learned_from_the_server(llama_client: LlamaClient) -> None:
    assert await llama_client.learn_custom_token_base() == CUSTOM_TOKEN_BASE
    assert await llama_client.tokenize("<custom_token_2>") == [END_OF_SPEECH]


@llama
async def test_mixed_prompt_of_ids_and_text_is_accepted(llama_client: LlamaClient) -> None:
    # the prompt ends with the id of start_of_speech: the tiny model answers with
    # audio token 0 only if that id was taken as an id
    ids = await collect(llama_client, build_prompt("Hello there."))
    assert ids[0] == expected_audio_tokens(1)[0]


@llama
async def test_prompt_of_strings_only_is_sent_as_one_prompt(llama_client: LlamaClient) -> None:
    ids = await collect(llama_client, ["tara: hi", "<custom_token_1>"])
    assert ids[0] == expected_audio_tokens(1)[0]


@llama
@pytest.mark.parametrize("server", ["llama_orpheus_server", "llama_orpheus_control_server"])
async def test_orpheus_like_model_streams_valid_audio_then_end_of_speech(
    server: str, request: pytest.FixtureRequest
) -> None:
    process: LlamaServerProcess = request.getfixturevalue(server)
    async with contextlib.aclosing(LlamaClient(process.base_url)) as client:
        ids = await collect(client, build_prompt("Hello there."))
    assert ids == [*expected_audio_tokens(ORPHEUS_FRAMES), END_OF_SPEECH]
    parser = OrpheusTokenParser()
    frames = parser.feed(ids)
    stats = parser.finish()
    assert (len(frames), stats.dropped_frames, stats.ended) == (ORPHEUS_FRAMES, 0, True)
    assert [frame[0] for frame in frames] == [7 * j for j in range(ORPHEUS_FRAMES)]


@llama
@pytest.mark.parametrize("server", ["llama_orpheus_server", "llama_orpheus_control_server"])
async def test_server_itself_stops_at_end_of_speech(
    server: str, request: pytest.FixtureRequest
) -> None:
    process: LlamaServerProcess = request.getfixturevalue(server)
    async with contextlib.aclosing(LlamaClient(process.base_url)) as client:
        body = client._body(build_prompt("Hi."), Sampling(), END_OF_SPEECH)
        response = await client._http.post("/completion", json=body | {"stream": False})
    result = response.json()
    assert (result["stop_type"], result["tokens"][-1]) == ("word", END_OF_SPEECH)
    assert result["tokens_predicted"] == ORPHEUS_FRAMES * 7 + 1


@llama
async def test_spoiled_frames_are_dropped_and_later_frames_stay_in_sync(
    llama_orpheus_drops_server: LlamaServerProcess,
) -> None:
    parser = OrpheusTokenParser()
    async with contextlib.aclosing(LlamaClient(llama_orpheus_drops_server.base_url)) as client:
        stream = client.stream_tokens(build_prompt("Hi."), LONG)
        async with contextlib.aclosing(stream):
            async for token in stream:
                parser.feed_one(token)
                if parser.stats.audio_tokens == 9 * 7:
                    break
    stats = parser.finish()
    assert (stats.frames, stats.dropped_frames) == (6, 3)


@llama
async def test_random_model_streams_ids_of_any_kind(
    llama_random_server: LlamaServerProcess,
) -> None:
    async with contextlib.aclosing(LlamaClient(llama_random_server.base_url)) as client:
        ids = await collect(
            client, ["Hello"], sampling=Sampling(max_tokens=64, seed=1), stop_token_id=None
        )
    assert len(ids) == 64
    assert all(0 <= token < VOCAB_SIZE for token in ids)
    assert any(not AUDIO_TOKEN_BASE <= token < AUDIO_TOKEN_END for token in ids)


@llama
async def test_closing_the_stream_frees_the_slot(
    llama_orpheus_drops_server: LlamaServerProcess,
) -> None:
    async with contextlib.aclosing(LlamaClient(llama_orpheus_drops_server.base_url)) as client:
        await wait_slots_idle(client)
        stream = client.stream_tokens(build_prompt("Hi."), LONG)
        for _ in range(10):
            await anext(stream)
        assert await client.processing_slots() == 1
        await stream.aclose()
        waited = await wait_slots_idle(client, timeout_s=1.0)
    assert waited < 1.0  # 3000 tokens would take several seconds


@llama
async def test_cancelling_the_consumer_frees_the_slot(
    llama_orpheus_drops_server: LlamaServerProcess,
) -> None:
    started = asyncio.Event()

    async def consume(client: LlamaClient) -> None:
        async for _ in client.stream_tokens(build_prompt("Hi."), LONG):
            started.set()

    async with contextlib.aclosing(LlamaClient(llama_orpheus_drops_server.base_url)) as client:
        await wait_slots_idle(client)
        task = asyncio.create_task(consume(client))
        await started.wait()
        assert await client.processing_slots() == 1
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await wait_slots_idle(client, timeout_s=1.0)


@llama
async def test_bad_request_raises_http_error(llama_client: LlamaClient) -> None:
    with pytest.raises(LlamaHTTPError) as caught:
        await collect(llama_client, [START_OF_SPEECH, 10**7])
    assert caught.value.status_code == 400
    assert "invalid tokens" in caught.value.message


# -- broken servers --------------------------------------------------------------------


async def test_server_down_raises_unavailable_quickly() -> None:
    start = time.monotonic()
    async with contextlib.aclosing(LlamaClient(f"http://127.0.0.1:{free_port()}")) as client:
        with pytest.raises(LlamaUnavailableError):
            await collect(client, [START_OF_SPEECH])
        with pytest.raises(LlamaUnavailableError):
            await client.health()
    assert time.monotonic() - start < 1.0


async def test_server_that_never_answers_raises_timeout() -> None:
    async with (
        fake_http_server(None) as url,
        contextlib.aclosing(LlamaClient(url, read_timeout_s=0.2)) as client,
    ):
        start = time.monotonic()
        with pytest.raises(LlamaTimeoutError):
            await collect(client, [START_OF_SPEECH])
    assert time.monotonic() - start < 1.0


async def test_stall_mid_stream_raises_timeout_after_the_tokens_so_far() -> None:
    chunk = json.dumps({"content": "", "tokens": [AUDIO_TOKEN_BASE], "stop": False})
    reply = sse_reply(chunk, complete=False)
    got: list[int] = []
    async with (
        fake_http_server(reply, close=False) as url,
        contextlib.aclosing(LlamaClient(url, read_timeout_s=0.2)) as client,
    ):
        with pytest.raises(LlamaTimeoutError):
            async for token in client.stream_tokens([START_OF_SPEECH]):
                got.append(token)
    assert got == [AUDIO_TOKEN_BASE]


async def test_ids_are_read_from_text_when_the_chunk_has_none() -> None:
    chunks = [
        {"content": "<custom_token_10>", "stop": False},
        {"content": "<custom_token_4106><custom_token_2>", "stop": False},
        {"content": "", "stop": True},
    ]
    reply = sse_reply(*(json.dumps(c) for c in chunks))
    async with fake_http_server(reply) as url, contextlib.aclosing(LlamaClient(url)) as client:
        ids = await collect(client, [START_OF_SPEECH])
    assert ids == [AUDIO_TOKEN_BASE, AUDIO_TOKEN_BASE + 4096, END_OF_SPEECH]


async def test_stream_ends_at_the_stop_id_even_if_the_server_goes_on() -> None:
    chunks = [{"tokens": [t], "content": "", "stop": False} for t in (1, END_OF_SPEECH, 2, 3)]
    reply = sse_reply(*(json.dumps(c) for c in chunks))
    async with fake_http_server(reply) as url, contextlib.aclosing(LlamaClient(url)) as client:
        assert await collect(client, [START_OF_SPEECH]) == [1, END_OF_SPEECH]


async def test_error_event_in_the_stream_raises_http_error() -> None:
    error = {"error": {"code": 500, "message": "out of KV cache", "type": "server_error"}}
    reply = sse_reply(json.dumps({"tokens": [7], "stop": False}), json.dumps(error))
    async with fake_http_server(reply) as url, contextlib.aclosing(LlamaClient(url)) as client:
        with pytest.raises(LlamaHTTPError, match="out of KV cache") as caught:
            await collect(client, [START_OF_SPEECH])
    assert caught.value.status_code == 500


async def test_error_status_raises_http_error_with_the_server_message() -> None:
    body = json.dumps({"error": {"code": 503, "message": "Loading model"}}).encode()
    reply = http_reply(body, status="503 Service Unavailable")
    async with fake_http_server(reply) as url, contextlib.aclosing(LlamaClient(url)) as client:
        with pytest.raises(LlamaHTTPError, match="Loading model") as caught:
            await collect(client, [START_OF_SPEECH])
    assert caught.value.status_code == 503


@pytest.mark.parametrize(
    "reply",
    [
        sse_reply("this is not json"),
        sse_reply(json.dumps({"tokens": ["x"], "stop": False})),
        sse_reply(json.dumps([1, 2, 3])),
        sse_reply(json.dumps({"tokens": [1], "stop": False})),  # no final chunk
        sse_reply(json.dumps({"tokens": [1], "stop": True}), content_type="application/json"),
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        sse_reply(json.dumps({"tokens": [1], "stop": False}), complete=False),  # cut
    ],
    ids=["not-json", "bad-ids", "not-object", "no-final", "not-sse", "not-http", "cut"],
)
async def test_garbage_raises_protocol_error(reply: bytes) -> None:
    async with fake_http_server(reply) as url, contextlib.aclosing(LlamaClient(url)) as client:
        with pytest.raises(LlamaProtocolError):
            await collect(client, [START_OF_SPEECH])


async def test_empty_prompt_is_rejected() -> None:
    async with contextlib.aclosing(LlamaClient("http://127.0.0.1:1")) as client:
        with pytest.raises(ValueError, match="empty prompt"):
            await collect(client, [])
