"""What `OrpheusEngine` yields (audio chunks, word timings, segment ends), its counters, errors."""

from __future__ import annotations

from dataclasses import dataclass, field

from orpheus_service.engine.tokens import TokenStats
from orpheus_service.vocabulary.audio import SAMPLE_RATE, Pcm


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Float32 mono PCM at 24 kHz; `start_s` is its position in the whole output."""

    pcm: Pcm
    start_s: float
    segment: int

    @property
    def duration_s(self) -> float:
        """Length of the chunk in seconds."""
        return self.pcm.shape[0] / SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class WordTiming:
    """A spoken word and its estimated time in the output audio."""

    word: str
    start_s: float
    stop_s: float
    segment: int


@dataclass(frozen=True, slots=True)
class SegmentDone:
    """A segment was fully spoken; its counters."""

    segment: int
    text: str
    start_s: float
    duration_s: float
    tokens: TokenStats
    truncated: bool
    """The llama request hit max_tokens before end_of_speech: speech may be cut."""


EngineEvent = AudioChunk | WordTiming | SegmentDone


@dataclass
class EngineStats:
    """Counters of one synthesis, updated as it runs."""

    segments: int = 0
    """Segments fully spoken."""
    tokens: TokenStats = field(default_factory=TokenStats)
    """Token counters summed over the segments (frames, dropped frames...)."""
    truncated_segments: int = 0
    """Segments whose llama request ended at max_tokens without end_of_speech."""
    audio_s: float = 0.0
    """Seconds of audio emitted."""
    time_to_first_audio_s: float | None = None
    """From the start of iteration to the first audio chunk."""
    gate_wait_s: float = 0.0
    """Seconds the synthesis held its segments back for others (GenerationGate)."""

    @property
    def dropped_frames(self) -> int:
        """Frames dropped for out-of-range codes."""
        return self.tokens.dropped_frames


class OrpheusEngineError(RuntimeError):
    """Base of the engine's own errors."""


class NoAudioError(OrpheusEngineError):
    """A segment's generation produced no valid audio frame."""
