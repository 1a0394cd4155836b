"""The playground: a page at `/` to try voices in a browser, served from the package.

Plain files (`playground/index.html`, `app.js`, `msgpack.js`, `style.css`): no build
step, nothing fetched from elsewhere (the service may run where nothing outside is
reachable). The page itself holds no secret, so it needs no key; it asks for one when
the service does, and uses it on the API calls it makes (see `browser_auth`).
"""

from __future__ import annotations

from importlib.resources import files
from typing import Final

from fastapi import APIRouter
from starlette.responses import Response

router = APIRouter()

_MEDIA_TYPES: Final = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "msgpack.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
ASSET_PREFIX: Final = "/playground/"
PLAYGROUND_PATHS: Final = (
    "/",
    *(ASSET_PREFIX + name for name in _MEDIA_TYPES if name != "index.html"),
)
"""Every path the playground serves (open: no key needed)."""

_SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; "
        "img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def asset(name: str) -> bytes:
    """The bytes of one playground file."""
    return files("orpheus_service.api").joinpath("playground", name).read_bytes()


def _response(name: str) -> Response:
    return Response(asset(name), media_type=_MEDIA_TYPES[name], headers=_SECURITY_HEADERS)


@router.get("/", include_in_schema=False)
async def playground() -> Response:
    """The playground page."""
    return _response("index.html")


@router.get(ASSET_PREFIX + "{name}", include_in_schema=False)
async def playground_asset(name: str) -> Response:
    """A script or stylesheet of the page (only the known files)."""
    if name not in _MEDIA_TYPES or name == "index.html":
        return Response("not found", status_code=404, media_type="text/plain")
    return _response(name)
