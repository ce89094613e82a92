"""Plain HTTP on the feed's port: health, the calls list, and the browser pages.

Called from the WebSocket server's ``process_request`` hook: returning a response answers the
request; returning ``None`` lets a WebSocket handshake go on.
"""

from __future__ import annotations

import email.utils
import json
from http import HTTPStatus
from importlib import resources
from urllib.parse import parse_qs, unquote, urlsplit

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json", ".ico": "image/x-icon",
}
PAGES = {"/": "index.html", "/index.html": "index.html", "/wall": "wall.html", "/wall.html": "wall.html"}
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"),
)
ALLOWED_METHODS = ("GET", "HEAD")
REPORT_CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src 'self' data:; "
              "media-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
"""A report is one self-contained HTML file (inline style and script, no requests of its own)."""
WS_PATHS = ("/ingest", "/twilio", "/watch", "/audiohook", "/audiofork", "/asterisk")
"""The WebSocket endpoints (a request to one of them is left to the handshake)."""


def response(status: HTTPStatus, body: bytes, content_type: str, head: bool = False, extra: tuple = (),
             security: tuple = SECURITY_HEADERS):
    """An HTTP response the websockets server sends as is.

    Args:
        status: the status.
        body: the body (its length is announced; with ``head`` it is not sent).
        content_type: its type.
        head: answer a HEAD request.
        extra: more ``(name, value)`` headers.
    """
    from websockets.datastructures import Headers
    from websockets.http11 import Response

    headers = Headers([
        ("Date", email.utils.formatdate(usegmt=True)),
        ("Connection", "close"),
        ("Content-Length", str(len(body))),
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
        *security,
        *extra,
    ])
    return Response(status.value, status.phrase, headers, b"" if head else body)


def json_response(status: HTTPStatus, obj, head: bool = False, extra: tuple = ()) -> object:
    """A JSON HTTP response."""
    return response(status, json.dumps(obj).encode(), "application/json", head=head, extra=extra)


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

    Malformed requests (a repeated ``Host``, ``Origin`` or ``Authorization`` header) get 400,
    methods other than GET and HEAD get 405, and a HEAD is answered without a body.
    """
    from websockets.datastructures import MultipleValuesError

    head = request.method == "HEAD"
    if request.method not in ALLOWED_METHODS:
        return json_response(HTTPStatus.METHOD_NOT_ALLOWED, {"error": "method_not_allowed",
                                                             "message": "only GET and HEAD are served"},
                             extra=(("Allow", ", ".join(ALLOWED_METHODS)),))
    try:
        return _route(server, request, head)
    except MultipleValuesError as exc:
        return json_response(HTTPStatus.BAD_REQUEST, {"error": "bad_request", "message": f"repeated {exc} header"},
                             head=head)


def _route(server, request, head: bool):
    """:func:`route` for a GET or HEAD.

    The pages and their static files hold no call data and are served without a token (a
    browser cannot add one to ``<script src>``); they pass the page's ``?token=`` on to
    ``/api/calls`` and ``/watch``, which require it. Without a token, requests must name this
    machine in ``Host`` (a DNS-rebinding page cannot).
    """
    for name in ("Host", "Origin", "Authorization", "Upgrade"):
        request.headers.get(name)  # raises MultipleValuesError when repeated
    path = urlsplit(request.path).path
    upgrade = "websocket" in request.headers.get("Upgrade", "").lower()
    if path == "/healthz":
        return json_response(HTTPStatus.OK, server.health(), head=head)
    if not server.host_allowed(request):
        return json_response(HTTPStatus.FORBIDDEN, {"error": "forbidden_host",
                                                    "message": "this Host is not served (see server.allowed_hosts)"},
                             head=head)
    if path in WS_PATHS:
        if not upgrade or head:
            return json_response(HTTPStatus.UPGRADE_REQUIRED, {"error": "bad_request", "message": f"{path} is a WebSocket endpoint"},
                                 head=head)
        if not server.origin_allowed(request):
            return json_response(HTTPStatus.FORBIDDEN, {"error": "forbidden_origin", "message": "this origin is not allowed"})
        # Twilio cannot add headers or query strings: its token comes in the start message.
        # Genesys signs its requests instead (voicemon.server.audiohook).
        if path not in ("/twilio", "/audiohook") and not server.check_token(request):
            return json_response(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized", "message": "missing or wrong token"})
        if not server.connection_slot_free(path):
            return json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "too_many_connections",
                                                                  "message": f"too many connections to {path}"})
        return None
    if path == "/api/calls" or path.startswith(("/api/calls/", "/reports/")):
        if not server.check_token(request):
            return json_response(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized", "message": "missing or wrong token"},
                                 head=head)
        if path.startswith("/reports/"):
            return _report_file(server, unquote(path[len("/reports/"):]), head)
        if path != "/api/calls":
            return _call_report(server, path[len("/api/calls/"):], head)
        return _calls(server, parse_qs(urlsplit(request.path).query), head)
    if path == "/favicon.ico":  # a report page asks for one: answer without a console error
        return response(HTTPStatus.NO_CONTENT, b"", "image/x-icon", head=head)
    name = PAGES.get(path) or (path[len("/static/"):] if path.startswith("/static/") else None)
    body = web_asset(name) if name else None
    if body is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": "no such page"}, head=head)
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    return response(HTTPStatus.OK, body, CONTENT_TYPES.get(suffix, "application/octet-stream"), head=head)


def _calls(server, query: dict, head: bool):
    """``/api/calls``: the hub's calls; ``?ended=1``: ended calls, the hub's and those on disk."""
    from voicemon.server.history import MAX_LISTED, ended_calls
    from voicemon.server.protocol import is_valid_call_id

    agent = (query.get("agent") or [None])[0]
    if agent is not None and not is_valid_call_id(agent):
        return json_response(HTTPStatus.BAD_REQUEST, {"error": "bad_request", "message": "agent must be an agent id"}, head=head)
    limit_text = (query.get("limit") or ["100"])[0]
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LISTED:
        return json_response(HTTPStatus.BAD_REQUEST, {"error": "bad_request", "message": f"limit must be 1-{MAX_LISTED}"},
                             head=head)
    server.hub.expire()
    calls = server.hub.summary(agent_id=agent)
    if (query.get("ended") or ["0"])[0] not in ("1", "true"):
        return json_response(HTTPStatus.OK, {"calls": calls}, head=head)
    recent = sorted((c for c in calls if c["ended"]), key=lambda c: -c["ended_wall"])
    stems = frozenset(e.stem for e in server.hub.calls.values() if e.ended_wall is not None and e.stem)
    older = ended_calls(server.out_dir, int(limit_text), agent, skip=stems)
    return json_response(HTTPStatus.OK, {"calls": (recent + older)[:int(limit_text)]}, head=head)


def _call_report(server, rest: str, head: bool):
    """``/api/calls/<id>/report``: the JSON report of the latest finished call with this id."""
    from voicemon.server.history import latest_report

    call_id, _, tail = rest.partition("/")
    if tail != "report":
        return json_response(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": "no such page"}, head=head)
    entry = server.hub.calls.get(call_id)
    if entry is not None and entry.ended_wall is None:
        return json_response(HTTPStatus.CONFLICT, {"error": "call_live", "message": "this call is still live; its report "
                                                   "is written when it ends"}, head=head)
    path = latest_report(server.out_dir, call_id)
    if path is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": "unknown_call", "message": "no finished call with this id"},
                             head=head)
    return response(HTTPStatus.OK, path.read_bytes(), "application/json", head=head)


def _report_file(server, name: str, head: bool):
    """``/reports/<file>``: a report, JSON report, event log or CSV directly inside ``--out``."""
    from voicemon.server.history import REPORT_TYPES, report_file

    path = report_file(server.out_dir, name)
    if path is None:
        return json_response(HTTPStatus.NOT_FOUND, {"error": "not_found", "message": "no such report"}, head=head)
    security = tuple((k, REPORT_CSP if k == "Content-Security-Policy" else v) for k, v in SECURITY_HEADERS)
    return response(HTTPStatus.OK, path.read_bytes(), REPORT_TYPES[path.suffix], head=head, security=security)
