"""`unmute.tts.health`: one GET /health, and polling it until 200, against a real
local HTTP server (and a fake clock where only the timing matters)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orpheus_service.llama.server import free_port
from unmute.tts.health import HealthAnswer, HealthTimeout, get_health, poll_health


class Service:
    """A local server whose /health answers the queued statuses, then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.seen_headers: list[dict[str, str]] = []
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                service.seen_headers.append(dict(self.headers))
                status = service.statuses.pop(0) if service.statuses else 200
                body = json.dumps({"status": "ok" if status == 200 else "starting"}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/health"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def service() -> Iterator[Service]:
    running = Service()
    try:
        yield running
    finally:
        running.server.shutdown()
        running.server.server_close()


def test_one_request_reports_status_and_json_body(service: Service) -> None:
    service.statuses = [503]
    assert get_health(service.url) == HealthAnswer(503, {"status": "starting"})
    assert get_health(service.url, {"Modal-Key": "k"}) == HealthAnswer(200, {"status": "ok"})
    assert service.seen_headers[-1]["Modal-Key"] == "k"


def test_no_server_is_status_0_with_the_reason() -> None:
    answer = get_health(f"http://127.0.0.1:{free_port()}/health", timeout_s=2)
    assert answer.status == 0 and not answer.healthy
    assert answer.error and "refused" in answer.error.lower()
    assert answer.describe().startswith("no connection")


def test_polling_waits_through_errors_until_200(service: Service) -> None:
    service.statuses = [503, 502, 503]
    seen: list[int] = []
    answer = poll_health(
        service.url, timeout_s=10, interval_s=0.01, on_answer=lambda a: seen.append(a.status)
    )
    assert answer.healthy and seen == [503, 502, 503]


def test_a_final_status_is_returned_at_once(service: Service) -> None:
    service.statuses = [401]
    answer = poll_health(service.url, timeout_s=10, interval_s=0.01, final_statuses={401, 403})
    assert answer.status == 401
    assert len(service.seen_headers) == 1


def test_check_stops_the_polling_with_its_error() -> None:
    def dead() -> None:
        raise RuntimeError("server exited")

    with pytest.raises(RuntimeError, match="server exited"):
        poll_health("http://127.0.0.1:9/health", timeout_s=10, check=dead)


def test_timeout_raises_with_the_last_answer_and_never_sleeps_past_the_deadline() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def get(url: str, headers: Mapping[str, str], timeout_s: float) -> HealthAnswer:
        assert timeout_s <= 30 - now[0] + 1e-9
        now[0] += 1
        return HealthAnswer(503, {"llama": "loading"})

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    with pytest.raises(HealthTimeout, match=r"503.*loading") as caught:
        poll_health(
            "https://x/health",
            timeout_s=30,
            interval_s=2,
            get=get,
            sleep=sleep,
            clock=lambda: now[0],
        )
    assert caught.value.last.status == 503
    assert now[0] == pytest.approx(30)
    assert max(sleeps) <= 15


def test_a_non_positive_timeout_is_an_error() -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        poll_health("http://127.0.0.1:9/health", timeout_s=0)
