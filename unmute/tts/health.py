"""Polling a service's `GET /health` until it answers 200 (standard library only).

One loop for everything that waits for a server to come up: the deploy waiting for
the Modal services, the runner waiting for a local llama-server, and a client
waking a cold service. It needs no extra: the light core can import it.

- `get_health(url)`: one request; a `HealthAnswer` (status 0 when no connection
  was made, the JSON body when there is one).
- `poll_health(url, timeout_s=...)`: asks until 200 or a status in `final_statuses`
  (for example 401: asking again will not help) and returns that answer; raises
  `HealthTimeout` (holding the last answer) once `timeout_s` has passed. `check`
  runs before every attempt and may raise to stop early (a server process that
  exited). The clock, the sleep and the request are parameters, for tests.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HealthAnswer:
    """One answer of `GET /health`."""

    status: int
    """HTTP status; 0 when no connection was made (refused, timed out, DNS)."""
    body: Any = None
    """The parsed JSON body, or None."""
    error: str | None = None
    """Why no connection was made, when status is 0."""

    @property
    def healthy(self) -> bool:
        """The service answered 200."""
        return self.status == 200

    def describe(self) -> str:
        """A short line for logs and errors: the status (or the error) and the body."""
        head = str(self.status) if self.status else f"no connection ({self.error or 'failed'})"
        return f"{head} {json.dumps(self.body)}" if self.body is not None else head


class HealthTimeout(TimeoutError):
    """`/health` did not answer 200 in time; `last` is the last answer."""

    def __init__(self, url: str, timeout_s: float, last: HealthAnswer) -> None:
        super().__init__(
            f"{url} did not answer 200 within {timeout_s:.0f} s (last answer: {last.describe()})"
        )
        self.url = url
        self.timeout_s = timeout_s
        self.last = last


Getter = Callable[[str, Mapping[str, str], float], HealthAnswer]


def get_health(
    url: str, headers: Mapping[str, str] | None = None, timeout_s: float = 5.0
) -> HealthAnswer:
    """GET `url` once; never raises for a network failure or an error status."""
    request = urllib.request.Request(url, headers=dict(headers or {}), method="GET")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            status: int = response.status
            raw: bytes = response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason: object = getattr(exc, "reason", None) or exc
        return HealthAnswer(0, None, str(reason))
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None
    return HealthAnswer(status, body)


def poll_health(
    url: str,
    *,
    timeout_s: float,
    headers: Mapping[str, str] | None = None,
    interval_s: float = 1.0,
    max_interval_s: float = 15.0,
    backoff: float = 1.5,
    request_timeout_s: float = 10.0,
    final_statuses: Collection[int] = (),
    check: Callable[[], None] | None = None,
    on_answer: Callable[[HealthAnswer], None] | None = None,
    get: Getter = get_health,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> HealthAnswer:
    """Ask `url` until it answers 200 (or a status in `final_statuses`); return that answer.

    Waits `interval_s` after the first failed attempt, growing by `backoff` up to
    `max_interval_s`; each request may take `request_timeout_s`, never past the
    deadline. `on_answer` sees every answer that is not returned. Raises
    `HealthTimeout` after `timeout_s`, and whatever `check` raises.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    deadline = clock() + timeout_s
    delay = interval_s
    last = HealthAnswer(0, None, "not asked yet")
    while True:
        if check is not None:
            check()
        remaining = deadline - clock()
        if remaining <= 0:
            raise HealthTimeout(url, timeout_s, last)
        last = get(url, headers or {}, max(0.1, min(request_timeout_s, remaining)))
        if last.healthy or last.status in final_statuses:
            return last
        if on_answer is not None:
            on_answer(last)
        remaining = deadline - clock()
        if remaining <= 0:
            raise HealthTimeout(url, timeout_s, last)
        sleep(min(delay, remaining))
        delay = min(delay * backoff, max_interval_s)
