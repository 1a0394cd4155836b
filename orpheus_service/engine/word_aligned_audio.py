"""Decoded audio and its word times, in the order a listener needs them.

Word times come from `unmute.tts.word_timer` (the espeak-ng + DTW aligner when
installed): the audio of a segment is pushed to the timer as it is decoded, and the
timer decides each word once it has seen up to its lookahead of audio past the word's
start. Each word goes out as soon as it is decided, before any audio not yet sent.

`hold_s` is how much decoded audio may wait for its words. 0 (the service's default)
never delays audio: a word may then follow the audio it starts in, by at most the
timer's lookahead of audio, which clients that release words at their `start_s`
(unmute's, this library's Pacer) take in their stride. The timer's lookahead sends
every word right before the audio it starts in, at the price of that much audio
generated before the first chunk goes out.
"""

from __future__ import annotations

import asyncio

from unmute.tts.protocol import SAMPLE_RATE, FloatArray
from unmute.tts.word_timer import TimedWord, WordTimer

Released = list[TimedWord | FloatArray]
"""Words and audio, in the order to send them."""


class WordAlignedAudio:
    """One segment at a time: `begin`, `push` decoded audio, `finish`."""

    def __init__(self, timer: WordTimer, hold_s: float) -> None:
        if hold_s < 0:
            raise ValueError("hold_s must be >= 0")
        self.timer = timer
        self.hold_samples = round(hold_s * SAMPLE_RATE)
        self._held: list[FloatArray] = []
        self._held_samples = 0
        self._words: list[TimedWord] = []
        self._pushed = 0
        """Samples of the segment pushed."""
        self._released_end = 0
        """End of the audio released so far, on the timer's timeline (samples)."""

    def begin(self, words: list[str]) -> None:
        """A segment with these words starts."""
        self.timer.begin_piece(words)
        self._pushed = 0

    def push(self, pcm: FloatArray) -> Released:
        """Decoded audio of the segment: what can go out now."""
        self._words += self.timer.push_audio(pcm)
        self._held.append(pcm)
        self._held_samples += pcm.shape[0]
        self._pushed += pcm.shape[0]
        # With a hold as long as the timer's lookahead, every word still to come
        # starts at or after this sample of the segment.
        safe = self._pushed - self.hold_samples
        start = self._pushed - self._held_samples
        count = 0
        for piece in self._held:
            if start + piece.shape[0] > safe:
                break
            start += piece.shape[0]
            count += 1
        return self._release(count)

    def finish(self) -> Released:
        """The segment's audio is complete: everything left, in order."""
        self._words += self.timer.end_piece()
        out = self._release(len(self._held))
        out += self._words
        self._words = []
        return out

    def _release(self, count: int) -> Released:
        """The first `count` held pieces, each after the words that start in it."""
        out: Released = []
        for piece in self._held[:count]:
            end = self._released_end + piece.shape[0]
            while self._words and self._words[0].start_s * SAMPLE_RATE < end:
                out.append(self._words.pop(0))
            out.append(piece)
            self._released_end = end
            self._held_samples -= piece.shape[0]
        del self._held[:count]
        return out


class AlignerReading:
    """espeak-ng's reading of one segment for the aligner: started once, in a thread."""

    def __init__(self, words: WordAlignedAudio, text: list[str]) -> None:
        self.words = words
        self.text = text
        self.future: asyncio.Future[None] | None = None

    def start(self) -> asyncio.Future[None]:
        """The reading, started if it was not yet."""
        if self.future is None:
            self.future = asyncio.ensure_future(asyncio.to_thread(self.words.begin, self.text))
            self.future.add_done_callback(_retrieve)
        return self.future

    def cancel(self) -> None:
        """Stop waiting for it (the thread finishes its reading; nobody waits for it)."""
        if self.future is not None and not self.future.done():
            self.future.cancel()


def _retrieve(future: asyncio.Future[None]) -> None:
    """Mark a background step's failure as seen (it is raised where it is awaited)."""
    if not future.cancelled():
        future.exception()
