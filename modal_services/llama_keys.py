"""The key between the TTS service and llama-server, and its rotation (standard library only).

The llama container imports this with nothing but its image's packages, so it
uses no third-party module.

The Modal Secret holds three variables; the deploy writes them, nothing reads them
back (Modal never returns a Secret's values), so a rotation never needs the old key:

- `ORPHEUS_LLAMA_API_KEY`: the key.
- `ORPHEUS_LLAMA_NEXT_API_KEY`: the key a rotation brings in (empty otherwise).
- `ORPHEUS_LLAMA_SEND_NEXT_KEY`: "1" once the TTS service should send the next key.

llama-server accepts both keys (`accepted_llama_keys`: `--api-key-file`, one per
line); the TTS service sends one (`llama_key_to_send`). A rotation (`deploy
--rotate-key`) goes: next key in, llama redeployed (it now accepts old and new),
the TTS service switched to the next key and redeployed, then the next key becomes
the key and the llama app is redeployed without the old one. At every moment each
running TTS container sends a key that every llama container it reaches accepts.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

LLAMA_API_KEY = "ORPHEUS_LLAMA_API_KEY"
"""The key the TTS service sends to llama-server (the service's own setting)."""
LLAMA_NEXT_API_KEY = "ORPHEUS_LLAMA_NEXT_API_KEY"
"""The key a rotation brings in; llama-server accepts it as well."""
LLAMA_SEND_NEXT_KEY = "ORPHEUS_LLAMA_SEND_NEXT_KEY"
""""1": the TTS service sends the next key instead of the key."""


def api_key_file_path() -> str:
    """Where the llama container writes its accepted keys for `--api-key-file`
    (/tmp/llama-api-keys in a container; $TMPDIR decides elsewhere)."""
    return os.path.join(tempfile.gettempdir(), "llama-api-keys")


def _key(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    if any(c.isspace() for c in value) or value.startswith("#") or "," in value:
        raise ValueError(f"{name} must be one key without spaces, commas or a leading '#'")
    return value


def accepted_llama_keys(environ: Mapping[str, str] | None = None) -> list[str]:
    """The keys llama-server accepts: the key and the next key, when set (in that order)."""
    environ = os.environ if environ is None else environ
    keys: list[str] = []
    for name in (LLAMA_API_KEY, LLAMA_NEXT_API_KEY):
        key = _key(environ, name)
        if key is not None and key not in keys:
            keys.append(key)
    return keys


def llama_key_to_send(environ: Mapping[str, str] | None = None) -> str | None:
    """The key the TTS service sends: the next key once switched to it, else the key."""
    environ = os.environ if environ is None else environ
    if environ.get(LLAMA_SEND_NEXT_KEY, "").strip() == "1":
        next_key = _key(environ, LLAMA_NEXT_API_KEY)
        if next_key is not None:
            return next_key
    return _key(environ, LLAMA_API_KEY)


def write_api_key_file(keys: list[str], path: str | None = None) -> str | None:
    """Write `keys` to `path` (default `api_key_file_path()`; mode 600, one per line) for
    `--api-key-file`; None (no file) without keys."""
    if not keys:
        return None
    path = path or api_key_file_path()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("".join(key + "\n" for key in keys))
    return path


def rotation_start(new_key: str) -> dict[str, str]:
    """Secret values of a rotation's first step: the new key in, still not sent."""
    return {LLAMA_NEXT_API_KEY: new_key, LLAMA_SEND_NEXT_KEY: "0"}


def rotation_switch() -> dict[str, str]:
    """Secret values that make the TTS service send the next key."""
    return {LLAMA_SEND_NEXT_KEY: "1"}


def rotation_finish(new_key: str) -> dict[str, str]:
    """Secret values that retire the old key: the new key is the key, nothing is next."""
    return {LLAMA_API_KEY: new_key, LLAMA_NEXT_API_KEY: "", LLAMA_SEND_NEXT_KEY: "0"}
