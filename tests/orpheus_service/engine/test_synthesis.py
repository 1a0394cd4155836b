"""A running synthesis, on a fake token source and fake decoders: segments in order and
pipelined, word timings, cancellation, errors and counters."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import pytest

from orpheus_service.engine.events import (
    AudioChunk,
    NoAudioError,
    SegmentDone,
    WordTiming,
)
from orpheus_service.engine.pipeline import OrpheusEngine
from orpheus_service.vocabulary.prompt import PromptPart
from tests.support.engine_fakes import (
    SAMPLES,
    FakeDecoder,
    FakeSource,
    SourceError,
    assert_words_come_before_the_audio_they_start_in,
    audio_of,
    collect,
    make_engine,
    tok,
    words_stream,
)
from unmute.tts.word_timer import MAX_LOOKAHEAD_S

THREE = "One two three. Four five six seven. Eight nine."


async def test_audio_comes_out_in_segment_and_frame_order() -> None:
    source = FakeSource(token_delay_s=0.0005)
    events = await collect(make_engine(source).synthesize(THREE))
    expected = [n * 1000 + k for n, words in enumerate([3, 4, 2]) for k in range(words)]
    assert audio_of(events)[::SAMPLES].tolist() == expected


async def test_each_segment_is_flushed_so_no_tail_is_lost() -> None:
    events = await collect(make_engine(FakeSource(frames_per_word=3)).synthesize(THREE))
    done = [e for e in events if isinstance(e, SegmentDone)]
    assert [round(d.duration_s * 24000) for d in done] == [9 * SAMPLES, 12 * SAMPLES, 6 * SAMPLES]
    assert audio_of(events).shape[0] == 27 * SAMPLES


async def test_next_request_starts_while_current_segment_is_consumed() -> None:
    source = FakeSource()
    async with contextlib.aclosing(make_engine(source).synthesize(THREE)) as synthesis:
        async for event in synthesis:
            if isinstance(event, AudioChunk) and event.segment < 2:
                # The listener holds segment n's first audio until segment n + 1 starts.
                await asyncio.wait_for(source.started(event.segment + 1).wait(), 5)
    assert len(source.prompts) == 3


async def test_lookahead_bounds_requests_ahead_of_the_consumer() -> None:
    source = FakeSource()
    text = " ".join(f"Sentence number {i}." for i in range(10))
    async with contextlib.aclosing(
        make_engine(source, lookahead_segments=1).synthesize(text)
    ) as synthesis:
        done = 0
        async for event in synthesis:
            done += isinstance(event, SegmentDone)
            # Requests started: the segments done, the one being consumed, one ahead.
            assert len(source.prompts) <= done + 2
    assert len(source.prompts) == 10


async def test_lookahead_zero_runs_requests_one_after_another() -> None:
    source = FakeSource()
    log = source.log
    async with contextlib.aclosing(
        make_engine(source, lookahead_segments=0).synthesize(THREE)
    ) as synthesis:
        async for event in synthesis:
            if isinstance(event, SegmentDone):
                log.append(("done", event.segment))
    assert log.index(("done", 0)) < log.index(("start", 1))


async def test_closing_the_synthesis_closes_the_token_stream_and_leaves_no_task() -> None:
    source = FakeSource(forever=True, token_delay_s=0.001)
    synthesis = make_engine(source).synthesize("Keep talking forever.")
    while not isinstance(await anext(synthesis), AudioChunk):
        pass
    await synthesis.aclose()
    assert source.closed == [0]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_cancelling_the_consumer_task_closes_the_token_stream() -> None:
    source = FakeSource(forever=True, token_delay_s=0.001)
    synthesis = make_engine(source).synthesize("Keep talking forever.")
    first_audio = asyncio.Event()

    async def consume() -> None:
        async for event in synthesis:
            if isinstance(event, AudioChunk):
                first_audio.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_audio.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed == [0]
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_reading_stops_at_end_of_speech() -> None:
    source = FakeSource()
    await collect(make_engine(source).synthesize("Just this."))
    assert source.consumed == [14]  # 2 frames; the token after end_of_speech was never read
    assert source.closed == [0]


async def test_word_timings_are_monotonic_and_do_not_overlap() -> None:
    text = " ".join(f"Sentence {i} has a few words in it." for i in range(6))
    events = await collect(make_engine(FakeSource()).synthesize(words_stream(text)))
    words = [e for e in events if isinstance(e, WordTiming)]
    assert len(words) == len(text.split())
    previous_stop = 0.0
    for word in words:
        assert previous_stop <= word.start_s <= word.stop_s
        previous_stop = word.stop_s


LONG_TEXT = " ".join(f"Sentence {i} has quite a few words in it." for i in range(4))


async def test_with_a_full_word_hold_each_word_comes_before_the_audio_it_starts_in() -> None:
    engine = make_engine(FakeSource(frames_per_word=2), word_hold_s=MAX_LOOKAHEAD_S)
    events = await collect(engine.synthesize(LONG_TEXT))
    audio_end = assert_words_come_before_the_audio_they_start_in(events)
    assert audio_end == pytest.approx(audio_of(events).shape[0] / 24000)


async def test_without_a_word_hold_a_word_is_never_early_and_at_most_a_lookahead_late() -> None:
    events = await collect(make_engine(FakeSource(frames_per_word=2)).synthesize(LONG_TEXT))
    before_last_chunk_s = sent_s = 0.0
    words: list[WordTiming] = []
    for event in events:
        if isinstance(event, AudioChunk):
            before_last_chunk_s, sent_s = event.start_s, event.start_s + event.duration_s
        elif isinstance(event, WordTiming):
            assert event.start_s <= sent_s + 1e-9  # never before the audio it starts in
            # decided by at most the lookahead past its start: by the chunk just sent
            assert before_last_chunk_s - event.start_s <= MAX_LOOKAHEAD_S + 1e-9
            words.append(event)
    assert [w.word for w in words] == LONG_TEXT.split()


async def test_word_timings_are_spoken_words_in_order() -> None:
    events = await collect(make_engine(FakeSource()).synthesize(THREE + " Ha <laugh> ha."))
    words = [e.word for e in events if isinstance(e, WordTiming)]
    assert words == (THREE + " Ha <laugh> ha.").split()


async def test_three_thousand_word_input_is_spoken_whole() -> None:
    words = [f"w{i}" for i in range(3000)]
    text = " ".join(f"{w}." if i % 15 == 14 else w for i, w in enumerate(words))
    source = FakeSource()
    synthesis = make_engine(source).synthesize(words_stream(text))
    events = await collect(synthesis)
    spoken = [e.word.rstrip(".") for e in events if isinstance(e, WordTiming)]
    assert spoken == words
    assert " ".join(source.prompts).replace(".", "").split() == words
    assert synthesis.stats.segments == len(source.prompts) >= 200
    assert synthesis.stats.tokens.frames == 3000


async def test_segment_without_audio_tokens_raises_no_audio_error() -> None:
    source = FakeSource(only_text_tokens=True)
    with pytest.raises(NoAudioError, match="no audio tokens"):
        await collect(make_engine(source).synthesize("Hello there."))


async def test_llama_error_propagates_with_the_segment_named() -> None:
    source = FakeSource(fail_after_tokens=10)
    with pytest.raises(SourceError) as info:
        await collect(make_engine(source).synthesize("Hello there my friend."))
    assert any("segment 0" in note for note in info.value.__notes__)


async def test_text_stream_error_propagates() -> None:
    async def broken() -> AsyncIterator[str]:
        yield "Hello."
        raise ValueError("upstream LLM failed")

    with pytest.raises(ValueError, match="upstream LLM failed"):
        await collect(make_engine(FakeSource()).synthesize(broken()))


async def test_dropped_frames_are_counted() -> None:
    class BadFirstFrame(FakeSource):
        async def _stream(self, prompt: list[PromptPart]) -> AsyncIterator[int]:
            yield tok(0, 4096)
            for _ in range(6):
                yield tok(1, 0)  # wrong slot codes, still in the dropped frame
            async for token in super()._stream(prompt):
                yield token

    synthesis = make_engine(BadFirstFrame()).synthesize("Hello there.")
    events = await collect(synthesis)
    assert synthesis.stats.dropped_frames == 1
    assert audio_of(events).shape[0] == 2 * SAMPLES


async def test_segment_cut_at_max_tokens_is_counted_as_truncated() -> None:
    source = FakeSource(end=False)
    synthesis = make_engine(source, max_tokens=14).synthesize("Hello there.")
    events = await collect(synthesis)
    assert synthesis.stats.truncated_segments == 1
    assert [e.truncated for e in events if isinstance(e, SegmentDone)] == [True]


async def test_sentence_is_spoken_when_the_text_goes_quiet_before_its_end() -> None:
    feed: asyncio.Queue[str | None] = asyncio.Queue()

    async def deltas() -> AsyncIterator[str]:
        while (item := await feed.get()) is not None:
            yield item

    engine = OrpheusEngine(FakeSource(), FakeDecoder, idle_flush_s=0.05)
    async with contextlib.aclosing(engine.synthesize(deltas())) as synthesis:
        feed.put_nowait("Tell me a long story.")
        event = await asyncio.wait_for(anext(synthesis), 2)
        assert event.segment == 0
        feed.put_nowait(None)
        rest = [e async for e in synthesis]
    assert sum(isinstance(e, SegmentDone) for e in rest) == 1


async def test_empty_text_yields_no_events() -> None:
    source = FakeSource()
    assert await collect(make_engine(source).synthesize("   ")) == []
    assert source.prompts == []


async def test_stats_count_segments_tokens_and_audio() -> None:
    synthesis = make_engine(FakeSource()).synthesize(THREE)
    await collect(synthesis)
    stats = synthesis.stats
    assert stats.segments == 3
    assert stats.tokens.frames == 9
    assert stats.tokens.audio_tokens == 63
    assert stats.audio_s == pytest.approx(9 * SAMPLES / 24000)
    assert stats.time_to_first_audio_s is not None


async def test_without_a_word_hold_the_aligner_reads_a_segment_only_after_its_first_audio(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import orpheus_service.engine.synthesis as synthesis_module
    from unmute.tts.word_timer.proportional import ProportionalWordTimer

    readings: list[list[str]] = []

    class RecordingTimer(ProportionalWordTimer):
        def begin_piece(self, words: Sequence[str]) -> None:
            readings.append(list(words))
            super().begin_piece(words)

    monkeypatch.setattr(synthesis_module, "create_word_timer", lambda **_: RecordingTimer())
    synthesis = make_engine(FakeSource()).synthesize("One two three four.")
    async with contextlib.aclosing(synthesis):
        async for event in synthesis:
            if isinstance(event, AudioChunk):
                assert readings == []  # the first chunk went out before any reading
                break
