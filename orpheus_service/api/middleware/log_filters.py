"""Log hygiene for uvicorn's loggers: no secrets in request lines, no false ERROR lines.

`install_log_filters(key)` adds one `ServiceLogFilter` to `uvicorn.access` and
`uvicorn.error` (idempotent; filters survive uvicorn's logging setup). It:

- redacts credentials in every form a client sends them, the right key and wrong ones
  alike: query values whose name looks like a credential (`key`, `api_key`, `token`,
  `secret`, `password`, `auth`, `signature`...), `Bearer` tokens, the values of
  credential headers (`kyutai-api-key`, `authorization`, `cookie`, `modal-secret`...),
  the browser's `orpheus-tts.key.<base64url>` subprotocol, and the configured API key
  wherever it appears; on uvicorn's loggers and the WebSocket libraries' (whose debug
  level logs every handshake header). A record is rendered before it is searched, so
  a credential in any argument is found;
- logs what a client caused (a text frame that is not valid UTF-8, closed with 1007)
  once as a WARNING without a traceback, rather than as uvicorn's ERROR with one;
- drops uvicorn's "ASGI callable returned without completing handshake/response"
  ERROR for a connection the service ended on purpose: a WebSocket the API key
  middleware refused (an HTTP 401 denial, already logged once at INFO as the
  request line `"WebSocket /path" 401`), an HTTP client dropped for leaving the
  audio unread (logged at INFO). The code that ends it calls `ended_on_purpose()`
  in the connection's task, where uvicorn logs the error afterwards.
"""

from __future__ import annotations

import contextvars
import logging
import re

REDACTED = "[redacted]"
_CREDENTIAL_QUERY = re.compile(
    r"(?i)([?&][^=&\s\"]*(?:key|token|secret|passw|auth|signature|credential)[^=&\s\"]*=)[^&\s\"]*"
)
_BEARER = re.compile(r"(?i)(\bbearer\s+)[^\s'\",;]+")
_CREDENTIAL_HEADER = re.compile(
    r"(?i)\b((?:kyutai-api-key|x-api-key|api-key|authorization|proxy-authorization|cookie"
    r"|set-cookie|modal-key|modal-secret)['\"]?\s*[:,=]\s*['\"]?)[^'\"\r\n]+"
)
_KEY_SUBPROTOCOL = re.compile(r"(orpheus-tts\.key\.)[^\s'\",;]*")
_UNFINISHED_ERROR = "ASGI callable returned without"
_CLIENT_CAUSED = {
    "Invalid UTF-8 sequence received from client.": (
        "a client sent a text frame that is not valid UTF-8: closed with 1007"
    ),
}
"""uvicorn's ERROR messages for what a client did wrong -> the WARNING logged instead."""
_on_purpose: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "orpheus_ended_on_purpose", default=False
)


def ended_on_purpose() -> None:
    """Mark the current connection (its ASGI task) as ended by the service on purpose."""
    _on_purpose.set(True)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with credential-like query values and `secrets` replaced."""
    for pattern in (_CREDENTIAL_QUERY, _KEY_SUBPROTOCOL, _CREDENTIAL_HEADER, _BEARER):
        text = pattern.sub(rf"\1{REDACTED}", text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class ServiceLogFilter(logging.Filter):
    """Redacts credentials in uvicorn's records; drops its "returned without completing"
    ERROR for a connection ended on purpose."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: tuple[str, ...] = ()

    def filter(self, record: logging.LogRecord) -> bool:
        on_purpose = record.levelno >= logging.ERROR and _on_purpose.get()
        if on_purpose and str(record.msg).startswith(_UNFINISHED_ERROR):
            return False
        client_caused = _CLIENT_CAUSED.get(str(record.msg))
        if client_caused is not None:
            if not logging.getLogger(record.name).isEnabledFor(logging.WARNING):
                return False
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args = client_caused, None
            record.exc_info, record.exc_text = None, None
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit: searched as they are
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message, self.secrets), None
        return True


_LOGGERS = (
    "uvicorn.access",
    "uvicorn.error",
    "websockets",
    "websockets.server",
    "websockets.protocol",
    "websockets.legacy.server",
    "websockets.legacy.protocol",
    "wsproto",
)


def install_log_filters(api_key: str | None) -> None:
    """Add the filter to uvicorn's loggers (once), redacting `api_key` too."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        found = [f for f in logger.filters if isinstance(f, ServiceLogFilter)]
        log_filter = found[0] if found else ServiceLogFilter()
        if api_key:
            log_filter.secrets = tuple(dict.fromkeys((*log_filter.secrets, api_key)))
        if not found:
            logger.addFilter(log_filter)
