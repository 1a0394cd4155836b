"""The `openai` backend's audio decoding: the format and rate a content type states, WAV
read across any split of its bytes, and compressed audio decoded with PyAV."""

from __future__ import annotations

import struct
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from backends.openai_compat.decoding import CompressedDecoder, WavDecoder, format_of


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("audio/pcm;rate=22050", ("pcm", 22050)),
        ("audio/L16; rate=16000; channels=1", ("pcm", 16000)),
        ("audio/wav", ("wav", None)),
        ("audio/mpeg", ("mp3", None)),
        ("application/octet-stream", (None, None)),
    ],
)
def test_the_content_type_states_format_and_rate(
    content_type: str, expected: tuple[str | None, int | None]
) -> None:
    assert format_of(content_type) == expected


async def test_a_wav_is_read_across_any_split_of_its_bytes() -> None:
    samples = (np.arange(-500, 500, dtype=np.int16) * 30).astype("<i2")
    fmt = struct.pack("<HHIIHH", 1, 2, 16000, 64000, 4, 16)
    header = b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<I", 16) + fmt
    data = header + b"LIST" + struct.pack("<I", 4) + b"abcd" + b"data\xff\xff\xff\xff"
    data += np.repeat(samples, 2).tobytes()  # stereo: both channels equal
    decoder, pieces = WavDecoder(), []
    for start in range(0, len(data), 7):
        pieces += await decoder.feed(data[start : start + 7])
    pieces += await decoder.finish()
    assert {p.sample_rate for p in pieces} == {16000}
    joined = np.concatenate([p.pcm for p in pieces])
    assert joined == pytest.approx(samples / 32768.0, abs=1e-6)


async def test_compressed_audio_is_decoded_with_pyav() -> None:
    import io

    import av

    buffer = io.BytesIO()
    tone = (0.3 * np.sin(np.arange(24000) / 24000 * 2 * np.pi * 440)).astype(np.float32)
    with av.open(buffer, mode="w", format="mp3") as container:
        stream: Any = container.add_stream("libmp3lame", rate=24000)
        stream.codec_context.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 24000, 0, Fraction(1, 24000)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    decoder, data, pieces = CompressedDecoder("mp3"), buffer.getvalue(), []
    for start in range(0, len(data), 1000):
        pieces += await decoder.feed(data[start : start + 1000])
    pieces += await decoder.finish()
    seconds = sum(len(p.pcm) for p in pieces) / 24000
    assert seconds == pytest.approx(1.0, abs=0.1)
