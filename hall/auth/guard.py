"""Request guards: security headers on every response, and cross-site request refusal.

``SecurityHeaders`` (a pure ASGI middleware) adds to every HTTP response:
a Content-Security-Policy without inline script (page data travels in
``<script type="application/json">`` blocks, which are never executed),
``frame-ancestors 'none'``, ``X-Content-Type-Options: nosniff``, a referrer policy
of ``no-referrer`` (a citizen's ticket link must not leak to another site) and
``X-Frame-Options: DENY`` for old browsers.

It also refuses (403 ``cross_site_request``) a state-changing API request
(POST/PUT/PATCH/DELETE under ``/api/``) that
* carries an ``Origin`` of another origin (scheme, host or port differ), or
  ``Sec-Fetch-Site: cross-site``/``same-site`` (another port or a sibling subdomain);
* rides on the session cookie (no ``Authorization`` header) without an ``Origin`` or
  ``Sec-Fetch-Site`` that proves it came from our own pages;
* comes from a browser (no ``Authorization`` header) with a body that is not
  ``application/json`` (a cross-site form can only send ``text/plain``,
  ``multipart/form-data`` or ``application/x-www-form-urlencoded``).
Device and API clients send ``Authorization: Bearer``, which no other site can make a
browser add, so only the Origin and content-type rules apply to them.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "media-src 'self' blob: data:; connect-src 'self'; font-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def cross_site_reason(scope: Scope, cookie_name: str) -> str | None:
    """Why this request must be refused as cross-site, or None when it may go on."""
    if scope["type"] != "http" or scope["method"] not in STATE_CHANGING \
            or not scope["path"].startswith("/api/"):
        return None
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    fetch_site = headers.get("sec-fetch-site")
    host = headers.get("host", "")
    if origin is not None and origin != "null":
        netloc = origin.split("://", 1)[-1].rstrip("/")
        if netloc.lower() != host.lower():
            return f"the request comes from another origin ({origin})"
    elif origin == "null":
        return "the request comes from an opaque origin"
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"the request comes from another site ({fetch_site})"
    bearer = headers.get("authorization", "").lower().startswith("bearer ")
    cookie = f"{cookie_name}=" in headers.get("cookie", "")
    if cookie and not bearer and origin is None and fetch_site is None:
        return "a request signed by the session cookie must come from the hall's own pages"
    if bearer:
        return None  # no other site can make a browser send our bearer token
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    has_body = headers.get("content-length", "0") not in ("0", "") \
        or "transfer-encoding" in headers
    if ((has_body or cookie) and content_type not in ("", "application/json")) \
            or (has_body and content_type == ""):
        return "the body must be sent as application/json"
    return None


class SecurityHeaders:
    def __init__(self, app: ASGIApp, cookie_name: str = "hall_session") -> None:
        self.app = app
        self.cookie_name = cookie_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(h for h in HEADERS if h[0] not in present)]
            await send(message)

        reason = cross_site_reason(scope, self.cookie_name)
        if reason is not None:
            body = json.dumps({"error": {"code": "cross_site_request", "message": reason}})
            await send_with_headers({"type": "http.response.start", "status": 403, "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body.encode()})
            return
        await self.app(scope, receive, send_with_headers)
