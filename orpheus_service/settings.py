"""Settings of the Orpheus TTS service (`ORPHEUS_*` environment variables, `.env`).

Every field maps to one environment variable: field `llama_endpoint` is
`ORPHEUS_LLAMA_ENDPOINT`, and so on. Invalid values raise an error whose
message names the variable. Use `OrpheusSettings.load()` to get a
`SettingsError` (a ValueError) with a one-line message instead of pydantic's
`ValidationError`.
"""

from __future__ import annotations

import functools
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings

from orpheus_service.vocabulary.sampling import (
    DEFAULT_SAMPLING,
    MaxTokens,
    RepetitionPenalty,
    Sampling,
    Temperature,
    TopP,
)
from orpheus_service.vocabulary.voices import ALL_VOICES, DEFAULT_VOICE, check_voice
from unmute.tts.protocol import SAMPLE_RATE
from unmute.tts.settings import env_var as settings_env_var
from unmute.tts.settings import load_settings, settings_config

ENV_PREFIX = "ORPHEUS_"
SUPPORTED_SAMPLE_RATE = SAMPLE_RATE


class OrpheusSettings(BaseSettings):
    """Settings of the Orpheus service; see each field's docstring for its variable."""

    model_config = settings_config(ENV_PREFIX)

    # llama-server (text -> Orpheus audio tokens)
    llama_endpoint: str = "http://127.0.0.1:8080"
    """Base URL of llama-server (ORPHEUS_LLAMA_ENDPOINT), no path; a trailing / is dropped."""
    model_name: str = "Orpheus-3b-FT-Q8_0.gguf"
    """GGUF file llama-server loads (ORPHEUS_MODEL_NAME)."""
    max_tokens: MaxTokens = DEFAULT_SAMPLING.max_tokens
    """Token budget per segment (ORPHEUS_MAX_TOKENS); ~82 tokens make 1 s of audio."""
    temperature: Temperature = DEFAULT_SAMPLING.temperature
    """Sampling temperature (ORPHEUS_TEMPERATURE)."""
    top_p: TopP = DEFAULT_SAMPLING.top_p
    """Nucleus sampling mass (ORPHEUS_TOP_P)."""
    repetition_penalty: RepetitionPenalty = DEFAULT_SAMPLING.repetition_penalty
    """Repetition penalty (ORPHEUS_REPETITION_PENALTY); >= 1.1 keeps Orpheus stable."""
    connect_timeout_s: float = Field(default=5.0, gt=0.0)
    """Seconds to open a connection to llama-server (ORPHEUS_CONNECT_TIMEOUT_S)."""
    read_timeout_s: float = Field(default=30.0, gt=0.0)
    """Longest wait for the next streamed chunk from llama-server (ORPHEUS_READ_TIMEOUT_S)."""
    llama_api_key: SecretStr | None = None
    """Key sent to llama-server as `Authorization: Bearer` (ORPHEUS_LLAMA_API_KEY).

    Set it when llama-server runs with `--api-key`/`--api-key-file`; unset sends none.
    """

    # SNAC (audio codes -> PCM)
    sample_rate: int = SUPPORTED_SAMPLE_RATE
    """Output sample rate in Hz (ORPHEUS_SAMPLE_RATE); only 24000 is supported."""
    snac_model: str = "hubertsiuzdak/snac_24khz"
    """SNAC weights: a local folder or a Hugging Face hub id (ORPHEUS_SNAC_MODEL)."""
    snac_device: str | None = None
    """Torch device for SNAC, e.g. `cpu` or `cuda` (ORPHEUS_SNAC_DEVICE); unset picks one."""

    # Voices and segmentation
    default_voice: str = DEFAULT_VOICE
    """Voice used when a request names none (ORPHEUS_DEFAULT_VOICE)."""
    segment_max_chars: int = Field(default=150, ge=20)
    """Longest text segment sent in one llama request (ORPHEUS_SEGMENT_MAX_CHARS).

    Segments end at sentence ends; a longer sentence is split at a word boundary
    so that its audio stays well inside `max_tokens` (150 chars is ~10 s).
    """
    first_segment_max_words: int = Field(default=8, ge=0)
    """Words after which the first segment may end early (ORPHEUS_FIRST_SEGMENT_MAX_WORDS).

    Cuts the time to first audio when text arrives word by word; 0 disables it.
    """
    idle_flush_s: float = Field(default=0.2, ge=0.0)
    """Quiet time after a sentence end before it is spoken (ORPHEUS_IDLE_FLUSH_S).

    Streamed text: a sentence normally ends a segment once the next one starts;
    when no text comes for this long, it is sent anyway. 0 waits for more text.
    """
    lookahead_segments: int = Field(default=1, ge=0)
    """Segments generated ahead of the one being decoded (ORPHEUS_LOOKAHEAD_SEGMENTS)."""
    first_audio_min_s: float = Field(default=0.1, ge=0.0)
    """Audio a synthesis holds back before its first chunk (ORPHEUS_FIRST_AUDIO_MIN_S).

    A listener who starts playing at the first chunk holds only that chunk while the
    next one is generated. SNAC's first chunk is 58 ms, the next frame takes ~50 ms to
    generate at 150 tokens/s: one hiccup and playback stutters. 0.1 s waits for one more
    frame (143 ms in all), costing that frame's generation in time to first audio
    (BENCHMARKS.md); 0 sends the first chunk at once.
    """
    word_hold_s: float = Field(default=0.0, ge=0.0, le=0.5)
    """Decoded audio that may wait for its word times (ORPHEUS_WORD_HOLD_S).

    Word times come from aligning the audio, which decides a word once it has seen up
    to 0.5 s of audio past the word's start. 0 never delays audio for them: a word may
    follow the audio it starts in (unmute's client releases words at their start time
    anyway). 0.5 sends every word before its audio, at the cost of that much audio
    generated before the first chunk.
    """
    yield_lead_s: float = Field(default=2.0, ge=0.0)
    """Lead at which a synthesis yields llama-server to others (ORPHEUS_YIELD_LEAD_S).

    A synthesis more than this many seconds of audio ahead of its listener starts its
    next segment only once no other synthesis is generating with less than half of it
    ahead (or none yet): a long text read as fast as possible cannot slow the sessions
    that are about to run dry. 0 turns it off.
    """

    # Service limits
    max_input_chars: int = Field(default=100_000, ge=1)
    """Longest text one client may send (ORPHEUS_MAX_INPUT_CHARS).

    Bounds one HTTP request's input, and on the WebSockets both one message and
    the whole text of one session (streamed text included).
    """
    max_request_bytes: int = Field(default=2_000_000, ge=1)
    """Largest HTTP request body (ORPHEUS_MAX_REQUEST_BYTES); a larger one gets 413.

    Refused before it is read when Content-Length declares it, else once that many
    bytes have arrived. 2 MB holds any request whose input is within the default
    ORPHEUS_MAX_INPUT_CHARS: a character takes at most 12 bytes of JSON (a
    surrogate-pair escape), so 100,000 characters take 1.2 MB. Raise it with
    ORPHEUS_MAX_INPUT_CHARS (to 12 bytes per character and some room for the other fields).
    """
    api_key: SecretStr | None = None
    """Key clients must send (ORPHEUS_API_KEY), compared trimmed; unset disables the check.

    A value that is empty after trimming whitespace is an error at startup.
    """
    max_sessions: int = Field(default=32, ge=1)
    """Concurrent synthesis sessions before new ones are refused (ORPHEUS_MAX_SESSIONS)."""
    max_sessions_per_client: int | None = Field(default=None, ge=1)
    """Concurrent sessions one client address may hold (ORPHEUS_MAX_SESSIONS_PER_CLIENT).

    Unset: no per-client bound. Set it where clients connect directly (the playground,
    an open API), so that one client cannot take every channel; leave it unset behind
    unmute's backend, where every session comes from that one address. The address is
    uvicorn's view of the peer: behind a proxy, uvicorn takes it from X-Forwarded-For
    only for proxies listed in FORWARDED_ALLOW_IPS.
    """
    max_text_messages_per_s: float = Field(default=100.0, gt=0.0)
    """Pace at which one session's client messages are read (ORPHEUS_MAX_TEXT_MESSAGES_PER_S).

    A burst of this many is read at once; past it, reading waits (the client's sends
    block on TCP), so a flood of one-word frames costs the service a bounded share of a
    core rather than all of it. Speech needs ~3 words a second; an LLM streams 20-200.
    """
    session_idle_timeout_s: float = Field(default=60.0, ge=0.0)
    """Seconds a session may stand idle (ORPHEUS_SESSION_IDLE_TIMEOUT_S).

    A WebSocket client that sends no text (nor Eos) for this long gets an "idle
    timeout" error and is closed, freeing its channel; so is any client, HTTP too,
    that leaves the audio unread for this long. 0 disables the limit.
    """

    # Browsers, formats and metrics
    default_response_format: Literal["wav", "mp3", "opus", "flac", "aac", "pcm"] = "wav"
    """Format of a speech request that names none (ORPHEUS_DEFAULT_RESPONSE_FORMAT).

    WAV, so that `curl ... -o test.wav` writes a real WAV (as Orpheus-FastAPI does);
    `mp3` is OpenAI's default.
    """
    cors_origins: str = ""
    """Origins whose pages may call the HTTP API (ORPHEUS_CORS_ORIGINS), comma-separated;
    `*` for any; empty: no CORS headers (same-origin pages only, such as `/`)."""
    metrics_token: SecretStr | None = None
    """A second key that reads GET /metrics only (ORPHEUS_METRICS_TOKEN), for a scraper;
    ORPHEUS_API_KEY reads it too."""
    metrics_open: bool = False
    """Serve GET /metrics without any key (ORPHEUS_METRICS_OPEN), e.g. behind a network rule."""

    # Serving
    ws_implementation: Literal[
        "websockets-sansio-paced", "websockets-sansio", "wsproto", "websockets"
    ] = "websockets-sansio-paced"
    """uvicorn's WebSocket implementation under `unmute-tts serve` (ORPHEUS_WS_IMPLEMENTATION).

    `websockets-sansio-paced` (orpheus_service.serving) parses at most 4 KB of a
    client's data frames per turn of the event loop, so a flood of small frames cannot
    hold the loop, and parses close and ping frames as they arrive, so a close behind
    unread messages is honoured at once; the others are uvicorn's own (they read a
    close only after the messages before it; `websockets` is deprecated upstream).
    """
    ws_per_message_deflate: bool = False
    """Offer WebSocket compression (ORPHEUS_WS_PER_MESSAGE_DEFLATE).

    Off: float32 audio barely compresses, zlib costs the event loop time on every
    audio frame sent, and inflating every small client frame makes a flood of them
    dearer to parse (`python -m bench.hostile`).
    """

    @field_validator("api_key")
    @classmethod
    def _check_api_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        key = value.get_secret_value().strip()
        if not key:
            raise ValueError(
                f"{env_var('api_key')} is empty after trimming whitespace: "
                "set a key, or unset the variable to leave every endpoint open"
            )
        return SecretStr(key)

    @field_validator("llama_api_key")
    @classmethod
    def _check_llama_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        return SecretStr(value.get_secret_value().strip())

    @field_validator("llama_endpoint")
    @classmethod
    def _check_endpoint(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"{env_var('llama_endpoint')} must be an http(s) base URL such as "
                f"http://127.0.0.1:8080, got {value!r}"
            )
        if parts.path or parts.query or parts.fragment:
            raise ValueError(
                f"{env_var('llama_endpoint')} must be a base URL without a path, got {value!r}"
            )
        return value

    @field_validator("sample_rate")
    @classmethod
    def _check_sample_rate(cls, value: int) -> int:
        if value != SUPPORTED_SAMPLE_RATE:
            raise ValueError(
                f"{env_var('sample_rate')} must be {SUPPORTED_SAMPLE_RATE} "
                f"(SNAC 24 kHz is the only decoder), got {value}"
            )
        return value

    @field_validator("default_voice")
    @classmethod
    def _check_voice(cls, value: str) -> str:
        try:
            return check_voice(value)
        except ValueError as exc:
            raise ValueError(f"{env_var('default_voice')}: {exc}") from None

    @field_validator("model_name", "snac_model")
    @classmethod
    def _check_not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("snac_device")
    @classmethod
    def _check_device(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return value.strip()

    @model_validator(mode="after")
    def _check_budget(self) -> Self:
        # Speech runs ~15 chars/s and ~82 tokens/s, ~5.5 tokens per char; a segment
        # bound past the token budget would cut speech off. Allow 7 tokens per char.
        chars_budget = self.max_tokens // 7
        if self.segment_max_chars > chars_budget:
            raise ValueError(
                f"{env_var('segment_max_chars')}={self.segment_max_chars} is too long for "
                f"{env_var('max_tokens')}={self.max_tokens}: keep it at most "
                f"max_tokens / 7 = {chars_budget} so a segment's speech fits its token budget"
            )
        return self

    @classmethod
    def load(cls, **overrides: Any) -> OrpheusSettings:
        """Read the settings, raising `unmute.tts.settings.SettingsError` naming the variable
        (the keys' values are never quoted)."""
        return load_settings(cls, secret=SECRET_FIELDS, **overrides)

    @property
    def sampling(self) -> Sampling:
        """The llama requests' sampling these settings describe."""
        return DEFAULT_SAMPLING.model_copy(
            update={
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "repetition_penalty": self.repetition_penalty,
            }
        )

    @property
    def voices(self) -> tuple[str, ...]:
        """Every voice name the prompt builder accepts."""
        return ALL_VOICES


env_var = functools.partial(settings_env_var, OrpheusSettings)
"""The environment variable that sets a field of OrpheusSettings."""

SECRET_FIELDS = ("api_key", "llama_api_key", "metrics_token")
"""Fields whose values an error message never quotes."""
