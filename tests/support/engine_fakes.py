"""Fakes of the engine's collaborators: a token source, a decoder, and helpers that
collect and check a synthesis's events (shared by the engine's and the API's tests)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from orpheus_service.engine.events import AudioChunk, EngineEvent, WordTiming
from orpheus_service.engine.pipeline import OrpheusEngine
from orpheus_service.engine.synthesis import Synthesis
from orpheus_service.vocabulary.prompt import PromptPart
from orpheus_service.vocabulary.sampling import SamplingOverrides
from orpheus_service.vocabulary.tokens import END_OF_SPEECH, Frame

SAMPLES = 2048


def tok(slot: int, code: int) -> int:
    return 128266 + slot * 4096 + code


class SourceError(Exception):
    """Stands in for LlamaServerError."""


@dataclass
class FakeSource:
    """Token source: per segment, `frames_per_word` frames per word, then end_of_speech.

    Frame k of request n carries codes (n, k, 0, ...), so audio values tell
    which request and frame they came from.
    """

    frames_per_word: int = 1
    token_delay_s: float = 0.0
    end: bool = True
    forever: bool = False
    fail_after_tokens: int | None = None
    only_text_tokens: bool = False
    log: list[tuple[str, int]] = field(default_factory=list[tuple[str, int]])
    prompts: list[str] = field(default_factory=list[str])
    closed: list[int] = field(default_factory=list[int])
    consumed: list[int] = field(default_factory=list[int])
    _started: dict[int, asyncio.Event] = field(default_factory=dict[int, asyncio.Event])

    def started(self, request: int) -> asyncio.Event:
        """Set once request number `request` (0 first) has started."""
        return self._started.setdefault(request, asyncio.Event())

    def __call__(
        self, prompt: list[PromptPart], /, *, sampling: SamplingOverrides | None = None
    ) -> AsyncIterator[int]:
        return self._stream(prompt)

    async def _stream(self, prompt: list[PromptPart]) -> AsyncIterator[int]:
        request = len(self.prompts)
        text = str(prompt[2]).split(": ", 1)[1]
        self.prompts.append(text)
        self.consumed.append(0)
        self.log.append(("start", request))
        self.started(request).set()
        try:
            count = 0
            frames = len(text.split()) * self.frames_per_word
            k = 0
            while self.forever or k < frames:
                for slot in range(7):
                    code = request if slot == 0 else (k if slot == 1 else 0)
                    token = 1000 if self.only_text_tokens else tok(slot, code)
                    if self.fail_after_tokens is not None and count >= self.fail_after_tokens:
                        raise SourceError("llama-server said no")
                    if self.token_delay_s:
                        await asyncio.sleep(self.token_delay_s)
                    count += 1
                    self.consumed[request] = count
                    yield token
                k += 1
            if self.end:
                yield END_OF_SPEECH
                yield tok(0, 1)  # garbage after the end, never to be read
                self.consumed[request] = count + 2
            self.log.append(("end", request))
        finally:
            self.closed.append(request)


class FakeDecoder:
    """Async decoder: frame (n, k, ...) -> 2048 samples of n * 1000 + k, one frame late."""

    def __init__(self) -> None:
        self.pending: list[Frame] = []

    @staticmethod
    def _pcm(frames: Sequence[Frame]) -> npt.NDArray[np.float32]:
        return np.concatenate(
            [np.full(SAMPLES, f[0] * 1000 + f[1], dtype=np.float32) for f in frames]
        )

    async def decode(self, frames: Sequence[Frame]) -> npt.NDArray[np.float32] | None:
        self.pending += frames
        ready, self.pending = self.pending[:-1], self.pending[-1:]
        return self._pcm(ready) if ready else None

    async def flush(self) -> npt.NDArray[np.float32] | None:
        ready, self.pending = self.pending, []
        return self._pcm(ready) if ready else None


def make_engine(
    source: FakeSource,
    *,
    lookahead_segments: int = 1,
    max_tokens: int | None = None,
    word_hold_s: float = 0.0,
) -> OrpheusEngine:
    return OrpheusEngine(
        source,
        FakeDecoder,
        lookahead_segments=lookahead_segments,
        max_tokens=max_tokens,
        word_hold_s=word_hold_s,
    )


async def collect(synthesis: Synthesis) -> list[EngineEvent]:
    async with contextlib.aclosing(synthesis):
        return [event async for event in synthesis]


async def words_stream(text: str) -> AsyncIterator[str]:
    for index, word in enumerate(text.split(" ")):
        yield word if index == 0 else " " + word


def audio_of(events: list[EngineEvent]) -> npt.NDArray[np.float32]:
    return np.concatenate([e.pcm for e in events if isinstance(e, AudioChunk)])


def assert_words_come_before_the_audio_they_start_in(events: list[EngineEvent]) -> float:
    """Each word comes right before the audio chunk it starts in (not in audio sent
    before it, not before a chunk that ends before its start); the audio's end (s)."""
    audio_end = 0.0
    words: list[WordTiming] = []
    pending: list[WordTiming] = []
    for event in events:
        if isinstance(event, WordTiming):
            assert event.start_s >= audio_end - 1e-9, (event, audio_end)
            words.append(event)
            pending.append(event)
        elif isinstance(event, AudioChunk):
            audio_end = event.start_s + event.duration_s
            assert all(word.start_s < audio_end for word in pending), (pending, audio_end)
            pending = []
    assert all(word.stop_s <= audio_end + 1e-9 for word in words)
    return audio_end
