"""OrpheusEngine end to end: a real llama-server (tiny GGUF) and a random-weight SNAC.

text -> segmenter -> prompt -> llama-server tokens -> parser -> codes -> SNAC -> PCM.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import httpx
import numpy as np
import numpy.typing as npt
import pytest

from orpheus_service.engine.events import (
    AudioChunk,
    EngineEvent,
    NoAudioError,
    SegmentDone,
    WordTiming,
)
from orpheus_service.engine.frame_decoder import FrameDecoder, ThreadedFrameDecoder
from orpheus_service.engine.pipeline import OrpheusEngine
from orpheus_service.engine.synthesis import Synthesis
from orpheus_service.llama.client import LlamaClient
from orpheus_service.llama.server import LlamaServerProcess
from orpheus_service.snac.decoder import SnacStreamDecoder
from orpheus_service.vocabulary.prompt import build_prompt, build_prompt_text
from orpheus_service.vocabulary.sampling import Sampling
from orpheus_service.vocabulary.tokens import Frame
from tests.support.llama import ORPHEUS_FRAMES, wait_slots_idle
from tests.support.snac_models import SMALL_SNAC_CONFIG, random_snac
from tests.support.tiny_gguf import expected_audio_tokens

pytestmark = pytest.mark.llama

SAMPLES = 2048
TWO_SENTENCES = "Hello there, my friend. How are you today?"


@pytest.fixture(scope="module")
def snac(tmp_path_factory: pytest.TempPathFactory) -> SnacStreamDecoder:
    folder = tmp_path_factory.mktemp("snac")
    return SnacStreamDecoder(random_snac(SMALL_SNAC_CONFIG, folder), noise=False)


class RecordingDecoder:
    """Passes frames to a real SNAC stream and records them."""

    def __init__(self, snac: SnacStreamDecoder, frames: list[list[Frame]]) -> None:
        self.inner = ThreadedFrameDecoder(snac.new_stream())
        self.frames: list[Frame] = []
        frames.append(self.frames)

    async def decode(self, frames: Sequence[Frame]) -> npt.NDArray[np.float32] | None:
        self.frames.extend(frames)
        return await self.inner.decode(frames)

    async def flush(self) -> npt.NDArray[np.float32] | None:
        return await self.inner.flush()


def engine_on(
    server: LlamaServerProcess,
    client: LlamaClient,
    snac: SnacStreamDecoder,
    frames: list[list[Frame]],
    *,
    n_predict: int = 400,
    max_tokens: int | None = None,
) -> OrpheusEngine:
    def factory() -> FrameDecoder:
        return RecordingDecoder(snac, frames)

    assert client is not None and server is not None
    return OrpheusEngine(
        client.token_source(Sampling(max_tokens=n_predict, seed=1)),
        factory,
        max_tokens=max_tokens if max_tokens is not None else n_predict,
    )


async def collect(synthesis: Synthesis) -> list[EngineEvent]:
    async with contextlib.aclosing(synthesis):
        return [event async for event in synthesis]


def segment_lengths(events: list[EngineEvent]) -> list[int]:
    return [round(e.duration_s * 24000) for e in events if isinstance(e, SegmentDone)]


def expected_frames(n_frames: int, drop_every: int | None = None) -> list[Frame]:
    ids = expected_audio_tokens(n_frames, drop_every=drop_every)
    frames: list[Frame] = []
    for f in range(n_frames):
        codes = [ids[f * 7 + s] - 128266 - s * 4096 for s in range(7)]
        if all(0 <= c < 4096 for c in codes):
            frames.append((codes[0], codes[1], codes[2], codes[3], codes[4], codes[5], codes[6]))
    return frames


@pytest.fixture
async def orpheus_client(llama_orpheus_server: LlamaServerProcess) -> AsyncIterator[LlamaClient]:
    async with contextlib.aclosing(LlamaClient(llama_orpheus_server.base_url)) as client:
        yield client


async def test_server_reads_the_canonical_prompt_with_one_bos(
    llama_orpheus_server: LlamaServerProcess,
) -> None:
    async with httpx.AsyncClient(base_url=llama_orpheus_server.base_url) as http:
        body = {"prompt": build_prompt("Hello there."), "n_predict": 1}
        reply = (await http.post("/completion", json=body)).json()
        pieces = await http.post("/tokenize", json={"content": "tara: Hello there."})
    assert reply["prompt"] == build_prompt_text("Hello there.")
    assert reply["tokens_evaluated"] == 2 + len(pieces.json()["tokens"]) + 4


async def test_each_segment_becomes_frame_aligned_pcm(
    llama_orpheus_server: LlamaServerProcess, orpheus_client: LlamaClient, snac: SnacStreamDecoder
) -> None:
    frames: list[list[Frame]] = []
    engine = engine_on(llama_orpheus_server, orpheus_client, snac, frames)
    synthesis = engine.synthesize(TWO_SENTENCES)
    events = await collect(synthesis)
    assert segment_lengths(events) == [ORPHEUS_FRAMES * SAMPLES] * 2
    pcm = np.concatenate([e.pcm for e in events if isinstance(e, AudioChunk)])
    assert pcm.dtype == np.float32
    assert pcm.shape == (2 * ORPHEUS_FRAMES * SAMPLES,)
    assert np.isfinite(pcm).all()
    assert synthesis.stats.dropped_frames == 0
    assert synthesis.stats.truncated_segments == 0


async def test_decoder_gets_the_codes_the_model_wrote(
    llama_orpheus_server: LlamaServerProcess, orpheus_client: LlamaClient, snac: SnacStreamDecoder
) -> None:
    frames: list[list[Frame]] = []
    engine = engine_on(llama_orpheus_server, orpheus_client, snac, frames)
    await collect(engine.synthesize(TWO_SENTENCES))
    assert frames == [expected_frames(ORPHEUS_FRAMES)] * 2


async def test_control_typed_custom_tokens_give_the_same_frames(
    llama_orpheus_control_server: LlamaServerProcess, snac: SnacStreamDecoder
) -> None:
    frames: list[list[Frame]] = []
    async with contextlib.aclosing(LlamaClient(llama_orpheus_control_server.base_url)) as client:
        engine = engine_on(llama_orpheus_control_server, client, snac, frames)
        events = await collect(engine.synthesize("Just one sentence."))
    assert frames == [expected_frames(ORPHEUS_FRAMES)]
    assert segment_lengths(events) == [ORPHEUS_FRAMES * SAMPLES]


async def test_generation_stops_at_end_of_speech_and_frees_the_slot(
    llama_orpheus_server: LlamaServerProcess, orpheus_client: LlamaClient, snac: SnacStreamDecoder
) -> None:
    engine = engine_on(llama_orpheus_server, orpheus_client, snac, [], n_predict=2000)
    events = await collect(engine.synthesize("Just one sentence."))
    (done,) = [e for e in events if isinstance(e, SegmentDone)]
    assert done.tokens.ended
    assert done.tokens.tokens == ORPHEUS_FRAMES * 7 + 1
    assert not done.truncated
    await wait_slots_idle(orpheus_client, 2.0)


async def test_dropped_frames_are_counted_and_later_frames_stay_in_sync(
    llama_orpheus_drops_server: LlamaServerProcess, snac: SnacStreamDecoder
) -> None:
    frames: list[list[Frame]] = []
    async with contextlib.aclosing(LlamaClient(llama_orpheus_drops_server.base_url)) as client:
        # 9 frames' worth of tokens; frames 2, 5 and 8 are spoiled by the model.
        engine = engine_on(llama_orpheus_drops_server, client, snac, frames, n_predict=63)
        synthesis = engine.synthesize("Count the drops.")
        events = await collect(synthesis)
    assert synthesis.stats.dropped_frames == 3
    assert frames == [expected_frames(9, drop_every=3)]
    assert len(frames[0]) == 6
    assert segment_lengths(events) == [6 * SAMPLES]
    assert synthesis.stats.truncated_segments == 1


async def test_cancellation_frees_the_llama_slot(
    llama_orpheus_drops_server: LlamaServerProcess, snac: SnacStreamDecoder
) -> None:
    async with contextlib.aclosing(LlamaClient(llama_orpheus_drops_server.base_url)) as client:
        await wait_slots_idle(client, 5.0)
        engine = engine_on(llama_orpheus_drops_server, client, snac, [], n_predict=3500)
        synthesis = engine.synthesize("This never ends by itself.")
        while not isinstance(await anext(synthesis), AudioChunk):
            pass
        assert await client.processing_slots() == 1
        await synthesis.aclose()
        waited = await wait_slots_idle(client, 2.0)
    assert waited < 2.0
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_model_without_audio_raises_no_audio_error(
    llama_random_server: LlamaServerProcess, snac: SnacStreamDecoder
) -> None:
    async with contextlib.aclosing(LlamaClient(llama_random_server.base_url)) as client:
        engine = engine_on(llama_random_server, client, snac, [], n_predict=60)
        with pytest.raises(NoAudioError):
            await collect(engine.synthesize("Say something."))


async def test_many_segments_come_out_whole_and_in_order(
    llama_orpheus_server: LlamaServerProcess, orpheus_client: LlamaClient, snac: SnacStreamDecoder
) -> None:
    text = " ".join(f"This is sentence number {i}." for i in range(8))
    engine = engine_on(llama_orpheus_server, orpheus_client, snac, [])

    async def deltas() -> AsyncIterator[str]:
        for index, word in enumerate(text.split(" ")):
            yield word if index == 0 else " " + word

    synthesis = engine.synthesize(deltas())
    events = await collect(synthesis)
    done = [e for e in events if isinstance(e, SegmentDone)]
    assert [d.segment for d in done] == list(range(len(done)))
    assert " ".join(d.text for d in done) == text
    assert segment_lengths(events) == [ORPHEUS_FRAMES * SAMPLES] * len(done)
    words = [e.word for e in events if isinstance(e, WordTiming)]
    assert words == text.split()
    chunks = [e for e in events if isinstance(e, AudioChunk)]
    position = 0.0
    for chunk in chunks:
        assert chunk.start_s == pytest.approx(position)
        position += chunk.duration_s
