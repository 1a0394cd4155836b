"""Errors as the client sees them: `ApiError` (HTTP status + code), the mapping of
engine and llama-server failures onto it, and the OpenAI-style JSON error body.

`add_error_handlers(app)` makes FastAPI answer a `ApiError`, a request
validation error and every HTTP error (404, 405, a body that is not UTF-8 or is
nested too deeply...) with that body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from orpheus_service.engine.events import NoAudioError, OrpheusEngineError
from orpheus_service.llama.client import (
    LlamaProtocolError,
    LlamaServerError,
    LlamaTimeoutError,
    LlamaUnavailableError,
)
from orpheus_service.vocabulary.voices import UnknownVoiceError

NO_FREE_CHANNELS = "no free channels"

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


class ApiError(Exception):
    """An error the API reports to its client: HTTP status, error code, message."""

    def __init__(self, status: int, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.param = param
        """The request parameter at fault (OpenAI's `param`), if one is."""


class CapacityError(ApiError):
    """Every channel is busy, or the client holds its share of them.

    The message always starts with NO_FREE_CHANNELS, which clients read as "try again".
    """

    def __init__(self, detail: str | None = None) -> None:
        message = NO_FREE_CHANNELS if detail is None else f"{NO_FREE_CHANNELS}: {detail}"
        super().__init__(429, "no_free_channels", message)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify_error(exc: BaseException) -> ApiError:
    """The client-facing error for a failure of the engine or llama-server."""
    for err in _chain(exc):
        if isinstance(err, ApiError):
            return err
        if isinstance(err, UnknownVoiceError):
            return ApiError(400, "unknown_voice", str(err), param="voice")
        if isinstance(err, LlamaTimeoutError | TimeoutError | httpx.TimeoutException):
            return ApiError(504, "llama_timeout", f"llama-server stalled: {err}")
        if isinstance(err, LlamaUnavailableError | httpx.ConnectError | ConnectionError):
            return ApiError(503, "llama_unavailable", f"llama-server unavailable: {err}")
        if isinstance(err, LlamaProtocolError):
            return ApiError(502, "llama_bad_response", f"bad answer from llama-server: {err}")
        if isinstance(err, LlamaServerError | httpx.HTTPError):
            return ApiError(502, "llama_error", f"llama-server failed: {err}")
        if isinstance(err, NoAudioError):
            return ApiError(502, "no_audio", str(err))
        if isinstance(err, OrpheusEngineError):
            return ApiError(502, "engine_error", str(err))
    return ApiError(500, "internal_error", f"synthesis failed: {type(exc).__name__}: {exc}")


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    """The JSON body of an error, as OpenAI's API shapes it."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    param: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    """An OpenAI-style JSON error response."""
    body = error_body(status, code, message, param)
    if extra:
        body.update(extra)
    headers = {"Retry-After": "1"} if status in (429, 503) else None
    return JSONResponse(body, status_code=status, headers=headers)


def add_error_handlers(app: FastAPI) -> None:
    """Answer ApiError and request validation errors with OpenAI-style bodies."""

    async def on_service_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, param=exc.param)

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = _jsonable(list(exc.errors()))
        first = errors[0] if errors else {}
        loc: list[Any] = list(first.get("loc", ()))
        param = ".".join(str(part) for part in loc if part != "body") or None
        message = f"{param or 'request'}: {first.get('msg', 'invalid request')}"
        return error_response(422, "invalid_value", message, param=param, extra={"detail": errors})

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code, message = _http_error_text(request, exc)
        response = error_response(exc.status_code, code, message)
        response.headers.update(exc.headers or {})
        return response

    app.add_exception_handler(ApiError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)


def _http_error_text(request: Request, exc: StarletteHTTPException) -> tuple[str, str]:
    """(code, message) of an HTTP error raised by FastAPI or Starlette themselves."""
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return "invalid_json", f"the request body is not valid UTF-8 (byte {cause.start})"
    if isinstance(cause, RecursionError):
        return "invalid_json", "the request body's JSON is nested too deeply"
    path = request.url.path
    if exc.status_code == 404:
        return "not_found", f"no such endpoint: {path}"
    if exc.status_code == 405:
        return "method_not_allowed", f"{request.method} is not allowed on {path}"
    return f"http_{exc.status_code}", str(exc.detail)


def _jsonable(errors: list[Any]) -> list[dict[str, Any]]:
    """The JSON-safe part of pydantic's errors: type, loc, msg."""
    out: list[dict[str, Any]] = []
    for error in errors:
        if isinstance(error, dict):
            fields = cast(dict[str, Any], error)
            out.append({k: fields[k] for k in ("type", "loc", "msg") if k in fields})
    return out
