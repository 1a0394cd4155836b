"""TokenSource, what the engine needs of a language model: the llama client's source
fits it, streams the generated ids, and can be closed mid-generation."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator

from orpheus_service.llama.client import LlamaClient
from orpheus_service.vocabulary.prompt import build_prompt
from orpheus_service.vocabulary.sampling import Sampling, SamplingOverrides
from orpheus_service.vocabulary.token_source import TokenSource
from orpheus_service.vocabulary.tokens import END_OF_SPEECH
from tests.support.llama import fake_http_server, sse_reply

IDS = (1, 2, END_OF_SPEECH)


def reply(*ids: int, complete: bool = True) -> bytes:
    events = (json.dumps({"tokens": [i], "content": "", "stop": False}) for i in ids)
    return sse_reply(*events, complete=complete)


async def test_the_llama_clients_source_streams_the_generated_ids() -> None:
    async with (
        fake_http_server(reply(*IDS)) as url,
        contextlib.aclosing(LlamaClient(url)) as client,
    ):
        source: TokenSource = client.token_source(Sampling())
        prompt = build_prompt("Hi.", "tara")
        ids = [i async for i in source(prompt, sampling=SamplingOverrides(temperature=0.5))]
    assert ids == list(IDS)


async def test_a_source_closed_mid_generation_ends_without_waiting_for_the_rest() -> None:
    # The server sends two ids, then never ends the stream.
    async with (
        fake_http_server(reply(1, 2, complete=False), close=False) as url,
        contextlib.aclosing(LlamaClient(url)) as client,
    ):
        source: TokenSource = client.token_source(Sampling())
        stream = source(build_prompt("Hi.", "tara"))
        assert isinstance(stream, AsyncGenerator)
        assert await anext(stream) == 1
        async with asyncio.timeout(5):
            await stream.aclose()
