"""A thin ctypes wrapper around libespeak-ng, as shipped by the `espeakng-loader` wheel.

libespeak-ng is one global C library per process: `EspeakEngine.get()` initializes it
once (synchronous retrieval mode, the wheel's data folder) and every call into it holds
`ENGINE_LOCK`. `EspeakEngine.stream()` runs one synthesis in a worker thread and hands
the audio chunks and word events back to the event loop as the library produces them.

Declarations follow espeak-ng's public header `speak_lib.h` (API revision 12).
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Final, Self

import espeakng_loader  # pyright: ignore[reportMissingTypeStubs]
import numpy as np
import numpy.typing as npt

from unmute.tts.base import BackendError

DEFAULT_VOICE: Final = "en-us"
"""The voice used when none is asked for."""

ENGINE_LOCK: Final = threading.RLock()
"""Held around every call into libespeak-ng (it keeps global state)."""

Int16Array = npt.NDArray[np.int16]

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
_INITIALIZE_DONT_EXIT: Final = 0x8000
_CHARS_UTF8: Final = 1
_ENDPAUSE: Final = 0x1000
_POS_CHARACTER: Final = 1
_EE_OK: Final = 0
_EVENT_LIST_TERMINATED: Final = 0
_EVENT_WORD: Final = 1
_CALLBACK_CONTINUE: Final = 0
_CALLBACK_ABORT: Final = 1
_BUFFER_MS: Final = 40
"""Length of the audio buffers the library hands to the callback."""


class EspeakError(BackendError):
    """libespeak-ng failed or cannot be used."""


class UnknownVoiceError(EspeakError):
    """The requested voice does not exist in the bundled espeak-ng data."""


class _EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class _Event(ctypes.Structure):
    """espeak_EVENT."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]
    type: int
    text_position: int
    length: int
    audio_position: int
    sample: int


class _Voice(ctypes.Structure):
    """espeak_VOICE."""

    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]
    name: bytes | None
    languages: int | None
    identifier: bytes | None


# int callback(short *wav, int numsamples, espeak_EVENT *events); pointers as addresses.
_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)


class _Library:
    """Typed access to the few libespeak-ng functions used here."""

    def __init__(self, path: str) -> None:
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise EspeakError(f"cannot load libespeak-ng from {path}: {exc}") from exc
        self._initialize = lib.espeak_Initialize
        self._initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._initialize.restype = ctypes.c_int
        self._set_synth_callback = lib.espeak_SetSynthCallback
        self._set_synth_callback.argtypes = [_SynthCallback]
        self._set_synth_callback.restype = None
        self._set_voice_by_name = lib.espeak_SetVoiceByName
        self._set_voice_by_name.argtypes = [ctypes.c_char_p]
        self._set_voice_by_name.restype = ctypes.c_int
        self._list_voices = lib.espeak_ListVoices
        self._list_voices.argtypes = [ctypes.POINTER(_Voice)]
        self._list_voices.restype = ctypes.c_void_p
        self._synth = lib.espeak_Synth
        self._synth.argtypes = [
            ctypes.c_char_p,  # text
            ctypes.c_size_t,  # size
            ctypes.c_uint,  # position
            ctypes.c_int,  # position_type
            ctypes.c_uint,  # end_position
            ctypes.c_uint,  # flags
            ctypes.c_void_p,  # unique_identifier
            ctypes.c_void_p,  # user_data
        ]
        self._synth.restype = ctypes.c_int
        self._info = lib.espeak_Info
        self._info.argtypes = [ctypes.POINTER(ctypes.c_char_p)]
        self._info.restype = ctypes.c_char_p

    def initialize(self, buffer_ms: int, data_path: str) -> int:
        """espeak_Initialize in synchronous retrieval mode: the sample rate, or -1."""
        rate: int = self._initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, buffer_ms, data_path.encode(), _INITIALIZE_DONT_EXIT
        )
        return rate

    def set_synth_callback(self, callback: Callable[[int | None, int, int | None], int]) -> None:
        """espeak_SetSynthCallback; the C function object lives as long as this library."""
        self._callback = _SynthCallback(callback)
        self._set_synth_callback(self._callback)

    def set_voice_by_name(self, name: str) -> int:
        """espeak_SetVoiceByName: an espeak_ERROR code."""
        status: int = self._set_voice_by_name(name.encode())
        return status

    def list_voices(self, languages: str | None = None) -> list[tuple[str, str]]:
        """espeak_ListVoices: (name, identifier) of every voice (or of a language)."""
        spec = None
        if languages is not None:
            keep = ctypes.c_char_p(languages.encode())
            spec = _Voice()
            spec.languages = ctypes.cast(keep, ctypes.c_void_p).value
        address: int | None = self._list_voices(ctypes.byref(spec) if spec is not None else None)
        found: list[tuple[str, str]] = []
        step = ctypes.sizeof(ctypes.c_void_p)
        while address:
            voice_address = ctypes.c_void_p.from_address(address).value
            if not voice_address:
                break
            voice = _Voice.from_address(voice_address)
            if voice.name is not None and voice.identifier is not None:
                found.append((voice.name.decode(), voice.identifier.decode()))
            address += step
        return found

    def synth(self, text: bytes, flags: int) -> int:
        """espeak_Synth from the start of `text` (NUL-terminated by ctypes)."""
        status: int = self._synth(text, len(text) + 1, 0, _POS_CHARACTER, 0, flags, None, None)
        return status

    def info(self) -> tuple[str, str]:
        """espeak_Info: the library version and the data path it uses."""
        path = ctypes.c_char_p()
        version: bytes | None = self._info(ctypes.byref(path))
        return (version or b"?").decode(), (path.value or b"").decode()


@dataclass(frozen=True)
class WordEvent:
    """Where espeak starts speaking a word of the text it was given."""

    char_index: int
    """Index (in code points) of the word's first character in the synthesized text."""
    char_length: int
    sample: int
    """Native-rate sample, counted from the start of this synthesis."""


@dataclass(frozen=True)
class SynthChunk:
    """One buffer from the library: native-rate int16 samples and the words starting in it."""

    start_sample: int
    samples: Int16Array
    words: tuple[WordEvent, ...]


@dataclass(frozen=True)
class SynthesisResult:
    """How a synthesis ended."""

    samples: int
    """Native-rate samples produced."""
    aborted: bool
    """True when a cancellation stopped it before the end of the text."""


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
        self._lib = _Library(library_path)
        rate = self._lib.initialize(_BUFFER_MS, data_path)
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
                cls._instance = cls(
                    espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
                )
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

    def voice_description(self, voice: str) -> str:
        """The library's display name for a voice, e.g. 'English (America)'."""
        base = voice.split("+", 1)[0].lower()
        info = self._voice_table.get(base)
        return info.name if info is not None else voice

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
                if status != _EE_OK:
                    raise UnknownVoiceError(f"espeak could not load voice {voice!r} ({status})")
                self._current_voice = voice
            flags = _CHARS_UTF8 | (_ENDPAUSE if end_pause else 0)
            self._job = job
            try:
                status = self._lib.synth(text.replace("\0", " ").encode("utf-8"), flags)
            finally:
                self._job = None
        if job.error is not None:
            raise job.error
        if status != _EE_OK and not job.aborted:
            raise EspeakError(f"espeak_Synth failed ({status})")
        return SynthesisResult(samples=job.samples, aborted=job.aborted)

    def stream(self, text: str, voice: str, *, end_pause: bool = True) -> SynthesisStream:
        """An async context manager that streams the synthesis of `text` (see SynthesisStream)."""
        return SynthesisStream(self, text, voice, end_pause=end_pause)

    def _on_synth(self, wav: int | None, num_samples: int, events: int | None) -> int:
        """The C callback: one buffer of audio and its events (a NULL buffer at the end)."""
        job = self._job
        if job is None:
            return _CALLBACK_ABORT
        try:
            if job.cancel.is_set():
                job.aborted = True
                return _CALLBACK_ABORT
            words: list[WordEvent] = []
            address = events
            step = ctypes.sizeof(_Event)
            while address:
                event = _Event.from_address(address)
                if event.type == _EVENT_LIST_TERMINATED:
                    break
                if event.type == _EVENT_WORD:
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
            return _CALLBACK_ABORT
        return _CALLBACK_CONTINUE


def _voice_sample(voices: list[str]) -> list[str]:
    """A few voices worth showing first in an error message."""
    preferred = ["en-us", "en", "en-gb-x-rp", "fr", "de", "es", "it", "pt", "nl", "ja", "cmn"]
    shown = [voice for voice in preferred if voice in voices]
    return shown + [voice for voice in voices if voice not in shown][: 20 - len(shown)]


def _retrieve_exception(task: asyncio.Task[SynthesisResult]) -> None:
    """Mark a worker's failure as seen when nobody awaits it (e.g. after cancellation)."""
    if not task.cancelled():
        task.exception()


class _Finished:
    pass


_FINISHED: Final = _Finished()


class SynthesisStream:
    """One synthesis running in a worker thread, streamed to the event loop.

    Use as `async with engine.stream(text, voice) as stream: async for chunk in stream`.
    Chunks arrive as the library produces them. Leaving the block early (break, error,
    cancellation) aborts the synthesis at its next buffer and waits for the worker.
    `result` is set once the worker is done.
    """

    def __init__(self, engine: EspeakEngine, text: str, voice: str, *, end_pause: bool) -> None:
        self.engine = engine
        self.text = text
        self.voice = voice
        self.end_pause = end_pause
        self.result: SynthesisResult | None = None
        self._cancel = threading.Event()
        self._queue: asyncio.Queue[SynthChunk | _Finished] = asyncio.Queue()
        self._task: asyncio.Task[SynthesisResult] | None = None
        self._finished = False

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        queue = self._queue
        cancel = self._cancel

        def post(item: SynthChunk | _Finished) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody listens any more
                cancel.set()

        def run() -> SynthesisResult:
            try:
                return self.engine.synthesize(
                    self.text, self.voice, post, cancel=cancel, end_pause=self.end_pause
                )
            finally:
                post(_FINISHED)

        self._task = asyncio.create_task(asyncio.to_thread(run), name="espeak-synthesis")
        self._task.add_done_callback(_retrieve_exception)
        return self

    def cancel(self) -> None:
        """Abort the synthesis at its next buffer."""
        self._cancel.set()

    @property
    def running(self) -> bool:
        """Whether the worker is still synthesizing."""
        return self._task is not None and not self._task.done()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SynthChunk:
        if self._task is None:
            raise RuntimeError("iterate inside `async with engine.stream(...)`")
        if self._finished:
            raise StopAsyncIteration
        item = await self._queue.get()
        if isinstance(item, _Finished):
            self._finished = True
            self.result = await self._task
            raise StopAsyncIteration
        return item

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        task = self._task
        if task is None:
            return
        if not task.done():
            self._cancel.set()
            await asyncio.wait({task})  # the library stops at its next buffer
        if task.cancelled():
            return
        error = task.exception()
        if error is None:
            self.result = task.result()
        elif exc is None:
            raise error
