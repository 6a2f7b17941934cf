"""Who may use the app, and the headers every answer carries.

* :class:`SecurityHeaders` adds a Content-Security-Policy (nothing but the app's own
  resources: no inline script, no inline style, no frames), ``X-Content-Type-Options:
  nosniff``, ``Referrer-Policy: no-referrer`` (a click on an article's original URL does not
  tell the portal what was searched) and ``X-Frame-Options: DENY`` to every answer, errors
  included.
* :class:`TokenGate` lets a request through only with the token: ``Authorization: Bearer
  TOKEN``, or the cookie that ``/?token=TOKEN`` sets (the app then redirects to the same page
  without the token, so it stays out of the address bar, the history and the logs).  The
  cookie holds an HMAC of the token, not the token.  Comparisons use
  :func:`hmac.compare_digest`.
* :class:`LoopbackHostOnly` (the app without a token, on loopback) answers only requests whose
  ``Host`` names a loopback address: a web page elsewhere cannot reach the app through a name
  of its own that resolves to 127.0.0.1 (DNS rebinding) and read the store.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from urllib.parse import urlencode

from starlette.datastructures import URL, Headers, MutableHeaders, QueryParams
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The environment variable that holds the token.
TOKEN_ENV = "PORTALNEWS_WEB_TOKEN"
COOKIE = "portalnews_token"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and the loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def cookie_value(token: str) -> str:
    """What the cookie holds: an HMAC of the token (the token itself never leaves in a cookie)."""
    return hmac.new(token.encode("utf-8"), b"portalnews web session", hashlib.sha256).hexdigest()


class SecurityHeaders:
    """ASGI middleware: the security headers on every HTTP answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def host_of(header: str) -> str:
    """The host part of a ``Host`` header: ``[::1]:8080`` -> ``::1``, ``localhost:80`` -> ``localhost``."""
    header = header.strip()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


class LoopbackHostOnly:
    """ASGI middleware: a request whose ``Host`` is not a loopback address is refused (400)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not is_loopback(host_of(Headers(scope=scope).get("host", ""))):
            response = PlainTextResponse("portalnews web: this server answers only to a loopback address in the Host "
                                         "header (127.0.0.1, localhost, [::1]); set PORTALNEWS_WEB_TOKEN and --host "
                                         "to serve other names.\n", status_code=400)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class TokenGate:
    """ASGI middleware: every request needs the token (when the app has one)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        if not token:
            raise ValueError("TokenGate needs a token")
        self.app = app
        self._token = token.encode("utf-8")
        self._cookie = cookie_value(token).encode("ascii")

    def _has_token(self, headers: Headers) -> bool:
        auth = headers.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), self._token):
            return True
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and hmac.compare_digest(value.encode("utf-8"), self._cookie):
                return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        params = QueryParams(scope.get("query_string", b""))
        given = params.get("token")
        response: Response
        if given is not None and hmac.compare_digest(given.encode("utf-8"), self._token):
            rest = urlencode([(k, v) for k, v in params.multi_items() if k != "token"])
            path = URL(scope=scope).path
            response = RedirectResponse(f"{path}{'?' + rest if rest else ''}", status_code=303)
            response.set_cookie(COOKIE, cookie_value(self._token.decode("utf-8")), httponly=True,
                                samesite="strict", path="/")
        elif self._has_token(headers):
            await self.app(scope, receive, send)
            return
        elif scope.get("path", "").startswith("/api/"):
            response = JSONResponse({"error": "this server needs a token: Authorization: Bearer TOKEN"},
                                    status_code=401, headers={"WWW-Authenticate": "Bearer"})
        else:
            response = PlainTextResponse(
                "portalnews web: this server needs a token. Open /?token=TOKEN once (it sets a cookie), or send "
                "Authorization: Bearer TOKEN.\n", status_code=401, headers={"WWW-Authenticate": "Bearer"})
        await response(scope, receive, send)
