"""ctypes declarations of libespeak-ng, after its public header `speak_lib.h` (API
revision 12): the constants, structures and callback type used here, and `Library`,
typed access to the few functions the engine calls.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Final

from unmute.tts.base import BackendError

# speak_lib.h constants.
AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
INITIALIZE_DONT_EXIT: Final = 0x8000
CHARS_UTF8: Final = 1
ENDPAUSE: Final = 0x1000
POS_CHARACTER: Final = 1
EE_OK: Final = 0
EVENT_LIST_TERMINATED: Final = 0
EVENT_WORD: Final = 1
CALLBACK_CONTINUE: Final = 0
CALLBACK_ABORT: Final = 1
BUFFER_MS: Final = 40
"""Length of the audio buffers the library hands to the callback."""


class EspeakError(BackendError):
    """libespeak-ng failed or cannot be used."""


class EventId(ctypes.Union):
    _fields_ = [
        ("number", ctypes.c_int),
        ("name", ctypes.c_char_p),
        ("string", ctypes.c_char * 8),
    ]


class Event(ctypes.Structure):
    """espeak_EVENT."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", EventId),
    ]
    type: int
    text_position: int
    length: int
    audio_position: int
    sample: int


class Voice(ctypes.Structure):
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
SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)


class Library:
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
        self._set_synth_callback.argtypes = [SynthCallback]
        self._set_synth_callback.restype = None
        self._set_voice_by_name = lib.espeak_SetVoiceByName
        self._set_voice_by_name.argtypes = [ctypes.c_char_p]
        self._set_voice_by_name.restype = ctypes.c_int
        self._list_voices = lib.espeak_ListVoices
        self._list_voices.argtypes = [ctypes.POINTER(Voice)]
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
            AUDIO_OUTPUT_SYNCHRONOUS, buffer_ms, data_path.encode(), INITIALIZE_DONT_EXIT
        )
        return rate

    def set_synth_callback(self, callback: Callable[[int | None, int, int | None], int]) -> None:
        """espeak_SetSynthCallback; the C function object lives as long as this library."""
        self._callback = SynthCallback(callback)
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
            spec = Voice()
            spec.languages = ctypes.cast(keep, ctypes.c_void_p).value
        address: int | None = self._list_voices(ctypes.byref(spec) if spec is not None else None)
        found: list[tuple[str, str]] = []
        step = ctypes.sizeof(ctypes.c_void_p)
        while address:
            voice_address = ctypes.c_void_p.from_address(address).value
            if not voice_address:
                break
            voice = Voice.from_address(voice_address)
            if voice.name is not None and voice.identifier is not None:
                found.append((voice.name.decode(), voice.identifier.decode()))
            address += step
        return found

    def synth(self, text: bytes, flags: int) -> int:
        """espeak_Synth from the start of `text` (NUL-terminated by ctypes)."""
        status: int = self._synth(text, len(text) + 1, 0, POS_CHARACTER, 0, flags, None, None)
        return status

    def info(self) -> tuple[str, str]:
        """espeak_Info: the library version and the data path it uses."""
        path = ctypes.c_char_p()
        version: bytes | None = self._info(ctypes.byref(path))
        return (version or b"?").decode(), (path.value or b"").decode()
