"""Settings of the `openai` backend, the client of any OpenAI-compatible speech server
(`OPENAI_TTS_*`; the key is also read from `OPENAI_API_KEY`).

`OPENAI_TTS_BASE_URL` is the server's root or its `/v1` URL (both work): the backend
posts to `/v1/audio/speech` (or Kokoro's `/dev/captioned_speech` when word times are
`captioned`) and lists voices from `/v1/audio/voices`. Unset, it is OpenAI's API.
Empty variables count as unset.
"""

from __future__ import annotations

import functools
from typing import Any, Final, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator

from unmute.tts.service_settings import HTTP_SCHEMES, ServiceClientSettings
from unmute.tts.settings import env_var as settings_env_var
from unmute.tts.settings import settings_config

ENV_PREFIX: Final = "OPENAI_TTS_"
OPENAI_BASE_URL: Final = "https://api.openai.com/v1"
SPEECH_PATH: Final = "/v1/audio/speech"
CAPTIONED_PATH: Final = "/dev/captioned_speech"
"""Kokoro-FastAPI's speech with word timestamps (NDJSON lines)."""
VOICES_PATH: Final = "/v1/audio/voices"
KEY_VARIABLES: Final = "OPENAI_TTS_API_KEY (or OPENAI_API_KEY)"

ResponseFormat = Literal["pcm", "wav", "mp3", "opus", "flac", "aac"]
StreamFormat = Literal["audio", "sse"]
WordTimes = Literal["estimate", "captioned"]


class OpenAITTSSettings(ServiceClientSettings):
    """Which server, model, voice and format; how long to wait for it."""

    model_config = settings_config(ENV_PREFIX, env_ignore_empty=True, populate_by_name=True)
    url_example = "http://127.0.0.1:8880/v1 (a Kokoro-FastAPI server)"
    credentials_hint = f"set {KEY_VARIABLES} instead"
    url_schemes = HTTP_SCHEMES

    base_url: str | None = None
    """The server's root or `/v1` URL (OPENAI_TTS_BASE_URL), such as
    `http://127.0.0.1:8880/v1`; unset: OpenAI's API (`https://api.openai.com/v1`)."""
    api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_TTS_API_KEY", "OPENAI_API_KEY")
    )
    """Sent as `Authorization: Bearer` (OPENAI_TTS_API_KEY, else OPENAI_API_KEY); unset
    sends none (local servers need none)."""
    model: str = "tts-1"
    """The `model` field (OPENAI_TTS_MODEL): `gpt-4o-mini-tts`, `tts-1` (OpenAI; also
    accepted by Kokoro-FastAPI and the Orpheus service), `kokoro`, `speaches-ai/...`."""
    voice: str = "alloy"
    """Voice when the caller names none (OPENAI_TTS_VOICE)."""
    instructions: str | None = None
    """How to speak (OPENAI_TTS_INSTRUCTIONS), for `gpt-4o-mini-tts`; unset: not sent."""
    speed: float | None = Field(default=None, ge=0.25, le=4.0)
    """The `speed` field, 0.25 to 4 (OPENAI_TTS_SPEED); unset: not sent."""
    response_format: ResponseFormat = "pcm"
    """The audio asked for (OPENAI_TTS_RESPONSE_FORMAT): `pcm` (raw 16-bit, streams
    best), `wav` (header read, data streamed), or `mp3`, `opus`, `flac`, `aac` (decoded
    with PyAV) for a server that gives nothing else."""
    stream_format: StreamFormat | None = None
    """The `stream_format` field (OPENAI_TTS_STREAM_FORMAT): `sse` for
    `speech.audio.delta` events, `audio` for a plain body; unset: not sent."""
    word_times: WordTimes = "estimate"
    """Where word times come from (OPENAI_TTS_WORD_TIMES): `estimate` (the shared
    estimator, any server) or `captioned` (exact, from Kokoro-FastAPI's
    `/dev/captioned_speech`)."""
    word_hold_s: float = Field(default=0.0, ge=0.0, le=0.5)
    """Audio that may wait for its estimated word times (OPENAI_TTS_WORD_HOLD_S). The
    estimator decides a word once it has seen up to 0.5 s of audio past its start: 0
    never delays audio, not even for the estimator's work, which runs in a worker thread
    (a word may follow the audio it starts in, by that much plus the estimator's time;
    unmute's client releases words at their start time anyway); 0.5 sends every word
    before its audio at the cost of that much audio in the first chunk's time."""
    language: str = "en-us"
    """Language of the speech, for the word-time estimator (OPENAI_TTS_LANGUAGE), an
    espeak-ng voice name such as `en-us`, `fr`, `de`."""
    sample_rate: int | None = Field(default=None, gt=0)
    """The server's rate of raw PCM (OPENAI_TTS_SAMPLE_RATE); unset: the rate in the
    content type (`audio/pcm;rate=...`), else 24000 (OpenAI's). WAV and compressed
    audio carry their own."""
    connect_timeout_s: float = Field(default=10.0, gt=0.0)
    """Longest wait to connect to the server (OPENAI_TTS_CONNECT_TIMEOUT_S)."""
    first_byte_timeout_s: float = Field(default=30.0, gt=0.0)
    """Longest wait from a request to its first audio byte
    (OPENAI_TTS_FIRST_BYTE_TIMEOUT_S); retried while the start-up budget lasts."""

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        return cls.checked_url(value)

    # -- derived values --------------------------------------------------------------

    @property
    def root_url(self) -> str:
        """The server's root URL: the base URL without a trailing `/` or `/v1`."""
        url = (self.base_url or OPENAI_BASE_URL).rstrip("/")
        return url.removesuffix("/v1")

    @property
    def speech_url(self) -> str:
        """Where sentences are posted: the speech or the captioned-speech endpoint."""
        path = CAPTIONED_PATH if self.word_times == "captioned" else SPEECH_PATH
        return self.root_url + path

    @property
    def voices_url(self) -> str:
        """Where the server lists its voices."""
        return self.root_url + VOICES_PATH

    def headers(self) -> dict[str, str]:
        """`Authorization: Bearer KEY` when a key is set. Never log these."""
        if self.api_key is None or not self.api_key.get_secret_value():
            return {}
        return {"Authorization": f"Bearer {self.api_key.get_secret_value()}"}

    def request_body(self, text: str, voice: str | None) -> dict[str, object]:
        """The JSON body of one speech request."""
        body: dict[str, object] = {
            "model": self.model,
            "input": text,
            "voice": voice or self.voice,
            "response_format": self.response_format,
        }
        if self.instructions:
            body["instructions"] = self.instructions
        if self.speed is not None:
            body["speed"] = self.speed
        if self.stream_format is not None:
            body["stream_format"] = self.stream_format
        if self.word_times == "captioned":
            body["stream"] = True
            body["return_timestamps"] = True
        return body


env_var = functools.partial(settings_env_var, OpenAITTSSettings)
"""The environment variable that sets a field of OpenAITTSSettings."""


def load_client_settings(**overrides: Any) -> OpenAITTSSettings:
    """Read the settings from the environment; SettingsError names a bad variable and
    never quotes the key."""
    return OpenAITTSSettings.load(**overrides)
