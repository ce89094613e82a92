"""Plain HTTP on the feed's port: health, the calls list, and the browser pages.

Called from the WebSocket server's ``process_request`` hook: returning a response answers the
request; returning ``None`` lets a WebSocket handshake go on.
"""

from __future__ import annotations

import email.utils
import json
from http import HTTPStatus
from importlib import resources
from urllib.parse import urlsplit

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json", ".ico": "image/x-icon",
}
PAGES = {"/": "index.html", "/index.html": "index.html", "/wall": "wall.html", "/wall.html": "wall.html"}


def response(status: HTTPStatus, body: bytes, content_type: str):
    """An HTTP response the websockets server sends as is."""
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    ])
    return Response(status.value, status.phrase, headers, body)


def json_response(status: HTTPStatus, obj) -> object:
    """A JSON HTTP response."""
    return response(status, json.dumps(obj).encode(), "application/json")


def web_asset(name: str) -> bytes | None:
    """A file of ``voicemon/web`` (flat folder; no paths outside it)."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    try:
        ref = resources.files("voicemon.web").joinpath(name)
        return ref.read_bytes() if ref.is_file() else None
    except (FileNotFoundError, ModuleNotFoundError, OSError):
        return None


def route(server, connection, request):
    """Answer a request, or return ``None`` for an accepted WebSocket handshake.

    The pages and their static files hold no call data and are served without a token (a
    browser cannot add one to ``<script src>``); they pass the page's ``?token=`` on to
    ``/api/calls`` and ``/watch``, which require it.
    """
    path = urlsplit(request.path).path
    upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
    if path == "/healthz":
        return json_response(HTTPStatus.OK, server.health())
    from voicemon.server.app import WS_PATHS

    if path in WS_PATHS:
        if not upgrade:
            return json_response(HTTPStatus.UPGRADE_REQUIRED, {"error": "bad_request", "message": f"{path} is a WebSocket endpoint"})
        if not server.origin_allowed(request):
            return json_response(HTTPStatus.FORBIDDEN, {"error": "forbidden_origin",
                                                        "message": f"origin {request.headers.get('Origin')} is not allowed"})
        # Twilio cannot add headers or query strings: its token comes in the start message.
        if path != "/twilio" and not server.check_token(request):
            return json_response(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized", "message": "missing or wrong token"})
        return None
    if path == "/api/calls":
        if not server.check_token(request):
            return json_response(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized", "message": "missing or wrong token"})
        server.hub.expire()
        return json_response(HTTPStatus.OK, {"calls": server.hub.summary()})
    name = PAGES.get(path) or (path[len("/static/"):] if path.startswith("/static/") else None)
    body = web_asset(name) if name else None
    if body is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": f"no such page: {path}"})
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return response(HTTPStatus.OK, body, CONTENT_TYPES.get(suffix, "application/octet-stream"))
