"""ORPHEUS_MAX_REQUEST_BYTES: an HTTP body over it gets 413 in the OpenAI error shape,
before it is read (Content-Length) or once a chunked body passes it."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.service_support import FakeEngine, ServerThread, start_fake_service

LIMIT = 1000
SPEECH = "/v1/audio/speech"
KEY = "sk-body-limit"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine(), max_request_bytes=LIMIT)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def default_server() -> Iterator[ServerThread]:
    """The default limit, with a key: nothing reads a body before the key check."""
    srv = start_fake_service(FakeEngine(), api_key=KEY)
    yield srv
    srv.stop()


def body_of(size: int) -> bytes:
    """A speech request's JSON body of exactly `size` bytes."""
    head = b'{"model": "orpheus", "voice": "tara", "input": "Hello world'
    tail = b'"}'
    return head + b" " * (size - len(head) - len(tail)) + tail


def post(server: ServerThread, body: bytes) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    return httpx.post(f"{server.http}{SPEECH}", content=body, headers=headers, timeout=10)


def assert_too_large(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "request_too_large"
    assert error["param"] is None
    assert f"ORPHEUS_MAX_REQUEST_BYTES={limit}" in error["message"]


def requests_counted(server: ServerThread, route: str, status: str) -> float:
    text = httpx.get(f"{server.http}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "orpheus_http_requests_total" and (
                labels["route"],
                labels["method"],
                labels["status"],
            ) == (route, "POST", status):
                return sample.value
    return 0.0


def raw_exchange(server: ServerThread, request: bytes, timeout: float = 10.0) -> bytes:
    """Send `request` in one write and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_a_body_declared_over_the_limit_gets_413_in_the_openai_error_shape(
    server: ServerThread,
) -> None:
    response = post(server, body_of(LIMIT + 1))
    assert_too_large(response, LIMIT)
    assert response.headers["connection"] == "close"


async def test_a_chunked_body_over_the_limit_gets_413(server: ServerThread) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for part in (body_of(LIMIT + 200)[:600], b" " * 600):
            sent.append(len(part))
            yield part

    async with httpx.AsyncClient(timeout=10) as client:
        request = client.build_request(
            "POST",
            f"{server.http}{SPEECH}",
            content=chunks(),
            headers={"Content-Type": "application/json"},
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        response = await client.send(request)
    assert_too_large(response, LIMIT)
    assert sum(sent) > LIMIT


def test_a_body_within_the_limit_is_served(server: ServerThread) -> None:
    response = post(server, body_of(LIMIT))
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/wav" and response.content


def test_a_413_is_counted_in_the_request_metrics(server: ServerThread) -> None:
    before = requests_counted(server, SPEECH, "413")
    post(server, body_of(LIMIT + 1))
    assert requests_counted(server, SPEECH, "413") == before + 1


def test_the_default_limit_admits_the_longest_input_however_escaped(
    default_server: ServerThread,
) -> None:
    # 100,000 characters (ORPHEUS_MAX_INPUT_CHARS), nearly all astral: 12 bytes of JSON each.
    text = "Hi " + "\U0001f600" * 99_997
    body = json.dumps({"model": "orpheus", "voice": "tara", "input": text}).encode()
    assert len(body) > 1_199_000
    response = httpx.post(
        f"{default_server.http}{SPEECH}",
        content=body,
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_a_20_mb_body_is_refused_before_the_server_reads_it(
    default_server: ServerThread,
) -> None:
    # Only the headers and 1 KB are ever sent: the 413 cannot wait for the rest.
    # No key either: the size is checked before the key.
    head = (
        f"POST {SPEECH} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {20_000_000}\r\n\r\n"
    ).encode()
    started = time.monotonic()
    answer = raw_exchange(default_server, head + body_of(1024))
    assert time.monotonic() - started < 5
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert b"connection: close" in headers.lower()
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large"
    assert "ORPHEUS_MAX_REQUEST_BYTES=2000000" in error["message"]
