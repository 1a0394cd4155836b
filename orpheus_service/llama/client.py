"""Async streaming client for llama-server's native `/completion` endpoint.

`LlamaClient.stream_tokens()` sends a mixed prompt (token ids and strings) with
`stream` and `return_tokens` on and yields the generated token ids as they arrive.
Ids come from each chunk's `tokens`; a server that leaves them out is read through
the chunk text, where `<custom_token_N>` maps to `custom_token_base + N` (other text
is then skipped). So both GGUF typings of the Orpheus tokens work: USER_DEFINED
(text and ids) and CONTROL (empty text, ids only).

Stopping: the stop token (end_of_speech) is sent as a stop string and as a
preserved token, so the server ends the generation by itself for both typings;
the client also ends the stream right after yielding the stop id, whatever the
server does. Closing the iterator (`aclose()`, cancellation) closes the HTTP
response, and llama-server frees the slot at once. (llama-server closes the
connection after every streamed response, so each stream opens a connection.)

Errors are `LlamaServerError`s: `LlamaUnavailableError` (cannot connect, connection
lost), `LlamaHTTPError` (non-200 status or an error event in the stream),
`LlamaTimeoutError` (no data within the read timeout: a stall, or every slot busy
for that long) and `LlamaProtocolError` (not the stream llama-server sends).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import cast

import httpx

from orpheus_service.vocabulary.prompt import PromptPart
from orpheus_service.vocabulary.sampling import DEFAULT_SAMPLING, Sampling, SamplingOverrides
from orpheus_service.vocabulary.token_source import TokenSource
from orpheus_service.vocabulary.tokens import CUSTOM_TOKEN_BASE, END_OF_SPEECH

_CUSTOM_TOKEN = re.compile(r"<custom_token_(\d+)>")
_MAX_ERROR_BODY = 4096


class LlamaServerError(RuntimeError):
    """Base of the errors talking to llama-server."""


class LlamaUnavailableError(LlamaServerError):
    """llama-server cannot be reached, or the connection was lost."""


class LlamaHTTPError(LlamaServerError):
    """llama-server answered with an error status or sent an error event."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(f"llama-server error {status_code}: {message}")
        self.status_code = status_code
        self.message = message


class LlamaTimeoutError(LlamaServerError):
    """No data from llama-server within the read timeout."""


class LlamaProtocolError(LlamaServerError):
    """llama-server's answer is not the expected HTTP/SSE/JSON stream."""


def wire_fields(sampling: Sampling) -> dict[str, object]:
    """`sampling` as llama-server's `/completion` fields (its names; unset ones left out)."""
    fields = sampling.model_dump(exclude_none=True)
    renamed = {"max_tokens": "n_predict", "repetition_penalty": "repeat_penalty"}
    return {renamed.get(name, name): value for name, value in fields.items()}


class LlamaClient:
    """Talks to one llama-server; share one per process (it pools connections).

    Close it with `aclose()` (or `contextlib.aclosing`).
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        custom_token_base: int = CUSTOM_TOKEN_BASE,
        max_connections: int = 100,
    ) -> None:
        """`api_key`, when set, goes in every request as `Authorization: Bearer` (never logged)."""
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        all_headers = dict(headers or {})
        if api_key:
            all_headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            headers=all_headers,
            limits=httpx.Limits(max_connections=max_connections),
        )
        self.custom_token_base = custom_token_base

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- small requests ---------------------------------------------------------

    async def health(self) -> bool:
        """True when the model is loaded and the server serves; False while it loads (503)."""
        response = await self._request("GET", "/health")
        if response.status_code == 503:
            return False
        _check_status(response)
        return True

    async def tokenize(self, text: str, *, parse_special: bool = True) -> list[int]:
        """Token ids of `text` (no BOS); `parse_special` reads `<|...|>`/custom tokens as one id."""
        body = {"content": text, "add_special": False, "parse_special": parse_special}
        data = _as_dict(_json(_check_status(await self._request("POST", "/tokenize", body))))
        return _as_ids(data.get("tokens"))

    async def learn_custom_token_base(self) -> int:
        """Ask the server for the id of `<custom_token_0>`; store and return it."""
        ids = await self.tokenize("<custom_token_0>")
        if len(ids) != 1:
            raise LlamaProtocolError(f"<custom_token_0> is not one token ({ids}): not Orpheus?")
        self.custom_token_base = ids[0]
        return ids[0]

    async def slots(self) -> list[dict[str, object]]:
        """`GET /slots`: one dict per slot (`id`, `is_processing`, ...)."""
        data = _json(_check_status(await self._request("GET", "/slots")))
        if not isinstance(data, list):
            raise LlamaProtocolError("/slots did not return a list")
        return [_as_dict(slot) for slot in cast(list[object], data)]

    async def processing_slots(self) -> int:
        """How many slots are generating now."""
        return sum(slot.get("is_processing") is True for slot in await self.slots())

    async def _request(self, method: str, path: str, body: object = None) -> httpx.Response:
        try:
            return await self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise _translate(exc) from exc

    # -- streaming --------------------------------------------------------------

    def token_source(
        self, defaults: Sampling, *, stop_token_id: int | None = END_OF_SPEECH
    ) -> TokenSource:
        """The engine's TokenSource: `prompt -> token id stream` sampled with `defaults`;
        a synthesis's `sampling` overrides replace their fields for its requests."""

        def source(
            prompt: list[PromptPart], /, *, sampling: SamplingOverrides | None = None
        ) -> AsyncIterator[int]:
            chosen = defaults.with_overrides(sampling)
            return self.stream_tokens(prompt, chosen, stop_token_id=stop_token_id)

        return source

    async def stream_tokens(
        self,
        prompt: Sequence[PromptPart],
        sampling: Sampling = DEFAULT_SAMPLING,
        *,
        stop_token_id: int | None = END_OF_SPEECH,
    ) -> AsyncGenerator[int, None]:
        """Generate from `prompt`; yield each generated token id, the stop id last.

        A prompt of strings only is joined into one string (llama-server reads a list
        of strings as several prompts). Close the iterator to cancel the generation.
        """
        body = self._body(prompt, sampling, stop_token_id)
        try:
            async with self._http.stream("POST", "/completion", json=body) as response:
                if response.status_code != 200:
                    await response.aread()
                    _check_status(response)
                content_type = response.headers.get("content-type", "")
                if not content_type.startswith("text/event-stream"):
                    raise LlamaProtocolError(f"expected an event stream, got {content_type!r}")
                async for data in _sse_data(response.aiter_lines()):
                    chunk = _parse_chunk(data)
                    for token_id in self._chunk_ids(chunk):
                        yield token_id
                        if token_id == stop_token_id:
                            return  # closes the stream: frees the slot if still generating
                    if chunk.get("stop") is True:
                        return
                raise LlamaProtocolError("stream ended before its final chunk")
        except httpx.HTTPError as exc:
            raise _translate(exc) from exc

    def _body(
        self, prompt: Sequence[PromptPart], sampling: Sampling, stop_token_id: int | None
    ) -> dict[str, object]:
        if not prompt:
            raise ValueError("empty prompt")
        parts: list[PromptPart] | str = list(prompt)
        if all(isinstance(part, str) for part in prompt):
            parts = "".join(cast(Sequence[str], prompt))
        body: dict[str, object] = {
            "prompt": parts,
            "stream": True,
            "return_tokens": True,
            "cache_prompt": True,
            **wire_fields(sampling),
        }
        if stop_token_id is not None and stop_token_id >= self.custom_token_base:
            stop_text = f"<custom_token_{stop_token_id - self.custom_token_base}>"
            body |= {"stop": [stop_text], "preserved_tokens": [stop_text]}
        return body

    def _chunk_ids(self, chunk: dict[str, object]) -> list[int]:
        tokens = chunk.get("tokens")
        if tokens is not None:
            ids = _as_ids(tokens)
            if ids or not chunk.get("content"):
                return ids
        content = chunk.get("content")
        if content is None or content == "":
            return []
        if not isinstance(content, str):
            raise LlamaProtocolError(f"chunk content is not text: {content!r}")
        return [self.custom_token_base + int(n) for n in _CUSTOM_TOKEN.findall(content)]


async def _sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The `data` of each server-sent event; `error:` lines (old servers) become errors."""
    buffer: list[str] = []
    async for line in lines:
        if not line:
            if buffer:
                yield "\n".join(buffer)
                buffer = []
        elif line.startswith("data:"):
            buffer.append(line[5:].removeprefix(" "))
        elif line.startswith("error:"):
            yield json.dumps({"error": _json_text(line[6:].strip())})
        elif not line.startswith(":") and ":" not in line:
            raise LlamaProtocolError(f"not an event-stream line: {line[:200]!r}")
    if buffer:
        yield "\n".join(buffer)


def _parse_chunk(data: str) -> dict[str, object]:
    if data == "[DONE]":
        return {"stop": True}
    chunk = _as_dict(_json_text(data))
    error = chunk.get("error")
    if error is not None:
        raise _error_from(error)
    return chunk


def _json_text(text: str) -> object:
    try:
        return cast(object, json.loads(text))
    except json.JSONDecodeError as exc:
        raise LlamaProtocolError(f"not JSON: {text[:200]!r}") from exc


def _json(response: httpx.Response) -> object:
    return _json_text(response.text)


def _as_dict(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise LlamaProtocolError(f"expected a JSON object, got {str(value)[:200]}")
    return cast(dict[str, object], value)


def _as_ids(value: object) -> list[int]:
    if not isinstance(value, list):
        raise LlamaProtocolError(f"expected a list of token ids, got {str(value)[:200]}")
    items = cast(list[object], value)
    ids = [item for item in items if isinstance(item, int) and not isinstance(item, bool)]
    if len(ids) != len(items):
        raise LlamaProtocolError(f"expected token ids, got {str(items)[:200]}")
    return ids


def _error_from(error: object, status_code: int | None = None) -> LlamaHTTPError:
    """An error object (`{"code", "message", ...}` or text) as LlamaHTTPError."""
    if isinstance(error, dict):
        fields = cast(dict[str, object], error)
        code = fields.get("code")
        status = status_code or (code if isinstance(code, int) else 500)
        return LlamaHTTPError(status, str(fields.get("message", fields)))
    return LlamaHTTPError(status_code or 500, str(error))


def _check_status(response: httpx.Response) -> httpx.Response:
    if response.status_code == 200:
        return response
    text = response.text[:_MAX_ERROR_BODY]
    try:
        error = _as_dict(json.loads(text)).get("error", text)
    except (json.JSONDecodeError, LlamaProtocolError):
        error = text or response.reason_phrase
    raise _error_from(error, response.status_code) from None


def _translate(exc: httpx.HTTPError) -> LlamaServerError:
    """The LlamaServerError for an httpx error."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return LlamaUnavailableError(f"cannot connect to llama-server: {exc!r}")
    if isinstance(exc, httpx.TimeoutException):
        return LlamaTimeoutError(f"llama-server sent nothing within the timeout: {exc!r}")
    if isinstance(exc, httpx.RemoteProtocolError):
        return LlamaProtocolError(f"bad HTTP from llama-server or stream cut: {exc!r}")
    return LlamaUnavailableError(f"connection to llama-server failed: {exc!r}")
