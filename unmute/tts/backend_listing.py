"""`unmute-tts backends`: the registered backends, and the availability of a chain's."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from unmute.tts.availability import probe
from unmute.tts.registry import chain_member, chain_names, get_backend, list_backends
from unmute.tts.settings import TTSSettings, load_settings


def probe_chain(names: list[str], settings: TTSSettings) -> dict[str, str]:
    """Each backend of a chain: `available` when one word through it gave audio within
    UNMUTE_TTS_FALLBACK_PROBE_TIMEOUT_S, else `unavailable: WHY` (probed concurrently)."""

    async def one(name: str) -> str:
        reason = get_backend(name).unavailable_reason()
        if reason is None:
            member = chain_member(name)
            reason = await probe(lambda: member.create(None), settings.tts_fallback_probe_timeout_s)
        return "available" if reason is None else f"unavailable: {reason}"

    async def all_of_them() -> list[str]:
        return await asyncio.gather(*(one(name) for name in names))

    return dict(zip(names, asyncio.run(all_of_them()), strict=True))


def list_backends_command(args: argparse.Namespace) -> int:
    """`unmute-tts backends`: every registered backend, usable or why not; each member
    of a fallback chain (--chain, or UNMUTE_TTS_BACKEND naming one) probed."""
    settings = load_settings(TTSSettings)
    named = args.chain or settings.tts_backend
    chain = chain_names(named) if named else []
    availability = probe_chain(chain, settings) if len(chain) > 1 else {}
    rows: list[dict[str, Any]] = []
    for name, spec in list_backends().items():
        reason = spec.unavailable_reason()
        row: dict[str, Any] = {
            "name": name,
            "usable": reason is None,
            "why_not": reason,
            "description": spec.description,
        }
        if name in availability:
            row["chain_position"] = chain.index(name) + 1
            row["availability"] = availability[name]
        rows.append(row)
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        status = "usable" if row["usable"] else f"unusable: {row['why_not']}"
        print(f"{row['name']:<10} {status:<10}  {row['description']}")
    if availability:
        print(f"\nfallback chain {','.join(chain)}:")
        for position, name in enumerate(chain, 1):
            print(f"  {position}. {name:<10} {availability[name]}")
    return 0
