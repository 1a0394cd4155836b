"""GET /metrics: requests by route and status, process metrics, naming, who may read it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from websockets.exceptions import InvalidStatus

from tests.support.service_support import (
    FakeEngine,
    FakeSynthesis,
    ServerThread,
    start_fake_service,
)

KEY = "sk-metrics-key"
SCRAPER = "sk-scraper-token"
BEARER = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    srv = start_fake_service(FakeEngine(), api_key=KEY, metrics_token=SCRAPER)
    yield srv
    srv.stop()


def samples(server: ServerThread, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """label set -> value of every sample called `name` on /metrics."""
    text = httpx.get(f"{server.http}/metrics", headers=BEARER).text
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def requests_counted(server: ServerThread, route: str, method: str, status: str) -> float:
    key = (("method", method), ("route", route), ("status", status))
    return samples(server, "orpheus_http_requests_total").get(key, 0.0)


def test_a_401_and_a_422_are_counted_by_route_and_status(server: ServerThread) -> None:
    route = "/v1/audio/speech"
    before_401 = requests_counted(server, route, "POST", "401")
    before_422 = requests_counted(server, route, "POST", "422")
    assert httpx.post(f"{server.http}{route}", json={"input": "hi"}).status_code == 401
    bad = httpx.post(f"{server.http}{route}", json={"input": "hi", "speed": 9}, headers=BEARER)
    assert bad.status_code == 422
    assert requests_counted(server, route, "POST", "401") == before_401 + 1
    assert requests_counted(server, route, "POST", "422") == before_422 + 1


def test_a_served_request_is_counted_with_its_status(server: ServerThread) -> None:
    before = requests_counted(server, "/v1/models", "GET", "200")
    assert httpx.get(f"{server.http}/v1/models", headers=BEARER).status_code == 200
    assert requests_counted(server, "/v1/models", "GET", "200") == before + 1


def test_unknown_paths_share_one_label(server: ServerThread) -> None:
    before = requests_counted(server, "unmatched", "GET", "404")
    for path in ("/nope", "/also/nope"):
        httpx.get(f"{server.http}{path}", headers=BEARER)
    assert requests_counted(server, "unmatched", "GET", "404") == before + 2


async def test_websocket_handshakes_are_counted_accepted_and_refused(server: ServerThread) -> None:
    route = "/api/tts_streaming"
    before_ok = requests_counted(server, route, "WEBSOCKET", "101")
    before_refused = requests_counted(server, route, "WEBSOCKET", "401")
    async with websockets.connect(f"{server.ws}{route}", additional_headers=BEARER) as ws:
        await ws.recv()
    with pytest.raises(InvalidStatus):
        async with websockets.connect(f"{server.ws}{route}"):
            pass
    assert requests_counted(server, route, "WEBSOCKET", "101") == before_ok + 1
    assert requests_counted(server, route, "WEBSOCKET", "401") == before_refused + 1


def test_process_metrics_are_exported(server: ServerThread) -> None:
    assert samples(server, "process_cpu_seconds_total")
    assert samples(server, "process_resident_memory_bytes")


def test_metric_names_carry_their_unit(server: ServerThread) -> None:
    text = httpx.get(f"{server.http}/metrics", headers=BEARER).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert "orpheus_real_time_factor_ratio" in names
    assert "orpheus_real_time_factor" not in names
    assert "orpheus_time_to_first_audio_seconds" in names


def test_the_scraper_token_reads_metrics_and_nothing_else(server: ServerThread) -> None:
    scraper = {"Authorization": f"Bearer {SCRAPER}"}
    assert httpx.get(f"{server.http}/metrics", headers=scraper).status_code == 200
    assert httpx.get(f"{server.http}/metrics", headers=BEARER).status_code == 200
    assert httpx.get(f"{server.http}/metrics").status_code == 401
    assert httpx.get(f"{server.http}/v1/models", headers=scraper).status_code == 401


def test_metrics_open_needs_no_key_while_the_api_still_does() -> None:
    srv = start_fake_service(FakeEngine(), api_key=KEY, metrics_open=True)
    try:
        assert httpx.get(f"{srv.http}/metrics").status_code == 200
        assert httpx.get(f"{srv.http}/v1/models").status_code == 401
    finally:
        srv.stop()


class YieldingEngine(FakeEngine):
    """Every synthesis reports it held its segments back for 0.25 s."""

    def synthesize(self, *args: Any, **kwargs: Any) -> FakeSynthesis:
        synthesis = super().synthesize(*args, **kwargs)
        synthesis.stats.gate_wait_s = 0.25
        return synthesis


def test_time_held_back_for_others_is_counted() -> None:
    srv = start_fake_service(YieldingEngine())
    try:
        reply = httpx.post(f"{srv.http}/v1/audio/speech", json={"input": "Hello there."})
        assert reply.status_code == 200
        assert samples(srv, "orpheus_yield_wait_seconds_total") == {(): 0.25}
    finally:
        srv.stop()
