"""The piper backend's session: streamed words -> phrases -> piper -> 24 kHz audio and
exactly timed words.

Words are grouped into phrases (`unmute.tts.phrasing`): the first ends at its first
clause boundary or after a few words, so the first audio does not wait for a whole
sentence; later ones are sentence-sized. Each phrase is rendered in a worker thread
(`render`: onnxruntime releases the GIL) while the event loop only hands out the
result: each word's Text before the audio block its start lies in, blocks of 40 ms, on
the session's audio timeline. A shutdown drops whatever a running worker still
returns; the worker stops at its next sentence.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, ClassVar, Final

import numpy as np

from backends.piper.render import RenderedWord, render
from backends.piper.settings import PiperSettings, load_piper_settings
from backends.piper.voices import LoadedVoice, VoiceFiles, find_voice, split_speaker, start_loading
from unmute.tts.base import RetryPolicy
from unmute.tts.phrasing import Phrase, PhrasedTextToSpeech, Phrasing
from unmute.tts.protocol import SAMPLE_RATE, TTSAudioMessage, TTSTextMessage

if TYPE_CHECKING:
    from piper.config import SynthesisConfig

PHRASING: Final = Phrasing(first_clause_min_words=1, first_max_words=4)
"""The first phrase ends at any clause boundary or after 4 words; later ones at a
sentence end, a clause of 4 words or more, or 30 words."""
YIELD_EVERY_BLOCKS: Final = 25
"""Hand the event loop back after this many blocks of one phrase (1 s of audio)."""


class PiperTextToSpeech(PhrasedTextToSpeech):
    """Streaming TTS session on a piper voice (offline, CPU, 24 kHz float32 mono)."""

    backend_name: ClassVar[str] = "piper"

    def __init__(
        self,
        voice: str | None = None,
        *,
        settings: PiperSettings | None = None,
        retry: RetryPolicy | None = None,
        phrasing: Phrasing = PHRASING,
        chunk_s: float = 0.04,
        alignments: bool = True,
    ) -> None:
        """`voice`: a voice name or .onnx path, optionally `:SPEAKER` (None: PIPER_VOICE).
        `alignments=False` loads the model without its alignment output, so words are
        timed by the shared estimator as for a voice that gives none."""
        self.settings = settings or load_piper_settings()
        super().__init__(voice or self.settings.voice, retry=retry)
        self.phrasing = phrasing
        self.block_samples = max(1, round(chunk_s * SAMPLE_RATE))
        self.alignments = alignments
        self._files: VoiceFiles | None = None
        self._speaker: str | None = None
        self._loaded: LoadedVoice | None = None
        self._config: SynthesisConfig | None = None
        self._cancel = threading.Event()
        self._samples_out = 0
        """Samples yielded so far: the session's audio timeline."""

    async def _open(self) -> None:
        """Find the voice and start loading it (once per process): start-up stays quick
        (unmute's discovery allows 0.5 s); the first phrase waits for the load."""
        name, speaker = split_speaker(self.voice or self.settings.voice)
        self._speaker = speaker or self.settings.speaker
        files = await asyncio.to_thread(find_voice, name, self.settings)
        future = start_loading(files, alignments=self.alignments)
        self._files = files
        if future.done():  # loaded already: a bad speaker fails start-up
            await self._voice()

    async def _voice(self) -> tuple[LoadedVoice, SynthesisConfig]:
        if self._loaded is None or self._config is None:
            if self._files is None:
                raise RuntimeError("piper backend used before start_up()")
            future = start_loading(self._files, alignments=self.alignments)
            loaded = await asyncio.shield(asyncio.wrap_future(future))
            from piper.config import SynthesisConfig

            self._config = SynthesisConfig(
                speaker_id=loaded.speaker_id(self._speaker),
                length_scale=loaded.voice.config.length_scale / self.settings.speed,
            )
            self._loaded = loaded
        return self._loaded, self._config

    async def _close(self) -> None:
        self._cancel.set()

    async def _speak(
        self, phrase: Phrase
    ) -> AsyncGenerator[TTSAudioMessage | TTSTextMessage, None]:
        """One phrase: rendered in a worker thread, then its words and blocks in order."""
        loaded, config = await self._voice()
        work = functools.partial(
            render, loaded, phrase.words, config, self.block_samples, self._cancel
        )
        # Cancelled (a shutdown), the await ends at once; the worker's result is dropped.
        rendered = await asyncio.get_running_loop().run_in_executor(None, work)
        if rendered is None:  # cancelled
            return
        offset = self._samples_out
        pending = list(rendered.words)
        for index, block in enumerate(rendered.blocks):
            end = self._samples_out + len(block)
            while pending and offset + pending[0].start < end:
                yield self._word(pending.pop(0), offset)
            yield TTSAudioMessage(pcm=np.clip(block, -1.0, 1.0))
            self._samples_out = end
            if index % YIELD_EVERY_BLOCKS == YIELD_EVERY_BLOCKS - 1:
                await asyncio.sleep(0)
        for word in pending:
            yield self._word(word, offset)

    def _word(self, word: RenderedWord, offset: int) -> TTSTextMessage:
        start = offset + word.start
        stop = max(start, offset + word.stop)
        return TTSTextMessage(
            text=word.text, start_s=start / SAMPLE_RATE, stop_s=stop / SAMPLE_RATE
        )
