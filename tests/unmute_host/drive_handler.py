"""Drive upstream unmute's own `UnmuteHandler` through one reply, then one interrupted reply.

Run by the Python 3.12 interpreter of an environment holding upstream's dependencies
and this project, with an upstream checkout on `PYTHONPATH`:
`python -P drive_handler.py CONFIG_JSON`. It prints one JSON object (the result) as
its last line of stdout. Standalone: it imports nothing from this project's tests.

Only the LLM is faked (`VLLMStream` and `get_openai_client` in `unmute.unmute_handler`
replaced by a stream that yields the reply in small chunks; `KYUTAI_LLM_MODEL` must be
set). Everything else is upstream's: `__aenter__`, `_generate_response`, its quest
manager, `rechunk_to_words`, `find_instance`, `_tts_loop`, `interrupt_bot`, the
recorder (when `KYUTAI_RECORDINGS_DIR` is set) and its Prometheus metrics. The
microphone clock (`n_samples_received`, read by `audio_received_sec`) advances in
real time. The messages the TTS client yields to the handler are observed (time on
the handler's clock, type, text, start_s, samples) by a subclass whose `__aiter__`
passes every message through unchanged.

Config keys: `reply` (the LLM's text), `interrupt_after_words` (interrupt once the
chat history holds this many words of the reply), `timeout_s` (per wait), `runs`: a
list of `{"name", "env"}`, each run (e.g. one backend) with the environment variables
it sets (None: unset) before its two turns. The result maps each run's name to
`{"full": ..., "interrupt": ...}` or `{"error": traceback}`.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import os
import sys
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

CONFIG: dict[str, Any] = json.loads(sys.argv[1])
REPLY: str = CONFIG["reply"]
SETTLE_S = 0.5


class FakeLLMStream:
    """Stands in for `VLLMStream`: yields the reply in 5-character chunks, 10 ms apart."""

    def __init__(self, client: object, temperature: float = 1.0) -> None:
        self.client = client
        self.temperature = temperature

    async def chat_completion(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        for i in range(0, len(REPLY), 5):
            await asyncio.sleep(0.01)
            yield REPLY[i : i + 5]


def socket_fds() -> int:
    """Open file descriptors of this process that are sockets."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def read_recording(path: Path) -> list[dict[str, Any]]:
    """The events of a recorder's file (none when it never got one: no file)."""
    if not path.exists():
        return []
    return [json.loads(line)["data"] for line in path.read_text().splitlines()]


METRIC_PREFIXES = ("worker_tts_", "worker_hard_tts_")


def tts_metrics() -> dict[str, float]:
    """Current values of unmute's TTS metrics (counters, gauge, histogram counts and sums)."""
    from prometheus_client import REGISTRY

    values: dict[str, float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name.startswith(METRIC_PREFIXES) and not sample.labels.get("le"):
                if sample.name.endswith("_created"):
                    continue
                values[sample.name] = sample.value
    return values


OBSERVATIONS: list[list[dict[str, Any]]] = [[]]
"""Where the current turn's observations go."""
CLOCK: list[Any] = [lambda: 0.0]
"""The current handler's clock."""


def install_fakes(uh: Any) -> None:
    """Fake the LLM; observe what the TTS client yields to the handler."""
    uh.VLLMStream = FakeLLMStream
    uh.get_openai_client = lambda *args, **kwargs: None  # pyright: ignore[reportUnknownLambdaType]
    base = uh.TextToSpeech

    class ObservedTextToSpeech(base):  # type: ignore[misc, valid-type]
        """The handler's TTS class, unchanged but for noting what it yields."""

        def __aiter__(self) -> AsyncIterator[Any]:
            return observe(self, base.__aiter__(self))

    async def observe(tts: Any, messages: AsyncIterator[Any]) -> AsyncIterator[Any]:
        try:
            async for message in messages:
                pcm = getattr(message, "pcm", None)
                OBSERVATIONS[0].append(
                    {
                        "t": CLOCK[0](),
                        "type": message.type,
                        "text": getattr(message, "text", None),
                        "start_s": getattr(message, "start_s", None),
                        "samples": 0 if pcm is None else len(pcm),
                    }
                )
                yield message
        finally:
            close = getattr(messages, "aclose", None)
            if close is not None:
                await close()

    uh.TextToSpeech = ObservedTextToSpeech


async def run_turn(uh: Any, interrupt_after: int | None) -> dict[str, Any]:
    """One reply of the handler; interrupted after `interrupt_after` words if given."""
    observations: list[dict[str, Any]] = []
    OBSERVATIONS[0] = observations
    loop = asyncio.get_running_loop()
    baseline_sockets = socket_fds()
    handler = uh.UnmuteHandler()
    CLOCK[0] = handler.audio_received_sec
    result: dict[str, Any] = {"events": [], "errors": []}
    t0 = loop.time()

    async def mic_clock() -> None:
        while True:
            handler.n_samples_received = int((loop.time() - t0) * handler.input_sample_rate)
            await asyncio.sleep(0.005)

    async def drain() -> None:
        while True:
            item = await handler.emit()
            if item is None or isinstance(item, tuple):
                continue
            kind = getattr(item, "type", type(item).__name__)
            result["events"].append(kind)
            if kind == "error":
                result["errors"].append(item.error.message)

    def failure() -> str | None:
        future = handler.quest_manager._future
        if future is not None and future.done() and (exc := future.exception()) is not None:
            return "".join(traceback.format_exception(exc))
        return None

    async def wait_for(condition: Any, what: str) -> None:
        deadline = loop.time() + CONFIG["timeout_s"]
        while not condition():
            if (problem := failure()) is not None:
                raise RuntimeError(f"a quest failed while waiting for {what}: {problem}")
            if loop.time() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            await asyncio.sleep(0.005)

    def assistant_text() -> str:
        return handler.chatbot.last_message("assistant") or ""

    helpers = [asyncio.create_task(mic_clock()), asyncio.create_task(drain())]
    metrics_before = tts_metrics()
    tts = None
    try:
        async with handler:
            handler.chatbot.chat_history.append({"role": "user", "content": "Tell me a thing."})
            await handler._generate_response()
            await wait_for(lambda: handler.tts is not None, "the TTS")
            tts = handler.tts
            if interrupt_after is None:
                await wait_for(
                    lambda: handler.chatbot.conversation_state() == "waiting_for_user",
                    "the end of the reply",
                )
                result["history_reply"] = assistant_text()
                tts_quest = handler.quest_manager.quests["tts"]
                await wait_for(lambda: tts_quest.task.done(), "the end of the TTS quest")
            else:
                await wait_for(
                    lambda: len(assistant_text().split()) >= interrupt_after,
                    f"{interrupt_after} words in the chat history",
                )
                result["interrupted_at"] = CLOCK[0]()
                result["history_at_interrupt"] = assistant_text()
                result["released_at_interrupt"] = [
                    o["text"] for o in observations if o["type"] == "Text"
                ]
                await handler.interrupt_bot()
                result["state_after_interrupt"] = tts.state()
                await asyncio.sleep(1.5)
                result["history_after_interrupt"] = assistant_text()
            result["state_after_turn"] = tts.state()
        result["state_after_exit"] = tts.state()
        # the drop-in's backend session names the backend (a chain's member) that spoke
        session_metrics = getattr(getattr(tts, "_tts", None), "metrics", None)
        result["backend"] = getattr(session_metrics, "backend", None)
        await handler.cleanup()
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    result["received_samples"] = tts.received_samples
    result["received_samples_yielded"] = tts.received_samples_yielded
    result["observations"] = observations
    result["metrics_before"] = metrics_before
    result["metrics_after"] = tts_metrics()
    await asyncio.sleep(SETTLE_S)
    me = asyncio.current_task()
    result["pending_tasks"] = [repr(t) for t in asyncio.all_tasks() if t is not me]
    result["socket_fds_before"] = baseline_sockets
    result["socket_fds_after"] = socket_fds()
    if handler.recorder is not None:
        recorded = await asyncio.to_thread(read_recording, Path(handler.recorder.path))
        result["recorded"] = recorded
    return result


def forget_settings() -> None:
    """The library reads its settings once per process: a run that changed the
    environment makes it read them again."""
    try:
        from unmute.tts.settings import reset_settings
    except ImportError:  # upstream's own client alone
        return
    reset_settings()


async def main() -> dict[str, Any]:
    """Import the handler; for each run (backend), a full reply then an interrupted one."""
    import unmute.unmute_handler as uh  # pyright: ignore[reportMissingImports]  (upstream's)

    results: dict[str, Any] = {"tts_class": f"{uh.TextToSpeech.__module__}.TextToSpeech"}
    results["modules"] = {
        name: importlib.import_module(name).__file__
        for name in ("unmute.tts.text_to_speech", "unmute.metrics", "unmute.tts.pluggable")
    }
    results["modules"]["unmute.unmute_handler"] = uh.__file__
    install_fakes(uh)
    for run in CONFIG["runs"]:
        for name, value in run["env"].items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        forget_settings()
        outcome: dict[str, Any] = {}
        try:
            outcome["full"] = await run_turn(uh, None)
            outcome["interrupt"] = await run_turn(uh, CONFIG["interrupt_after_words"])
        except Exception:
            outcome["error"] = traceback.format_exc()
        results[run["name"]] = outcome
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
