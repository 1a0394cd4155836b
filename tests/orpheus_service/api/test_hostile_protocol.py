"""Hostile requests: every HTTP error in OpenAI's shape, keys compared trimmed, quiet logs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.service_support import (
    FakeEngine,
    ServerThread,
    service_settings,
    start_fake_service,
)

KEY = "s3cret-key"
UNMUTE = "/api/tts_streaming?format=PcmMessagePack&voice=tara"


@pytest.fixture
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine())
    yield srv
    srv.stop()


@pytest.fixture
def keyed() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine(), api_key=KEY)
    yield srv
    srv.stop()


class Keep(logging.Handler):
    """Keeps the records it sees."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextlib.contextmanager
def captured_logs(*names: str) -> Iterator[list[logging.LogRecord]]:
    """Records of the named loggers at INFO and above while inside."""
    keep = Keep()
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(keep)
        logger.setLevel(logging.INFO)
    try:
        yield keep.records
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(keep)
            logger.setLevel(level)


SERVICE_LOGGERS = ("uvicorn.error", "uvicorn.access", "orpheus_service")


def assert_openai_error(reply: httpx.Response, status: int) -> dict[str, object]:
    assert reply.status_code == status
    body = reply.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return error


async def post_raw(server: ServerThread, body: bytes) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.post(
            server.http + "/v1/audio/speech",
            content=body,
            headers={"content-type": "application/json"},
        )


async def test_a_body_that_is_not_utf8_is_an_openai_error(server: ServerThread) -> None:
    error = assert_openai_error(await post_raw(server, b'{"input": "\xff\xfe"}'), 400)
    assert "UTF-8" in str(error["message"])


async def test_json_nested_5000_deep_is_an_openai_error(server: ServerThread) -> None:
    error = assert_openai_error(await post_raw(server, b"[" * 5000 + b"]" * 5000), 400)
    assert "nested" in str(error["message"])


async def test_an_unknown_path_is_an_openai_404(server: ServerThread) -> None:
    async with httpx.AsyncClient() as client:
        reply = await client.get(server.http + "/v1/nothing-here")
    assert assert_openai_error(reply, 404)["code"] == "not_found"


async def test_a_wrong_method_is_an_openai_405(server: ServerThread) -> None:
    async with httpx.AsyncClient() as client:
        reply = await client.get(server.http + "/v1/audio/speech")
    assert assert_openai_error(reply, 405)["code"] == "method_not_allowed"


async def test_a_configured_key_with_a_trailing_newline_is_compared_trimmed() -> None:
    srv = start_fake_service(FakeEngine(), api_key=f"{KEY}\n")
    try:
        async with httpx.AsyncClient() as client:
            reply = await client.get(
                srv.http + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}
            )
        assert reply.status_code == 200
    finally:
        srv.stop()


@pytest.mark.parametrize("blank", ["", "  ", "\n"])
def test_a_key_empty_after_trimming_is_a_startup_error(blank: str) -> None:
    with pytest.raises(ValueError, match="ORPHEUS_API_KEY"):
        service_settings(api_key=blank)


def test_a_key_variable_empty_after_trimming_is_a_startup_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ORPHEUS_API_KEY", " \n")
    with pytest.raises(ValueError, match="ORPHEUS_API_KEY"):
        service_settings()


async def test_a_refused_websocket_is_logged_once_without_an_error(keyed: ServerThread) -> None:
    with captured_logs(*SERVICE_LOGGERS) as records:
        with pytest.raises(InvalidStatus):
            async with websockets.connect(keyed.ws + UNMUTE):
                pass
        async with httpx.AsyncClient() as client:
            await asyncio.sleep(0.1)
            await client.get(keyed.http + "/health")  # the refusal's logging is done by now
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []
    refusals = [r for r in records if "/api/tts_streaming" in r.getMessage()]
    assert len(refusals) == 1
    assert refusals[0].levelno in (logging.INFO, logging.WARNING)


async def test_a_key_in_a_query_string_never_reaches_the_log(keyed: ServerThread) -> None:
    with captured_logs(*SERVICE_LOGGERS) as records:
        async with httpx.AsyncClient() as client:
            reply = await client.get(keyed.http + "/v1/models", params={"api_key": KEY})
        assert reply.status_code == 401
        with pytest.raises(InvalidStatus):
            async with websockets.connect(f"{keyed.ws}{UNMUTE}&token={KEY}"):
                pass
        await asyncio.sleep(0.1)
    messages = [r.getMessage() for r in records]
    assert any("/v1/models" in m for m in messages)
    assert not [m for m in messages if KEY in m]


@pytest.mark.parametrize("implementation", ["websockets-sansio-paced", "websockets-sansio"])
async def test_a_text_frame_not_utf8_is_closed_1007_and_logged_once_as_a_warning(
    implementation: str,
) -> None:
    server = start_fake_service(FakeEngine(), ws_implementation=implementation)
    try:
        with captured_logs(*SERVICE_LOGGERS) as records:
            async with websockets.connect(server.ws + UNMUTE) as ws:
                await ws.recv()  # Ready
                await ws.send(b'{"type": "Text", "text": "\xff\xfe"}', text=True)
                with pytest.raises(ConnectionClosed):
                    while True:
                        await ws.recv()
            assert ws.close_code == 1007
            async with httpx.AsyncClient() as client:
                await client.get(server.http + "/health")  # the close's logging is done
    finally:
        server.stop()
    assert [r.getMessage() for r in records if r.levelno >= logging.ERROR] == []
    utf8 = [r for r in records if "UTF-8" in r.getMessage()]
    assert len(utf8) == 1
    assert utf8[0].levelno in (logging.INFO, logging.WARNING) and utf8[0].exc_info is None
