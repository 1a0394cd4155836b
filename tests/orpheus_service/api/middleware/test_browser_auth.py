"""A browser's key travels in a WebSocket subprotocol; CORS origins come from a list."""

from __future__ import annotations

import pytest

from orpheus_service.api.middleware.browser_auth import (
    KEY_PREFIX,
    key_from_subprotocols,
    key_subprotocol,
    parse_origins,
)


@pytest.mark.parametrize("key", ["k", "a key with spaces", "clé-ünïcode", "x" * 97])
def test_a_key_survives_the_subprotocol_round_trip(key: str) -> None:
    offered = key_subprotocol(key)
    assert "=" not in offered  # base64url without padding: a valid subprotocol token
    assert key_from_subprotocols(["orpheus-tts", offered]) == key


def test_no_key_subprotocol_means_no_key() -> None:
    assert key_from_subprotocols(["orpheus-tts"]) is None


@pytest.mark.parametrize("encoded", ["a", "_w"])  # a bad length; not UTF-8
def test_a_malformed_key_subprotocol_carries_no_key(encoded: str) -> None:
    assert key_from_subprotocols([KEY_PREFIX + encoded]) is None


def test_origins_are_split_at_commas_with_blanks_dropped() -> None:
    assert parse_origins(" https://a.example, ,https://b.example ") == [
        "https://a.example",
        "https://b.example",
    ]
    assert parse_origins("") == []
