"""Audio held back, as long as a setting allows, until the words that start in it have
their times.

Word times come either from the shared estimator (`unmute.tts.word_timer`), which
decides a word at most its look-ahead after the word's start, or from the server's
captions. Both feed `HeldAudio`, which lets a block go once no undecided word can start
in it before the allowed hold: exact captions hold nothing but the word being captioned;
estimated times hold `OPENAI_TTS_WORD_HOLD_S` (default 0: audio never waits, and a word
may follow the audio it starts in; unmute's client releases words at their start time).
`CaptionMatcher` maps the server's caption tokens ("1969" may come back as several
words, punctuation as tokens of its own) onto the words that were sent.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

from backends.openai_compat.framing import CaptionedWord
from unmute.tts.protocol import SAMPLE_RATE, FloatArray, TTSAudioMessage, TTSTextMessage

Message = TTSAudioMessage | TTSTextMessage


class HeldAudio:
    """Blocks of 24 kHz audio on the session timeline and decided words, released in
    the order unmute wants them."""

    def __init__(self, start_sample: int) -> None:
        self.released_samples = start_sample
        """End of the audio released so far (session timeline, samples)."""
        self.pushed_samples = start_sample
        """End of the audio added so far."""
        self._blocks: deque[FloatArray] = deque()
        self._words: deque[TTSTextMessage] = deque()
        self.last_word_start_s = -math.inf
        """Start of the latest decided word: every word starting earlier is decided."""

    @property
    def pushed_s(self) -> float:
        """End of the audio added so far, in seconds."""
        return self.pushed_samples / SAMPLE_RATE

    def add_block(self, block: FloatArray) -> None:
        """Hold a block of audio that follows the ones added before."""
        self._blocks.append(block)
        self.pushed_samples += len(block)

    def add_words(self, words: Sequence[TTSTextMessage]) -> None:
        """Decided words, in order."""
        for word in words:
            self._words.append(word)
            self.last_word_start_s = max(self.last_word_start_s, word.start_s)

    def release(self, safe_s: float) -> list[Message]:
        """The blocks ending at or before `safe_s` (no undecided word starts before it),
        each after the words that start before its end."""
        out: list[Message] = []
        while self._blocks:
            end = self.released_samples + len(self._blocks[0])
            if end / SAMPLE_RATE > safe_s + 1e-9:
                break
            out += self._words_before(end / SAMPLE_RATE)
            out.append(self._take_block())
        # words decided after the audio they start in went out: they go now
        out += self._words_before(self.released_samples / SAMPLE_RATE)
        return out

    def release_all(self) -> list[Message]:
        """Everything held (every word is decided): the last words go before the last block."""
        out: list[Message] = []
        while self._blocks:
            end = self.released_samples + len(self._blocks[0])
            last = len(self._blocks) == 1
            out += self._words_before(math.inf if last else end / SAMPLE_RATE)
            out.append(self._take_block())
        out += self._words_before(math.inf)
        return out

    def _words_before(self, end_s: float) -> list[Message]:
        out: list[Message] = []
        while self._words and self._words[0].start_s < end_s:
            out.append(self._words.popleft())
        return out

    def _take_block(self) -> TTSAudioMessage:
        block = self._blocks.popleft()
        self.released_samples += len(block)
        return TTSAudioMessage(pcm=block)


def _normalized(text: str) -> str:
    return "".join(char for char in text.lower() if char.isalnum())


class CaptionMatcher:
    """The server's caption tokens of one piece onto the piece's words.

    A token that continues the current word (or any token while the current word has
    none) joins it; a token that starts the next word opens it, which decides the
    current one. Times are offset by the piece's start on the session timeline."""

    def __init__(self, words: Sequence[str], offset_s: float) -> None:
        self.words = list(words)
        self.offset_s = offset_s
        self._index = 0
        self._heard = ""
        self._start: float | None = None
        self._stop = 0.0
        self._last_stop = offset_s
        self._last_start = offset_s

    @property
    def open_word_start_s(self) -> float | None:
        """Start of the word that has tokens but is not decided yet."""
        return self._start

    def feed(self, tokens: Sequence[CaptionedWord]) -> list[TTSTextMessage]:
        """Words decided by these tokens."""
        out: list[TTSTextMessage] = []
        for token in tokens:
            piece = _normalized(token.text)
            if not piece or self._index >= len(self.words):
                continue
            start, stop = self.offset_s + token.start_s, self.offset_s + token.stop_s
            if self._start is not None and not self._continues(piece) and self._opens_next(piece):
                out.append(self._decide())
            if self._index >= len(self.words):
                break
            if self._start is None:
                self._start = max(start, self._last_start)
            self._heard += piece
            self._stop = max(stop, self._start)
        return out

    def finish(self, end_s: float) -> list[TTSTextMessage]:
        """Every word not decided yet; words the server gave no token get the time left."""
        out: list[TTSTextMessage] = []
        if self._start is not None:
            out.append(self._decide())
        rest = self.words[self._index :]
        begin = min(self._last_stop, end_s)
        for number, word in enumerate(rest):
            share = (end_s - begin) / len(rest)
            start = begin + number * share
            out.append(TTSTextMessage(text=word, start_s=start, stop_s=start + share))
        self._index = len(self.words)
        return out

    def _continues(self, piece: str) -> bool:
        target = _normalized(self.words[self._index])
        return target.startswith(self._heard + piece)

    def _opens_next(self, piece: str) -> bool:
        if self._index + 1 >= len(self.words):
            return False
        following = _normalized(self.words[self._index + 1])
        return following.startswith(piece) or not following

    def _decide(self) -> TTSTextMessage:
        start = self._start if self._start is not None else self._last_stop
        word = TTSTextMessage(text=self.words[self._index], start_s=start, stop_s=self._stop)
        self._last_stop, self._last_start = self._stop, start
        self._index += 1
        self._heard, self._start = "", None
        return word
