"""The `openai` backend's settings, registration, voice lists and audio decoding."""

from __future__ import annotations

import struct
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from backends import openai_compat
from backends.openai_compat.decoding import CompressedDecoder, WavDecoder, format_of
from backends.openai_compat.settings import OpenAITTSSettings, load_client_settings
from backends.openai_compat.voices import OPENAI_VOICES, list_voices, parse_voices
from tests.support.openai_server import OpenAISpeechServer
from unmute.tts.settings import SettingsError, reset_settings

OpenAIEnv = Callable[..., None]
KEY = "sk-very-secret-key"


def test_openai_api_key_is_honoured_as_the_key(
    openai_env: OpenAIEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_env("http://127.0.0.1:1/v1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert load_client_settings().headers() == {"Authorization": f"Bearer {KEY}"}


def test_the_tts_key_variable_wins_over_openai_api_key(
    openai_env: OpenAIEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    openai_env("http://127.0.0.1:1/v1", api_key="sk-tts")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert load_client_settings().headers() == {"Authorization": "Bearer sk-tts"}


def test_the_key_is_never_shown(openai_env: OpenAIEnv) -> None:
    openai_env("http://127.0.0.1:1/v1", api_key=KEY)
    settings = load_client_settings()
    assert KEY not in repr(settings) and KEY not in str(settings)
    assert settings.redact(f"echo {KEY}") == "echo ***"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ws://127.0.0.1:8880/v1", "http:// or https://"),
        ("http://user:pw@127.0.0.1/v1", "must not hold credentials"),
        ("http://127.0.0.1/v1?key=1", "query"),
    ],
)
def test_a_bad_base_url_is_a_settings_error_naming_the_variable(
    openai_env: OpenAIEnv, url: str, problem: str
) -> None:
    openai_env(url)
    with pytest.raises(SettingsError, match="OPENAI_TTS_BASE_URL") as raised:
        load_client_settings()
    assert problem in str(raised.value) and "pw" not in str(raised.value)


@pytest.mark.parametrize("base", ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"])
def test_the_base_url_may_be_the_root_or_the_v1_url(base: str) -> None:
    settings = OpenAITTSSettings(base_url=base)
    assert settings.speech_url == "http://h:1/v1/audio/speech"
    assert settings.voices_url == "http://h:1/v1/audio/voices"
    captioned = OpenAITTSSettings(base_url=base, word_times="captioned")
    assert captioned.speech_url == "http://h:1/dev/captioned_speech"


def test_unset_base_url_is_openais_api() -> None:
    assert OpenAITTSSettings().speech_url == "https://api.openai.com/v1/audio/speech"


def test_the_backend_needs_a_base_url_or_a_key(openai_env: OpenAIEnv, monkeypatch: Any) -> None:
    openai_env("http://127.0.0.1:1/v1")
    monkeypatch.delenv("OPENAI_TTS_BASE_URL")
    reset_settings()
    reason = openai_compat.backend.unavailable_reason()
    assert reason is not None and "OPENAI_TTS_BASE_URL" in reason and "OPENAI_API_KEY" in reason
    assert openai_compat.backend.auto_select_reason() is None
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    reset_settings()
    assert openai_compat.backend.unavailable_reason() is None
    assert openai_compat.backend.auto_select_reason() is None  # a key alone picks nothing


def test_a_base_url_makes_the_backend_chosen_by_default(openai_env: OpenAIEnv) -> None:
    openai_env("http://127.0.0.1:1/v1")
    assert openai_compat.backend.auto_select_reason() == "OPENAI_TTS_BASE_URL is set"


def test_a_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(openai_compat, "missing_modules", lambda *names: ["httpx"])
    reason = openai_compat.backend.unavailable_reason()
    assert reason is not None and "pip install 'unmute-tts[openai]'" in reason


@pytest.mark.parametrize(
    "answer",
    [
        {"voices": ["af_heart", "af_sky"]},
        {"voices": [{"id": "af_heart", "name": "Heart"}, {"voice_id": "af_sky"}]},
        {"status": "ok", "voices": ["af_heart", "af_sky"]},
        ["af_heart", "af_sky"],
    ],
    ids=["kokoro", "objects", "orpheus-fastapi", "bare-list"],
)
def test_voice_lists_are_read_in_every_shape(answer: object) -> None:
    assert parse_voices(answer) == ["af_heart", "af_sky"]


def test_voices_come_from_the_server(
    openai_server_factory: Callable[..., OpenAISpeechServer],
) -> None:
    server = openai_server_factory(voices_answer={"status": "ok", "voices": ["tara", "leo"]})
    assert list_voices(OpenAITTSSettings(base_url=server.url)) == ["tara", "leo"]


def test_openais_voices_when_the_server_lists_none(
    openai_server_factory: Callable[..., OpenAISpeechServer],
) -> None:
    server = openai_server_factory()  # answers 404
    assert list_voices(OpenAITTSSettings(base_url=server.url)) == list(OPENAI_VOICES)
    assert list_voices(OpenAITTSSettings()) == list(OPENAI_VOICES)


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
