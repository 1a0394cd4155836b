"""Drive upstream unmute's own `UnmuteHandler` through three replies on a fallback chain.

Run by the Python 3.12 interpreter of the `host` environment with an upstream checkout
(with the README's one-line change) on `PYTHONPATH` and `UNMUTE_TTS_BACKEND` naming the
chain (`orpheus,espeak`): `python -P drive_fallback.py CONFIG_JSON`. Standalone: it
imports nothing from this project's tests. Only the LLM is faked, as in
`drive_handler.py`; the microphone clock advances in real time.

The test process starts and kills the Orpheus service; the two sides meet over the
pipes: this driver prints `STEP <name>` lines and waits for a line on stdin where the
test must act.

1. `down`: one reply while nothing listens at ORPHEUS_FASTAPI_URL; then `STEP down`.
   The test starts the service and answers.
2. The driver waits until the chain's probe marks `orpheus` available again, then
   `up`: one reply.
3. `killed`: one reply; when its first word reaches the handler (after its first
   audio) the driver prints `STEP first-word` without waiting, and the test kills
   the service.

The last line of stdout is one JSON object: per reply, the messages the client gave
the handler (type, text, time on the loop clock), the first word sent, the chat
history's reply, and the chain's metrics of that utterance (the member that spoke).
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from collections.abc import AsyncIterator
from typing import Any

CONFIG: dict[str, Any] = json.loads(sys.argv[1])
REPLY: str = CONFIG["reply"]
TURN: dict[str, Any] = {}
"""What the current reply observed."""


class FakeLLMStream:
    """Stands in for `VLLMStream`: yields the reply in 5-character chunks, 10 ms apart."""

    def __init__(self, client: object, temperature: float = 1.0) -> None:
        self.client = client

    async def chat_completion(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        for i in range(0, len(REPLY), 5):
            await asyncio.sleep(0.01)
            yield REPLY[i : i + 5]


def step(name: str, *, wait: bool) -> None:
    """Tell the test where we are; with `wait`, until it answers on stdin."""
    print(f"STEP {name}", flush=True)
    if wait:
        sys.stdin.readline()


def install_fakes(uh: Any) -> None:
    """Fake the LLM; note what the TTS client is sent and what it yields."""
    uh.VLLMStream = FakeLLMStream
    uh.get_openai_client = lambda *args, **kwargs: None  # pyright: ignore[reportUnknownLambdaType]
    base = uh.TextToSpeech

    class ObservedTextToSpeech(base):  # type: ignore[misc, valid-type]
        async def send(self, message: Any) -> None:
            if "first_word_at" not in TURN and isinstance(message, str) and message.strip():
                TURN["first_word_at"] = asyncio.get_running_loop().time()
            await super().send(message)

        async def __aiter__(self) -> AsyncIterator[Any]:
            async for message in super().__aiter__():
                kind = message.type
                first = kind == "Text" and not any(o["type"] == "Text" for o in TURN["seen"])
                if first and TURN.get("signal_first_word"):
                    step("first-word", wait=False)
                TURN["seen"].append(
                    {
                        "t": asyncio.get_running_loop().time(),
                        "type": kind,
                        "text": getattr(message, "text", None) or getattr(message, "message", None),
                    }
                )
                yield message

    uh.TextToSpeech = ObservedTextToSpeech


async def wait_for(condition: Any, what: str) -> None:
    """Until `condition()` holds; TimeoutError after CONFIG["timeout_s"]."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CONFIG["timeout_s"]
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def reply(uh: Any, name: str) -> dict[str, Any]:
    """One reply of a fresh handler, to its end."""
    TURN.clear()
    TURN.update(seen=[], signal_first_word=name == "killed")
    loop = asyncio.get_running_loop()
    handler = uh.UnmuteHandler()
    t0 = loop.time()

    async def mic_clock() -> None:
        while True:
            handler.n_samples_received = int((loop.time() - t0) * handler.input_sample_rate)
            await asyncio.sleep(0.005)

    async def drain() -> None:
        while True:
            await handler.emit()

    helpers = [asyncio.create_task(mic_clock()), asyncio.create_task(drain())]
    try:
        async with handler:
            handler.chatbot.chat_history.append({"role": "user", "content": "Tell me a thing."})
            await handler._generate_response()
            quests = handler.quest_manager.quests
            await wait_for(lambda: "tts" in quests, f"{name}: the TTS quest")
            await wait_for(lambda: quests["tts"].task.done(), f"{name}: the end of the reply")
            history = handler.chatbot.last_message("assistant") or ""
        await handler.cleanup()
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    return {"seen": TURN["seen"], "first_word_at": TURN.get("first_word_at"), "history": history}


async def main() -> dict[str, Any]:
    import unmute.unmute_handler as uh  # pyright: ignore[reportMissingImports]  (upstream's)

    from unmute.tts import availability
    from unmute.tts import session_metrics as mt

    utterances: list[dict[str, Any]] = []
    mt.add_metrics_listener(lambda m: utterances.append(m.summary()))
    install_fakes(uh)
    results: dict[str, Any] = {}
    for name in ("down", "up", "killed"):
        if name == "up":
            probe = availability.availability("orpheus").probe_task
            if probe is not None:
                await asyncio.wait_for(probe, timeout=CONFIG["timeout_s"])
            results["available_before_up"] = availability.is_available("orpheus")
        try:
            results[name] = await reply(uh, name)
        except Exception:
            results[name] = {"error": traceback.format_exc()}
        results[name]["utterances"] = [u for u in utterances if u["chain"] is not None]
        utterances.clear()
        if name == "down":
            step("down", wait=True)
    results["fallbacks"] = [[*key, n] for key, n in availability.FALLBACKS.items()]
    return results


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
