"""libespeak-ng as an engine: voices, and synthesis through the C callback.

libespeak-ng is one global C library per process: `EspeakEngine.get()` initializes it
once (synchronous retrieval mode, the data folder of the `espeakng-loader` wheel) and
every call into it holds `ENGINE_LOCK`. `EspeakEngine.stream()` runs one synthesis in a
worker thread (`stream.SynthesisStream`); the C declarations are in `library`.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Final

import numpy as np

from unmute.tts.espeak_ng.library import (
    BUFFER_MS,
    CALLBACK_ABORT,
    CALLBACK_CONTINUE,
    CHARS_UTF8,
    EE_OK,
    ENDPAUSE,
    EVENT_LIST_TERMINATED,
    EVENT_WORD,
    EspeakError,
    Event,
    Library,
)
from unmute.tts.espeak_ng.stream import SynthChunk, SynthesisResult, SynthesisStream, WordEvent
from unmute.tts.extras import require_extra

DEFAULT_VOICE: Final = "en-us"
"""The voice used when none is asked for."""

ENGINE_LOCK: Final = threading.RLock()
"""Held around every call into libespeak-ng (it keeps global state)."""


class UnknownVoiceError(EspeakError):
    """The requested voice does not exist in the bundled espeak-ng data."""


@dataclass
class _Job:
    emit: Callable[[SynthChunk], None]
    cancel: threading.Event
    samples: int = 0
    aborted: bool = False
    error: BaseException | None = None


@dataclass(frozen=True)
class _VoiceInfo:
    key: str
    name: str
    usable: bool


class EspeakEngine:
    """libespeak-ng, initialized once per process. Get it with `EspeakEngine.get()`."""

    _instance: ClassVar[EspeakEngine | None] = None

    def __init__(self, library_path: str, data_path: str) -> None:
        """Load and initialize the library (use `get()`; the library is global)."""
        self.data_path = Path(data_path)
        self._lib = Library(library_path)
        rate = self._lib.initialize(BUFFER_MS, data_path)
        if rate <= 0:
            raise EspeakError(f"espeak_Initialize failed (data path {data_path})")
        self.sample_rate: int = rate
        """Native sample rate (22050 Hz with the bundled voices)."""
        self.version, self.resolved_data_path = self._lib.info()
        self._job: _Job | None = None
        self._lib.set_synth_callback(self._on_synth)
        self._current_voice: str | None = None

    @classmethod
    def get(cls) -> EspeakEngine:
        """The process-wide engine, initialized on first use."""
        with ENGINE_LOCK:
            if cls._instance is None:
                loader = require_extra("espeakng_loader", "espeak", feature="libespeak-ng")
                cls._instance = cls(loader.get_library_path(), loader.get_data_path())
            return cls._instance

    # -- voices ----------------------------------------------------------------------

    @cached_property
    def _voice_table(self) -> dict[str, _VoiceInfo]:
        with ENGINE_LOCK:
            listed = self._lib.list_voices()
        table: dict[str, _VoiceInfo] = {}
        for name, identifier in listed:
            key = identifier.rsplit("/", 1)[-1].lower()
            usable = self._has_dictionary(self.data_path / "lang" / identifier)
            table.setdefault(key, _VoiceInfo(key=key, name=name, usable=usable))
        return table

    @cached_property
    def _variant_table(self) -> dict[str, str]:
        folder = self.data_path / "voices" / "!v"
        if not folder.is_dir():
            return {}
        return {path.name.lower(): path.name for path in folder.iterdir() if path.is_file()}

    def _has_dictionary(self, voice_file: Path) -> bool:
        """Whether the voice's pronunciation dictionary ships in the data folder.

        A voice file names it with `dictionary X`; otherwise it is the first language's
        base code. The wheel lists a few voices (e.g. fo, kaa, xex) without one.
        """
        try:
            lines = voice_file.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return True  # cannot tell: let espeak decide
        dictionary: str | None = None
        language: str | None = None
        for line in lines:
            parts = line.split()
            if len(parts) < 2:
                continue
            if parts[0] == "dictionary" and dictionary is None:
                dictionary = parts[1]
            elif parts[0] == "language" and language is None:
                language = parts[1].split("-", 1)[0]
        name = dictionary or language
        return name is None or (self.data_path / f"{name}_dict").is_file()

    def voices(self) -> list[str]:
        """Usable voice names (language codes such as en-us, fr, de), sorted.

        A variant may be appended with `+`, e.g. `en-us+f3` (see `variants()`).
        """
        return sorted(info.key for info in self._voice_table.values() if info.usable)

    def variants(self) -> list[str]:
        """Voice variants (timbres) that can follow a voice after `+`."""
        return sorted(self._variant_table.values(), key=str.lower)

    def resolve_voice(self, voice: str | None) -> str:
        """The canonical name of `voice` (None: the default); UnknownVoiceError if absent."""
        requested = (voice or DEFAULT_VOICE).strip()
        base, _, variant = requested.partition("+")
        info = self._voice_table.get(base.lower())
        if info is None or not info.usable:
            sample = ", ".join(_voice_sample(self.voices()))
            raise UnknownVoiceError(
                f"unknown espeak voice {requested!r}; available ({len(self.voices())}): "
                f"{sample}, ... (optionally with a variant, e.g. {DEFAULT_VOICE}+f3)"
            )
        if not variant:
            return info.key
        variant_name = self._variant_table.get(variant.lower())
        if variant_name is None:
            sample = ", ".join(self.variants()[:12])
            raise UnknownVoiceError(
                f"unknown espeak voice variant {variant!r} in {requested!r}; "
                f"variants include: {sample}, ..."
            )
        return f"{info.key}+{variant_name}"

    # -- synthesis -------------------------------------------------------------------

    def synthesize(
        self,
        text: str,
        voice: str,
        emit: Callable[[SynthChunk], None],
        *,
        cancel: threading.Event | None = None,
        end_pause: bool = True,
    ) -> SynthesisResult:
        """Speak `text` with `voice` (a resolved name), blocking; `emit` gets each buffer.

        `emit` runs in the calling thread while the library holds it; setting `cancel`
        aborts at the next buffer. `end_pause` adds espeak's pause after the last clause.
        """
        cancel = cancel or threading.Event()
        job = _Job(emit=emit, cancel=cancel)
        with ENGINE_LOCK:
            if cancel.is_set():
                return SynthesisResult(samples=0, aborted=True)
            if voice != self._current_voice:
                status = self._lib.set_voice_by_name(voice)
                if status != EE_OK:
                    raise UnknownVoiceError(f"espeak could not load voice {voice!r} ({status})")
                self._current_voice = voice
            flags = CHARS_UTF8 | (ENDPAUSE if end_pause else 0)
            self._job = job
            try:
                status = self._lib.synth(text.replace("\0", " ").encode("utf-8"), flags)
            finally:
                self._job = None
        if job.error is not None:
            raise job.error
        if status != EE_OK and not job.aborted:
            raise EspeakError(f"espeak_Synth failed ({status})")
        return SynthesisResult(samples=job.samples, aborted=job.aborted)

    def stream(self, text: str, voice: str, *, end_pause: bool = True) -> SynthesisStream:
        """An async context manager that streams the synthesis of `text` (see SynthesisStream)."""

        def work(emit: Callable[[SynthChunk], None], cancel: threading.Event) -> SynthesisResult:
            return self.synthesize(text, voice, emit, cancel=cancel, end_pause=end_pause)

        return SynthesisStream(work)

    def _on_synth(self, wav: int | None, num_samples: int, events: int | None) -> int:
        """The C callback: one buffer of audio and its events (a NULL buffer at the end)."""
        job = self._job
        if job is None:
            return CALLBACK_ABORT
        try:
            if job.cancel.is_set():
                job.aborted = True
                return CALLBACK_ABORT
            words: list[WordEvent] = []
            address = events
            step = ctypes.sizeof(Event)
            while address:
                event = Event.from_address(address)
                if event.type == EVENT_LIST_TERMINATED:
                    break
                if event.type == EVENT_WORD:
                    words.append(
                        WordEvent(
                            char_index=max(event.text_position - 1, 0),
                            char_length=event.length,
                            sample=event.sample,
                        )
                    )
                address += step
            if wav and num_samples > 0:
                samples = np.frombuffer(ctypes.string_at(wav, num_samples * 2), dtype=np.int16)
            else:
                samples = np.zeros(0, dtype=np.int16)
            if len(samples) or words:
                job.emit(SynthChunk(start_sample=job.samples, samples=samples, words=tuple(words)))
            job.samples += len(samples)
        except BaseException as exc:  # never let an exception unwind through C
            job.error = exc
            return CALLBACK_ABORT
        return CALLBACK_CONTINUE


def _voice_sample(voices: list[str]) -> list[str]:
    """A few voices worth showing first in an error message."""
    preferred = ["en-us", "en", "en-gb-x-rp", "fr", "de", "es", "it", "pt", "nl", "ja", "cmn"]
    shown = [voice for voice in preferred if voice in voices]
    return shown + [voice for voice in voices if voice not in shown][: 20 - len(shown)]
