"""OrpheusEngine: a text stream in, audio chunks and word timings out.

Pipeline of one synthesis (`OrpheusEngine.synthesize`):

    text deltas -> TextSegmenter -> one llama request per segment (TokenSource)
      -> OrpheusTokenParser -> frames -> FrameDecoder (fresh per segment, flushed)
      -> AudioChunk / WordTiming / SegmentDone events, in segment order

- Segments: see `TextSegmenter`. A finished-looking sentence is sent after
  `idle_flush_s` without new text, rather than waiting for the next sentence.
- Pipelining: one background task reads the text and runs the llama requests,
  one segment after another. The next segment's request starts as soon as the
  previous one's tokens are all in, while that segment is still being decoded
  and consumed; at most `lookahead_segments` segments are generated ahead of the
  one being consumed. Frames are decoded as they arrive, in batches of whatever
  has arrived since the last decode call (at most `max_decode_frames`). With a
  `GenerationGate`, a synthesis far ahead of its listener holds its next segment
  back while another one is close to running dry.
- First audio: held back until `first_audio_min_s` of it is decoded (or the first
  segment ends): the first chunk then outlasts the time the next one takes to come.
- Decoding goes through a `FrameDecoder` (async), so the caller chooses where
  it runs: `ThreadedFrameDecoder` runs a synchronous decoder in a worker thread
  (the event loop never runs torch); a batching scheduler can be plugged in
  instead.
- Word timings: `WordAlignedAudio` holds decoded audio until the words starting
  in it are timed by `unmute.tts.word_timer`, and sends each word right before the
  audio chunk it starts in.
- Cancellation: `aclose()` on the synthesis (or cancelling the task iterating it)
  cancels the background task, which closes the llama token stream (its HTTP
  response), and closes the decoder (`aclose()`, when it has one: a scheduled
  decoder leaves the scheduler); no task is left running. A decode call
  already running in a worker thread finishes there and its result is dropped.
- Errors: exceptions of the token source (llama-server) propagate unchanged,
  with a note naming the segment; a segment that yields no valid frame raises
  `NoAudioError`. An empty text yields no events.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator

from orpheus_service.engine.frame_decoder import DecoderFactory
from orpheus_service.engine.generation_gate import GenerationGate
from orpheus_service.engine.segmenter import TextSegmenter
from orpheus_service.engine.synthesis import Synthesis
from orpheus_service.vocabulary.sampling import SamplingOverrides
from orpheus_service.vocabulary.token_source import TokenSource
from orpheus_service.vocabulary.voices import DEFAULT_VOICE, check_voice


class OrpheusEngine:
    """Speaks text streams with Orpheus; safe to share between concurrent syntheses."""

    def __init__(
        self,
        token_source: TokenSource,
        decoder_factory: DecoderFactory,
        *,
        default_voice: str = DEFAULT_VOICE,
        segment_max_chars: int = 150,
        first_segment_max_words: int = 8,
        lookahead_segments: int = 1,
        max_tokens: int | None = None,
        max_decode_frames: int = 16,
        idle_flush_s: float | None = 0.2,
        generation_gate: GenerationGate | None = None,
        first_audio_min_s: float = 0.0,
        word_hold_s: float = 0.0,
    ) -> None:
        if lookahead_segments < 0:
            raise ValueError("lookahead_segments must be >= 0")
        if max_decode_frames < 1:
            raise ValueError("max_decode_frames must be >= 1")
        self.token_source = token_source
        self.decoder_factory = decoder_factory
        self.default_voice = check_voice(default_voice)
        self.segment_max_chars = segment_max_chars
        self.first_segment_max_words = first_segment_max_words
        self.lookahead_segments = lookahead_segments
        self.max_tokens = max_tokens
        self.max_decode_frames = max_decode_frames
        self.idle_flush_s = idle_flush_s
        self.generation_gate = generation_gate
        self.first_audio_min_s = first_audio_min_s
        self.word_hold_s = word_hold_s

    def synthesize(
        self,
        text: str | AsyncIterable[str],
        *,
        voice: str | None = None,
        sampling: SamplingOverrides | None = None,
    ) -> Synthesis:
        """Start speaking `text` (a whole string or a stream of deltas).

        Raises UnknownVoiceError at once for an unknown voice. `sampling`
        overrides the token source's sampling settings for this synthesis only.
        Iterate the result for events; close it (`aclose()`, `contextlib.aclosing`) to cancel.
        """
        chosen = check_voice(voice) if voice is not None else self.default_voice
        if isinstance(text, str):
            # Whole text: the first sentence is known, a short first cut only hurts prosody.
            segmenter = TextSegmenter(max_chars=self.segment_max_chars)
            return Synthesis(self, _one(text), chosen, segmenter, sampling)
        segmenter = TextSegmenter(
            max_chars=self.segment_max_chars,
            first_segment_max_words=self.first_segment_max_words,
        )
        return Synthesis(self, text, chosen, segmenter, sampling)


async def _one(text: str) -> AsyncIterator[str]:
    yield text
