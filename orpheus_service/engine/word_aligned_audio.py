"""Audio held back until the words that start in it are timed.

Word times come from `unmute.tts.word_timer` (the espeak-ng + DTW aligner when
installed): the audio of a segment is pushed to the timer as it is decoded, and each
decoded piece of audio is released once the timer can no longer give a word starting
in it (it decides every word by `lookahead_s` of audio past its start), so each word
goes out before the audio it starts in.
"""

from __future__ import annotations

from unmute.tts.protocol import SAMPLE_RATE, FloatArray
from unmute.tts.word_timer import TimedWord, WordTimer


class WordAlignedAudio:
    """One segment at a time: `begin`, `push` decoded audio, `finish`."""

    def __init__(self, timer: WordTimer, lookahead_s: float) -> None:
        self.timer = timer
        self.lookahead_samples = round(lookahead_s * SAMPLE_RATE)
        self._held: list[FloatArray] = []
        self._held_samples = 0
        self._pushed = 0

    def begin(self, words: list[str]) -> None:
        """A segment with these words starts."""
        self.timer.begin_piece(words)
        self._pushed = 0

    def push(self, pcm: FloatArray) -> tuple[list[TimedWord], list[FloatArray]]:
        """Decoded audio of the segment: the words now timed, then the audio to send."""
        words = self.timer.push_audio(pcm)
        self._held.append(pcm)
        self._held_samples += pcm.shape[0]
        self._pushed += pcm.shape[0]
        # Every word still to come starts at or after this sample of the segment.
        safe = self._pushed - self.lookahead_samples
        released: list[FloatArray] = []
        start = self._pushed - self._held_samples
        while self._held and start + self._held[0].shape[0] <= safe:
            piece = self._held.pop(0)
            self._held_samples -= piece.shape[0]
            start += piece.shape[0]
            released.append(piece)
        return words, released

    def finish(self) -> tuple[list[TimedWord], list[FloatArray]]:
        """The segment's audio is complete: its remaining words, then the audio held."""
        words = self.timer.end_piece()
        released, self._held, self._held_samples = self._held, [], 0
        return words, released
