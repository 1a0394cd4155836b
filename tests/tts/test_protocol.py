"""unmute's TTS messages and their msgpack frames."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from unmute.tts.protocol import (
    SAMPLE_RATE,
    TTSAudioMessage,
    TTSClientEosMessage,
    TTSMessageAdapter,
    TTSTextMessage,
    WireError,
    decode_frame,
    encode_frame,
)


def test_audio_is_float32_mono_and_knows_its_duration() -> None:
    message = TTSAudioMessage(pcm=[0.5] * (SAMPLE_RATE // 10))  # pyright: ignore[reportArgumentType]
    assert message.pcm.dtype == np.float32
    assert message.duration_s == pytest.approx(0.1)


def test_audio_that_is_not_mono_is_refused() -> None:
    with pytest.raises(ValidationError, match="1-D mono"):
        TTSAudioMessage(pcm=np.zeros((2, 10), dtype=np.float32))


def test_a_text_message_survives_a_frame_round_trip() -> None:
    message = TTSTextMessage(text="hello", start_s=0.25, stop_s=0.5)
    assert TTSMessageAdapter.validate_python(decode_frame(encode_frame(message))) == message


def test_audio_frames_carry_the_samples_as_a_list_of_floats() -> None:
    frame = decode_frame(encode_frame(TTSAudioMessage(pcm=np.array([0.5, -0.25], np.float32))))
    assert frame == {"type": "Audio", "pcm": [0.5, -0.25]}


def test_single_float_frames_are_smaller() -> None:
    message = TTSAudioMessage(pcm=np.linspace(-1, 1, 100, dtype=np.float32))
    assert len(encode_frame(message, single_float=True)) < len(encode_frame(message))


def test_client_messages_encode_as_maps() -> None:
    assert decode_frame(encode_frame(TTSClientEosMessage())) == {"type": "Eos"}


def test_a_text_frame_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="text frame"):
        decode_frame('{"type": "Text"}')


def test_a_msgpack_value_that_is_not_a_map_is_a_wire_error() -> None:
    with pytest.raises(WireError, match="expected a map"):
        decode_frame(b"\x92\x01\x02")  # msgpack's [1, 2]


def test_undecodable_bytes_are_a_wire_error() -> None:
    with pytest.raises(WireError, match="undecodable"):
        decode_frame(b"\xc1")
