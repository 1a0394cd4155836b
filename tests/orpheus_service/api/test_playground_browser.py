"""The playground page in a real headless chromium against the local service.

The page exposes what it did on `window.playground` (samples handed to Web Audio,
words highlighted, ...): the tests read that, they never sleep and hope.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from orpheus_service.llama.server import LlamaServerProcess
from orpheus_service.vocabulary.voices import ENGLISH_VOICES
from tests.support.browser import chrome_driver, save_screenshot
from tests.support.service_support import (
    FakeEngine,
    RealService,
    ServerThread,
    start_fake_service,
)

# The first test may install chromium with apt (minutes on a fresh machine).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

KEY = "sk-playground/with+odd=chars"
CHUNK = 2048


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    driver = chrome_driver(tmp_path / "profile")
    yield driver
    driver.quit()


@pytest.fixture
def serve() -> Iterator[Callable[..., ServerThread]]:
    started: list[ServerThread] = []

    def start(engine: FakeEngine, **settings: Any) -> ServerThread:
        server = start_fake_service(engine, **settings)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def state(driver: Any) -> dict[str, Any]:
    """The page's `window.playground` record."""
    return driver.execute_script("return JSON.parse(JSON.stringify(window.playground || {}))")


def wait_until(driver: Any, check: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict:
    """Poll the page's state until `check` holds; fail with the last state."""
    deadline = time.monotonic() + timeout
    while True:
        current = state(driver)
        if check(current):
            return current
        if time.monotonic() > deadline:
            pytest.fail(f"page state never satisfied the check: {current}")
        time.sleep(0.05)


def element(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def type_text(driver: Any, text: str) -> None:
    box = element(driver, "text")
    box.clear()
    box.send_keys(text)


def open_page(driver: Any, server: ServerThread) -> None:
    driver.get(f"{server.http}/")
    wait_until(driver, lambda s: bool(s.get("voicesLoaded") or s.get("needsKey")))


def test_voices_load_from_the_service(browser: Any, serve: Callable[..., ServerThread]) -> None:
    open_page(browser, serve(FakeEngine()))
    from selenium.webdriver.support.select import Select

    select = Select(element(browser, "voice"))
    names = [option.get_attribute("value") for option in select.options]
    assert set(ENGLISH_VOICES) <= set(names)
    assert select.first_selected_option.get_attribute("value") == "tara"


def test_speak_plays_the_streamed_audio_and_highlights_each_word(
    browser: Any, serve: Callable[..., ServerThread]
) -> None:
    words = ["one", "two", "three", "four", "five"]
    open_page(browser, serve(FakeEngine(chunk_delay_s=0.01)))
    type_text(browser, " ".join(words))
    element(browser, "speak").click()
    done = wait_until(browser, lambda s: not s["speaking"] and len(s["highlighted"]) == len(words))
    assert done["scheduledSamples"] == len(words) * 2 * CHUNK
    assert done["highlighted"] == words
    assert done["error"] is None
    assert element(browser, "ttfa").text.endswith(" ms")
    assert element(browser, "download").get_attribute("href").startswith("blob:")
    save_screenshot(browser, "playground-spoken")


def test_stop_interrupts_at_once_and_cancels_the_synthesis(
    browser: Any, serve: Callable[..., ServerThread]
) -> None:
    engine = FakeEngine(chunk_delay_s=0.02)
    open_page(browser, serve(engine))
    type_text(browser, "word " * 300)
    element(browser, "speak").click()
    wait_until(browser, lambda s: s["scheduledSamples"] >= 4 * CHUNK)
    element(browser, "stop").click()
    stopped = state(browser)
    assert stopped["stopped"] and not stopped["speaking"]
    assert stopped["activeSources"] == 0
    deadline = time.monotonic() + 5
    while engine.cancelled == 0:
        assert time.monotonic() < deadline, "the service kept synthesizing after Stop"
        time.sleep(0.05)
    later = state(browser)
    assert later["scheduledSamples"] == stopped["scheduledSamples"]
    assert stopped["scheduledSamples"] < 300 * 2 * CHUNK


def test_stop_on_a_long_text_frees_the_session_within_200_ms(
    browser: Any, serve: Callable[..., ServerThread]
) -> None:
    server = serve(FakeEngine(chunk_delay_s=0.02))
    open_page(browser, server)
    type_text(browser, "word " * 300)
    element(browser, "speak").click()
    wait_until(browser, lambda s: s["scheduledSamples"] >= 4 * CHUNK)
    began = time.monotonic()
    element(browser, "stop").click()
    while httpx.get(server.http + "/health").json()["active_sessions"]:
        assert time.monotonic() - began < 0.2, "the session outlived Stop by 200 ms"
        time.sleep(0.005)


def test_with_a_key_the_page_asks_for_it_then_speaks(
    browser: Any, serve: Callable[..., ServerThread]
) -> None:
    open_page(browser, serve(FakeEngine(), api_key=KEY))
    assert state(browser)["needsKey"]
    assert element(browser, "key-form").is_displayed()
    element(browser, "key").send_keys("wrong")
    element(browser, "key-save").click()
    wait_until(browser, lambda s: "refused" in (s["error"] or ""))
    element(browser, "key").clear()
    element(browser, "key").send_keys(KEY)
    element(browser, "key-save").click()
    wait_until(browser, lambda s: s["voicesLoaded"])
    type_text(browser, "hello with a key")
    element(browser, "speak").click()
    done = wait_until(browser, lambda s: not s["speaking"] and s["scheduledSamples"] > 0)
    assert done["scheduledSamples"] == 4 * 2 * CHUNK
    assert done["error"] is None
    save_screenshot(browser, "playground-with-key")


def test_the_page_speaks_on_the_real_stack(
    browser: Any, real_service: RealService, llama_orpheus_server: LlamaServerProcess
) -> None:
    server = real_service(llama_orpheus_server.base_url)
    open_page(browser, server)
    type_text(browser, "Hello from the real stack.")
    element(browser, "speak").click()
    done = wait_until(browser, lambda s: not s["speaking"] and s["scheduledSamples"] > 0, 120)
    assert done["error"] is None
    assert done["highlighted"] == done["words"] and done["words"]
    save_screenshot(browser, "playground-real-stack")
