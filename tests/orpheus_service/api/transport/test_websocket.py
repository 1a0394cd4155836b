"""What both sockets share: frame bounds and JSON frames refused with their close codes."""

from __future__ import annotations

import json

import pytest

from orpheus_service.api.transport.websocket import (
    ProtocolError,
    check_frame_size,
    frame_limit,
    load_json_frame,
)

CLOSE_TOO_BIG = 1009
CLOSE_INVALID = 1007


def test_the_frame_limit_holds_the_longest_encoding_of_the_allowed_text() -> None:
    text = "\U0001f600" * 1000  # JSON-escaped as a surrogate pair: 12 characters each
    frame = json.dumps({"type": "Text", "text": text})
    assert len(frame) <= frame_limit(1000)


def test_a_frame_over_the_limit_is_refused_as_too_big() -> None:
    with pytest.raises(ProtocolError) as info:
        check_frame_size({"text": "x" * 11}, max_frame=10)
    assert info.value.code == CLOSE_TOO_BIG


def test_a_frame_within_the_limit_passes() -> None:
    check_frame_size({"bytes": b"x" * 10}, max_frame=10)
    check_frame_size({"text": "x" * 10**6}, max_frame=None)


@pytest.mark.parametrize("text", ["{not json", "[" * 100_000])
def test_a_malformed_json_frame_is_refused_as_invalid(text: str) -> None:
    with pytest.raises(ProtocolError) as info:
        load_json_frame(text)
    assert info.value.code == CLOSE_INVALID


def test_a_json_frame_gives_its_value() -> None:
    assert load_json_frame('{"type": "Text", "text": "hi"}') == {"type": "Text", "text": "hi"}
