"""Per-session sampling overrides and the llama-server key, on a real llama-server.

Sampling: what LlamaClient sends to llama-server's `/completion` is recorded (its
request body), with the app under uvicorn on the real stack. Key: llama-server
started with `--api-key-file`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from orpheus_service.llama.client import LlamaClient, LlamaHTTPError
from orpheus_service.llama.server import LlamaServerProcess
from orpheus_service.vocabulary.prompt import PromptPart, build_prompt
from orpheus_service.vocabulary.sampling import Sampling
from orpheus_service.vocabulary.tokens import END_OF_SPEECH
from tests.support.llama import ORPHEUS_USER_DEFINED, LlamaServers
from tests.support.service_support import RealService, pack, unpack

pytestmark = pytest.mark.llama

LLAMA_KEY = "sk-llama-test-key"


@pytest.fixture
def sent_bodies(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """Every /completion body LlamaClient builds, in order."""
    bodies: list[dict[str, object]] = []
    original = LlamaClient._body  # pyright: ignore[reportPrivateUsage]

    def recording(
        self: LlamaClient,
        prompt: Sequence[PromptPart],
        params: Sampling,
        stop_token_id: int | None,
    ) -> dict[str, object]:
        body = original(self, prompt, params, stop_token_id)
        bodies.append(body)
        return body

    monkeypatch.setattr(LlamaClient, "_body", recording)
    return bodies


async def speak(base_ws: str, query: str) -> tuple[list[dict[str, Any]], int | None]:
    url = f"{base_ws}/api/tts_streaming?format=PcmMessagePack&voice=tara{query}"
    messages: list[dict[str, Any]] = []
    async with websockets.connect(url) as ws:
        assert unpack(await ws.recv()) == {"type": "Ready"}
        await ws.send(pack({"type": "Text", "text": "Hello there."}))
        await ws.send(pack({"type": "Eos"}))
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                messages.append(unpack(frame))
    return messages, ws.close_code


async def test_session_sampling_override_reaches_llama_server_request(
    real_service: RealService,
    llama_orpheus_server: LlamaServerProcess,
    sent_bodies: list[dict[str, object]],
) -> None:
    server = real_service(
        llama_orpheus_server.base_url, temperature=0.6, top_p=0.9, repetition_penalty=1.1
    )
    messages, code = await speak(server.ws, "&temperature=0.25&top_p=0.75&repetition_penalty=1.5")
    assert code == 1000 and any(m["type"] == "Audio" for m in messages)
    completions = [b for b in sent_bodies if "n_predict" in b]
    assert completions
    for body in completions:
        assert (body["temperature"], body["top_p"], body["repeat_penalty"]) == (0.25, 0.75, 1.5)


async def test_session_without_overrides_uses_the_service_sampling_settings(
    real_service: RealService,
    llama_orpheus_server: LlamaServerProcess,
    sent_bodies: list[dict[str, object]],
) -> None:
    server = real_service(
        llama_orpheus_server.base_url, temperature=0.7, top_p=0.8, repetition_penalty=1.2
    )
    _, code = await speak(server.ws, "&temperature=0.25")  # another session's override
    assert code == 1000
    sent_bodies.clear()
    messages, code = await speak(server.ws, "")
    assert code == 1000 and any(m["type"] == "Audio" for m in messages)
    assert sent_bodies
    for body in sent_bodies:
        assert (body["temperature"], body["top_p"], body["repeat_penalty"]) == (0.7, 0.8, 1.2)


@pytest.fixture(scope="module")
def keyed_llama_server(
    llama_servers: LlamaServers, tmp_path_factory: pytest.TempPathFactory
) -> LlamaServerProcess:
    key_file = tmp_path_factory.mktemp("llama-key") / "llama-keys"
    key_file.write_text(LLAMA_KEY + "\n")
    return llama_servers.get(ORPHEUS_USER_DEFINED, api_key_file=str(key_file))


async def test_llama_client_without_the_key_gets_http_401(
    keyed_llama_server: LlamaServerProcess,
) -> None:
    async with contextlib.aclosing(LlamaClient(keyed_llama_server.base_url)) as client:
        with pytest.raises(LlamaHTTPError) as caught:
            async for _ in client.stream_tokens(build_prompt("Hello.", "tara")):
                pass
    assert caught.value.status_code == 401


async def test_llama_client_with_the_key_streams_tokens(
    keyed_llama_server: LlamaServerProcess,
) -> None:
    async with contextlib.aclosing(
        LlamaClient(keyed_llama_server.base_url, api_key=LLAMA_KEY)
    ) as client:
        tokens = [t async for t in client.stream_tokens(build_prompt("Hello.", "tara"))]
    assert tokens and tokens[-1] == END_OF_SPEECH


async def test_service_sends_orpheus_llama_api_key_to_llama_server(
    real_service: RealService, keyed_llama_server: LlamaServerProcess
) -> None:
    server = real_service(keyed_llama_server.base_url, llama_api_key=LLAMA_KEY)
    messages, code = await speak(server.ws, "")
    assert code == 1000 and any(m["type"] == "Audio" for m in messages)


def test_llama_api_key_is_never_in_the_settings_repr() -> None:
    from tests.support.service_support import service_settings

    settings = service_settings(llama_api_key=LLAMA_KEY)
    assert settings.llama_api_key is not None
    assert settings.llama_api_key.get_secret_value() == LLAMA_KEY
    assert LLAMA_KEY not in repr(settings) and LLAMA_KEY not in str(settings.model_dump())


def test_modal_llama_server_is_started_with_the_api_key_file() -> None:
    from modal_services import config as cfg
    from modal_services.llama_keys import api_key_file_path

    command = cfg.llama_server_command(cfg.ModalDeployConfig(), api_key_file=api_key_file_path())
    assert command[command.index("--api-key-file") + 1] == api_key_file_path()
