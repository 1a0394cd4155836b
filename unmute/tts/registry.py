"""Backends by name, found through the `unmute.tts_backends` entry-point group.

Each entry point names a `BackendSpec` object. The built-in backends register the
same way a third-party package does, in its own `pyproject.toml`:

    [project.entry-points."unmute.tts_backends"]
    mytts = "my_package.tts:backend"
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from unmute.tts.availability import ProbePolicy
from unmute.tts.fallback import (
    CHAIN_SEPARATOR,
    ChainMember,
    FallbackPolicy,
    FallbackTextToSpeech,
)
from unmute.tts.protocol import TextToSpeech
from unmute.tts.settings import SettingsError, TTSSettings, load_settings

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "unmute.tts_backends"

SettingsT = TypeVar("SettingsT")


def _never_auto() -> str | None:
    return None


def _always_available() -> str | None:
    return None


def _no_voices() -> list[str]:
    return []


@dataclass(frozen=True)
class BackendSpec:
    """How to make one backend. Cheap to import: heavy imports happen in `create`."""

    name: str
    description: str
    create: Callable[[str | None], TextToSpeech]
    """Make a fresh session for a voice (None: the backend's default voice)."""
    unavailable_reason: Callable[[], str | None] = _always_available
    """None when usable here, else why not (e.g. the pip command of a missing extra)."""
    auto_select_reason: Callable[[], str | None] = _never_auto
    """Non-None (the reason) when the default rule should pick this backend."""
    auto_priority: int = 0
    """Among auto-selectable backends the highest priority wins."""
    voices: Callable[[], list[str]] = field(default=_no_voices)
    service_voices: Callable[[], list[str]] | None = None
    """The voices the backend's service lists, asked over the network (raises when it
    cannot be asked); `voices` is the offline list. `unmute-tts voices` prefers this."""
    prewarm: Callable[[], Awaitable[None]] | None = None
    """Wake the backend (e.g. a cold-starting service) before it is needed."""
    create_at: Callable[[str, str | None], TextToSpeech] | None = None
    """Make a session against one given server instance (URL, voice): unmute's service
    discovery hands its TTS client an instance URL. None: the backend has no instances."""


@dataclass(frozen=True)
class ServiceRules(Generic[SettingsT]):
    """`unavailable_reason` and `auto_select_reason` of a backend that talks to a
    service configured by a URL variable: unusable while its settings are invalid
    (`usable` may demand more, such as the URL being set), picked by default once
    the URL is set."""

    load: Callable[[], SettingsT]
    """Read the backend's settings; raises SettingsError naming a bad variable."""
    url: Callable[[SettingsT], str | None]
    """The configured URL in those settings (None: unset)."""
    variable: str
    """The URL's environment variable, for the reason text."""
    usable: Callable[[SettingsT], object] = lambda _settings: None
    """Raises SettingsError when valid settings still cannot be used."""

    def unavailable_reason(self) -> str | None:
        """None when the settings are valid and usable, else why not."""
        try:
            self.usable(self.load())
        except SettingsError as exc:
            return str(exc)
        return None

    def auto_select_reason(self) -> str | None:
        """Why the default rule picks this backend (its URL is set), else None."""
        try:
            url = self.url(self.load())
        except SettingsError:
            return None
        return None if url is None else f"{self.variable} is set"


class UnknownBackendError(LookupError):
    """No backend of that name is registered."""


@cache
def _discover() -> dict[str, BackendSpec]:
    found: dict[str, BackendSpec] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        try:
            spec = ep.load()
        except Exception as exc:
            logger.warning("backend entry point %r (%s) failed to load: %s", ep.name, ep.value, exc)
            continue
        if not isinstance(spec, BackendSpec):
            logger.warning("backend entry point %r is not a BackendSpec: %r", ep.name, spec)
            continue
        found[ep.name] = spec
    return found


def refresh() -> None:
    """Forget discovered backends (after installing a package at run time)."""
    _discover.cache_clear()
    _choose_default.cache_clear()


def list_backends() -> dict[str, BackendSpec]:
    """Every registered backend, by name, sorted."""
    return dict(sorted(_discover().items()))


def get_backend(name: str) -> BackendSpec:
    """The backend called `name`; UnknownBackendError lists the available names."""
    backends = _discover()
    try:
        return backends[name]
    except KeyError:
        available = ", ".join(sorted(backends)) or "(none)"
        raise UnknownBackendError(
            f"unknown TTS backend {name!r} (UNMUTE_TTS_BACKEND); available: {available}"
        ) from None


@cache
def _choose_default() -> tuple[str, str]:
    candidates: list[tuple[int, str, str]] = []
    for name, spec in _discover().items():
        reason = spec.auto_select_reason()
        if reason is not None:
            candidates.append((spec.auto_priority, name, reason))
    if not candidates:
        raise UnknownBackendError(
            "UNMUTE_TTS_BACKEND is not set and no registered backend is selectable by default; "
            f"available: {', '.join(sorted(_discover())) or '(none)'}"
        )
    _, name, reason = max(candidates)
    logger.info("TTS backend %r chosen by default: %s", name, reason)
    return name, reason


def chain_names(name: str) -> list[str]:
    """The backend names of `name`: one, or a fallback chain `a,b,...` (in order).

    UnknownBackendError for an empty or repeated member or an unknown backend."""
    names = [part.strip() for part in name.split(CHAIN_SEPARATOR)]
    if not all(names):
        raise UnknownBackendError(
            f"invalid TTS backend chain {name!r} (UNMUTE_TTS_BACKEND): an empty name; "
            "write backend names separated by commas, such as orpheus,espeak"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise UnknownBackendError(
            f"invalid TTS backend chain {name!r} (UNMUTE_TTS_BACKEND): "
            f"{', '.join(repeated)} named twice"
        )
    for member in names:
        get_backend(member)
    return names


def chain_specs(name: str) -> list[BackendSpec]:
    """The specs of `name`'s backends (one, or each member of a chain, in order)."""
    return [get_backend(member) for member in chain_names(name)]


def resolve_backend_name(settings: TTSSettings | None = None) -> tuple[str, str]:
    """The backend name (or chain) to use and why (explicit setting, or the default rule)."""
    settings = settings or load_settings(TTSSettings)
    if settings.tts_backend:
        names = chain_names(settings.tts_backend)
        return CHAIN_SEPARATOR.join(names), "UNMUTE_TTS_BACKEND is set"
    return _choose_default()


def fallback_policy(settings: TTSSettings) -> FallbackPolicy:
    """The chain's deadline and probing, from the UNMUTE_TTS_FALLBACK_* settings."""
    return FallbackPolicy(
        first_audio_s=settings.tts_fallback_first_audio_s,
        probe=ProbePolicy(
            interval_s=settings.tts_fallback_probe_interval_s,
            timeout_s=settings.tts_fallback_probe_timeout_s,
        ),
    )


def chain_member(name: str, instance: str | None = None) -> ChainMember:
    """Backend `name` as a member of a chain; with `instance`, at that server if the
    backend takes one."""
    spec = get_backend(name)
    create: Callable[[str | None], TextToSpeech] = spec.create
    create_at = spec.create_at
    if create_at is not None and instance:
        url = instance

        def create_at_instance(voice: str | None) -> TextToSpeech:
            return create_at(url, voice)

        create = create_at_instance
    return ChainMember(name, create, voices=spec.voices, prewarm=spec.prewarm)


def create_tts(
    name: str | None = None,
    voice: str | None = None,
    settings: TTSSettings | None = None,
    *,
    instance: str | None = None,
) -> TextToSpeech:
    """A new TTS session of the named, configured, or default backend (or chain).

    `instance`: a server URL for backends that take one (unmute's discovery)."""
    settings = settings or load_settings(TTSSettings)
    members = [
        chain_member(member, instance)
        for member in chain_names(name or resolve_backend_name(settings)[0])
    ]
    voice = voice or settings.tts_voice
    if len(members) == 1:
        return members[0].create(voice)
    return FallbackTextToSpeech(members, voice, policy=fallback_policy(settings))
