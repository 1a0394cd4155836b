"""The TextToSpeech protocol and the messages of unmute's TTS client contract.

Message names and fields match unmute's `unmute/tts/text_to_speech.py`, so unmute's
handler drives any backend unchanged: `await tts.start_up()`, `await tts.send(word)`
per LLM word, `await tts.send(TTSClientEosMessage())`, `async for msg in tts`, and
`await tts.shutdown()` (idempotent) on interruption or at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Annotated, Any, Literal, Protocol, cast, runtime_checkable

import msgpack  # pyright: ignore[reportMissingTypeStubs]
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

SAMPLE_RATE = 24_000
"""Every backend yields float32 mono audio at this rate."""

TTSState = Literal["not_created", "connecting", "connected", "closing", "closed"]

FloatArray = npt.NDArray[np.float32]


class TTSClientTextMessage(BaseModel):
    """Text for the TTS to speak (one word or a few, as an LLM writes them)."""

    type: Literal["Text"] = "Text"
    text: str


class TTSClientEosMessage(BaseModel):
    """End of the text stream: the TTS finishes speaking and ends."""

    type: Literal["Eos"] = "Eos"


TTSClientMessage = Annotated[
    TTSClientTextMessage | TTSClientEosMessage, Field(discriminator="type")
]
TTSClientMessageAdapter: TypeAdapter[TTSClientTextMessage | TTSClientEosMessage] = TypeAdapter(
    TTSClientMessage
)


class TTSTextMessage(BaseModel):
    """A spoken word and where it lies in the audio stream (seconds from its start)."""

    type: Literal["Text"] = "Text"
    text: str
    start_s: float
    stop_s: float


class TTSAudioMessage(BaseModel):
    """A chunk of float32 mono 24 kHz PCM. `np.asarray(msg.pcm)` gives the samples."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    type: Literal["Audio"] = "Audio"
    pcm: FloatArray

    @field_validator("pcm", mode="before")
    @classmethod
    def _as_float32(cls, value: Any) -> FloatArray:
        array = np.asarray(value, dtype=np.float32)
        if array.ndim != 1:
            raise ValueError(f"pcm must be 1-D mono audio, got shape {array.shape}")
        return array

    @property
    def duration_s(self) -> float:
        """Length of this chunk in seconds."""
        return len(self.pcm) / SAMPLE_RATE

    def to_wire(self) -> dict[str, Any]:
        """The msgpack-ready dict of unmute's wire format (pcm as a list of floats)."""
        return {"type": "Audio", "pcm": self.pcm.tolist()}


class TTSErrorMessage(BaseModel):
    """The backend failed; the stream ends after this message."""

    type: Literal["Error"] = "Error"
    message: str


class TTSReadyMessage(BaseModel):
    """The backend is ready to take text."""

    type: Literal["Ready"] = "Ready"


TTSMessage = Annotated[
    TTSTextMessage | TTSAudioMessage | TTSErrorMessage | TTSReadyMessage,
    Field(discriminator="type"),
]
TTSMessageAdapter: TypeAdapter[
    TTSTextMessage | TTSAudioMessage | TTSErrorMessage | TTSReadyMessage
] = TypeAdapter(TTSMessage)

OutputMessage = TTSAudioMessage | TTSTextMessage | TTSErrorMessage


def message_to_wire(
    message: TTSTextMessage | TTSAudioMessage | TTSErrorMessage | TTSReadyMessage,
) -> dict[str, Any]:
    """The msgpack-ready dict for a server message."""
    if isinstance(message, TTSAudioMessage):
        return message.to_wire()
    return message.model_dump()


class WireError(ValueError):
    """A frame that is not a msgpack map, as unmute's protocol requires."""


WireMessage = (
    TTSTextMessage
    | TTSAudioMessage
    | TTSErrorMessage
    | TTSReadyMessage
    | TTSClientTextMessage
    | TTSClientEosMessage
)


def encode_frame(message: WireMessage | Mapping[str, Any], *, single_float: bool = False) -> bytes:
    """One binary WebSocket frame of unmute's protocol: the message as a msgpack map.

    `single_float` packs floats as float32 (half the bytes; Audio samples are float32).
    """
    if isinstance(message, TTSTextMessage | TTSAudioMessage | TTSErrorMessage | TTSReadyMessage):
        data: Mapping[str, Any] = message_to_wire(message)
    elif isinstance(message, TTSClientTextMessage | TTSClientEosMessage):
        data = message.model_dump()
    else:
        data = message
    packb = cast(Any, msgpack.packb)  # pyright: ignore[reportUnknownMemberType]
    return cast(bytes, packb(dict(data), use_single_float=single_float))


def decode_frame(raw: str | bytes | bytearray | memoryview) -> dict[str, Any]:
    """The msgpack map in one binary frame; WireError for anything else."""
    if isinstance(raw, str):
        raise WireError("got a text frame; unmute's protocol sends msgpack binary frames")
    try:
        unpackb = cast(Any, msgpack.unpackb)  # pyright: ignore[reportUnknownMemberType]
        message: object = unpackb(bytes(raw), raw=False)
    except Exception as exc:
        raise WireError(f"undecodable frame: {exc}") from None
    if not isinstance(message, dict):
        raise WireError(f"got a msgpack {type(message).__name__}, expected a map")
    return cast(dict[str, Any], message)


@runtime_checkable
class TextToSpeech(Protocol):
    """A streaming TTS session, driven exactly as unmute's handler drives its client."""

    async def start_up(self) -> None:
        """Connect or load; return once the backend is ready to take text."""
        ...

    async def send(self, message: str | TTSClientTextMessage | TTSClientEosMessage) -> None:
        """Send a word (str or text message) or the end-of-stream message."""
        ...

    def __aiter__(self) -> AsyncIterator[OutputMessage]:
        """Audio chunks and spoken words, in order; an Error message ends the stream."""
        ...

    async def shutdown(self) -> None:
        """Stop at once and release everything. Idempotent."""
        ...

    def state(self) -> TTSState:
        """Where the session is in its life."""
        ...
