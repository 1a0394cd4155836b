"""Inside upstream unmute: time to first audio of its handler, through each TTS client.

Run by `bench.dropin_overhead` with the Python 3.12 interpreter of the `host`
environment (scripts/unmute_host_env.py) and an upstream checkout on `PYTHONPATH`:
`python -P dropin_driver.py CONFIG_JSON`. Standalone: imports nothing from this
project but the drop-in. Prints one JSON object as its last line.

Each turn is one reply of upstream's own `UnmuteHandler` (only the LLM is faked: the
reply in 5-character chunks, 10 ms apart, the first at once; the microphone clock advances in real
time). Turns alternate between upstream's client (`unmute.tts.text_to_speech`) and
the drop-in (`unmute.tts.pluggable`), set as the handler's `TextToSpeech` (and the
message classes it imports beside it) before each turn. Per turn, in ms:

- `handler_ttfa`: the handler's own measure (`debug_dict["timing"]["tts_audio"]`),
  from the LLM's first word, before the client's `start_up` has returned, to the
  first audio in its `_tts_loop`: a slow `start_up` counts there;
- `start_up`: how long the client's `start_up` took (discovery waits for it);
- `ttfa`: from the handler's first `send` of a word to the first `Audio` the client
  yields, split into `to_wire` (until the first word leaves on the WebSocket),
  `service` (until the first audio frame is read off it) and `from_wire` (until the
  client yields it to the handler).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

CONFIG: dict[str, Any] = json.loads(sys.argv[1])
REPLY: str = CONFIG["reply"]


class FakeLLMStream:
    """Stands in for `VLLMStream`: the reply in 5-character chunks, 10 ms apart, the
    first at once (the TTS client is still starting up)."""

    def __init__(self, client: object, temperature: float = 1.0) -> None:
        self.client = client

    async def chat_completion(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        for i in range(0, len(REPLY), 5):
            if i:
                await asyncio.sleep(0.01)
            yield REPLY[i : i + 5]


WIRE: dict[str, float] = {}
"""This turn's first word on the wire and first audio off it (loop time)."""


def watch_the_wire() -> None:
    """Note when the first word leaves and the first audio arrives on any WebSocket."""
    import msgpack  # pyright: ignore[reportMissingImports]
    from websockets.asyncio.connection import Connection  # pyright: ignore[reportMissingImports]

    send, recv = Connection.send, Connection.recv

    async def timed_send(self: Any, message: Any, *args: Any, **kwargs: Any) -> None:
        if (
            "first_word" not in WIRE
            and isinstance(message, bytes)
            and msgpack.unpackb(message).get("type") == "Text"
        ):
            WIRE["first_word"] = asyncio.get_running_loop().time()
        await send(self, message, *args, **kwargs)

    async def timed_recv(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = await recv(self, *args, **kwargs)
        if (
            "first_audio" not in WIRE
            and "first_word" in WIRE
            and isinstance(message, bytes)
            and msgpack.unpackb(message).get("type") == "Audio"
        ):
            WIRE["first_audio"] = asyncio.get_running_loop().time()
        return message

    Connection.send, Connection.recv = timed_send, timed_recv


def timed(base: type) -> tuple[type, dict[str, float]]:
    """A subclass of the client `base` noting its first word sent and first audio yielded."""
    marks: dict[str, float] = {}

    class Timed(base):  # type: ignore[misc, valid-type]
        async def start_up(self) -> None:
            started = asyncio.get_running_loop().time()
            await super().start_up()
            marks["start_up"] = asyncio.get_running_loop().time() - started

        async def send(self, message: Any) -> None:
            if "first_word" not in marks and getattr(message, "type", "Text") == "Text":
                marks["first_word"] = asyncio.get_running_loop().time()
            await super().send(message)

        async def __aiter__(self) -> AsyncIterator[Any]:
            async for message in super().__aiter__():
                if "first_audio" not in marks and message.type == "Audio":
                    marks["first_audio"] = asyncio.get_running_loop().time()
                yield message

    return Timed, marks


SHARED_NAMES = ("TTSAudioMessage", "TTSClientEosMessage", "TTSTextMessage")
"""What the handler imports from its client's module besides `TextToSpeech`."""


async def turn(uh: Any, client: type) -> dict[str, float]:
    """One reply through `client`: its time to first audio, and where it went, in ms."""
    uh.TextToSpeech, marks = timed(client)
    WIRE.clear()
    module = sys.modules[client.__module__]
    for name in SHARED_NAMES:  # as the handler's import line would have them
        setattr(uh, name, getattr(module, name))
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
            deadline = loop.time() + CONFIG["timeout_s"]
            while handler.chatbot.conversation_state() != "waiting_for_user":
                if loop.time() > deadline:
                    raise TimeoutError("the reply did not end")
                await asyncio.sleep(0.01)
            handler_ttfa = handler.debug_dict["timing"]["tts_audio"]
        await handler.cleanup()
    finally:
        for helper in helpers:
            helper.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
    if "first_audio" not in marks or "first_word" not in marks:
        raise RuntimeError(f"{client.__module__}: no first word or audio: {marks}")
    return {
        "handler_ttfa": handler_ttfa * 1000,
        "start_up": marks["start_up"] * 1000,
        "ttfa": (marks["first_audio"] - marks["first_word"]) * 1000,
        "to_wire": (WIRE["first_word"] - marks["first_word"]) * 1000,
        "service": (WIRE["first_audio"] - WIRE["first_word"]) * 1000,
        "from_wire": (marks["first_audio"] - WIRE["first_audio"]) * 1000,
    }


async def main() -> dict[str, list[dict[str, float]]]:
    import unmute.unmute_handler as uh  # pyright: ignore[reportMissingImports]  (upstream's)
    from unmute.tts.text_to_speech import (  # pyright: ignore[reportMissingImports]
        TextToSpeech as Upstream,
    )

    from unmute.tts.pluggable import TextToSpeech as DropIn

    uh.VLLMStream = FakeLLMStream
    uh.get_openai_client = lambda *args, **kwargs: None  # pyright: ignore[reportUnknownLambdaType]
    clients = {"upstream": Upstream, "drop-in": DropIn}
    watch_the_wire()
    times: dict[str, list[dict[str, float]]] = {name: [] for name in clients}
    for i in range(CONFIG["warmup"] + CONFIG["runs"]):
        for name in clients if i % 2 == 0 else reversed(clients):
            ttfa = await turn(uh, clients[name])
            if i >= CONFIG["warmup"]:
                times[name].append(ttfa)
    return times


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())))
