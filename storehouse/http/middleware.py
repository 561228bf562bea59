"""Safety checks in front of every route, as pure ASGI middleware.

``HostCheck`` refuses a ``Host`` that is not an allowed name with 403: a server on 127.0.0.1 is still
reachable from a web page through DNS rebinding unless the name is checked. (Starlette's
TrustedHostMiddleware answers 400 in plain text; the product answers 403 in its JSON error form.)
``BearerToken`` asks for ``Authorization: Bearer <token>`` on ``/api`` when a token is configured, and slows
down a peer that keeps sending wrong ones (``WrongTokens``).
``SecurityHeaders`` puts ``X-Content-Type-Options``, a Content-Security-Policy and ``Cross-Origin-Resource-Policy``
on every answer, so other sites can neither frame the page nor load an answer as a script, style or image.
``BodyLimit`` answers 413 to a body over the limit, whether it declares its length or streams it.
``CrossSiteCheck`` refuses (403) requests to ``/api`` that a browser marks as sent by another site.
``BodyBudget`` answers 503 when the bodies being received at once would pass a server-wide number of bytes.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import Forbidden, PayloadTooLarge, ServiceUnavailable, StorehouseError, Unauthorized

log = logging.getLogger("storehouse")


async def send_error(send: Send, error: StorehouseError, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with the JSON form of an error."""
    body = orjson.dumps({"error": {"code": error.code, "message": error.message}})
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class HostCheck:
    """Refuse (403) requests whose Host header is not one of the allowed names; ``*`` allows any."""

    def __init__(self, app: ASGIApp, allowed: frozenset[str]) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        host = (_header(scope, b"host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") and host.count(":") == 1 else host
        if name.startswith("[") and "]:" in name:
            name = name[: name.index("]") + 1]
        if name not in self.allowed:
            shown = host or "(none)"
            message = f"Host {shown!r} is not allowed; use localhost or add the name with --allowed-hosts"
            await send_error(send, Forbidden(message))
            return
        await self.app(scope, receive, send)


class BearerToken:
    """Require ``Authorization: Bearer <token>`` on /api routes (compared in constant time).

    A wrong or missing token is answered 401; past ``wrong_tokens.free`` of them from one peer within a window,
    each further 401 to that peer waits ``wrong_tokens.delay`` seconds, one at a time (see ``WrongTokens``). The
    right token is never delayed, from any peer.
    """

    def __init__(self, app: ASGIApp, token: str, wrong_tokens: WrongTokens | None = None) -> None:
        self.app = app
        self.expected = token.encode()
        self.wrong_tokens = wrong_tokens or WrongTokens()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api"):
            scheme, _, given = (_header(scope, b"authorization") or "").strip().partition(" ")
            # the scheme is case-insensitive (RFC 9110 11.1); the token is compared in constant time
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("latin-1"), self.expected):
                client = scope.get("client")
                await self.wrong_tokens.refused(str(client[0]) if client else "")
                error = Unauthorized("this server needs a token: send the header 'Authorization: Bearer <token>'")
                await send_error(send, error, [(b"www-authenticate", b"Bearer")])
                return
        await self.app(scope, receive, send)


@dataclass
class _Peer:
    since: float
    failures: int = 0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


class WrongTokens:
    """Counts wrong tokens per peer address and slows down a peer that keeps guessing.

    Within ``window`` seconds of its first wrong token a peer gets ``free`` answers at once; every further
    wrong answer waits ``delay`` seconds, and that peer's delayed answers go one at a time, so sending many
    requests at once does not guess faster (at most one guess per ``delay`` per address). The right token
    never passes through here, so it is never delayed, and other peers are not affected. Memory is bounded:
    the table keeps the ``max_peers`` peers seen most recently (~200 bytes each).
    """

    def __init__(
        self,
        free: int = 5,
        window: float = 60.0,
        delay: float = 1.0,
        max_peers: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.free, self.window, self.delay, self.max_peers, self.clock = free, window, delay, max_peers, clock
        self.peers: OrderedDict[str, _Peer] = OrderedDict()

    async def refused(self, peer: str) -> None:
        """Count a wrong token from peer; return at once, or after the delay when the peer is over its budget."""
        now = self.clock()
        entry = self.peers.get(peer)
        if entry is None or now - entry.since >= self.window:
            entry = self.peers[peer] = _Peer(now)
        self.peers.move_to_end(peer)
        while len(self.peers) > self.max_peers:
            self.peers.popitem(last=False)
        entry.failures += 1
        if entry.failures <= self.free:
            return
        if entry.failures == self.free + 1:
            log.warning("%d wrong tokens from %s: slowing its answers down", entry.failures, peer or "(unknown)")
        async with entry.turn:
            await asyncio.sleep(self.delay)


class BodyLimit:
    """Answer 413 when a request body is over ``limit`` bytes, before any of it reaches a route."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.limit:
            await send_error(send, self._too_large())
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is over the limit of {self.limit} bytes (--max-body-bytes)")


# Every answer, error or not: a page or an answer of the API may be framed only by the server's own pages, and
# may run only the server's own scripts (no inline script, no eval). Inline style attributes stay allowed: the
# page sets widths and colours through them, and a style cannot run code.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
)
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),  # frame-ancestors for browsers that predate CSP 2
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """Add ``SECURITY_HEADERS`` to every HTTP answer (a header a route set itself is kept, not doubled).

    ``nosniff`` with ``Cross-Origin-Resource-Policy: same-origin`` keeps another site from loading an answer
    (say the markdown context of a task) with ``<script src>``; the policy's ``frame-ancestors 'self'`` keeps
    it from framing the page (clickjacking). Put it outermost, so the 401, 403 and 413 of the checks carry them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers.extend((key, value) for key, value in SECURITY_HEADERS if key not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _origin(scheme: str, host: str) -> str:
    """``scheme://host`` in lower case, without the scheme's default port (as a browser writes ``Origin``)."""
    scheme, host = scheme.strip().lower(), host.strip().lower()
    return f"{scheme}://{host.removesuffix(_DEFAULT_PORTS.get(scheme, '-'))}"


class CrossSiteCheck:
    """Refuse (403) a request to /api that a browser marks as coming from another site.

    Refused: ``Sec-Fetch-Site: cross-site`` or ``same-site`` (another port or address of this machine is
    another origin too), and an ``Origin`` that is not the server's own (``scheme://Host`` of the request; the
    Host is checked by ``HostCheck`` before this), ``null`` included. Allowed: ``same-origin``, ``none`` (typed
    in the address bar) and requests without those headers (curl, the Python client). So a form post, a
    ``no-cors`` fetch, ``<img>``, ``<object>`` or ``<link rel=prefetch>`` on another site gets the same 403
    whatever the path names: it can neither write nor tell an existing id from a missing one. Costs two header
    lookups per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api"):
            site = (_header(scope, b"sec-fetch-site") or "").strip().lower()
            origin = _header(scope, b"origin")
            own = _origin(str(scope.get("scheme", "http")), _header(scope, b"host") or "")
            if site in ("cross-site", "same-site"):
                refused = f"the browser marks it as sent by another site (Sec-Fetch-Site: {site})"
            elif origin is not None and _origin(*origin.strip().partition("://")[::2]) != own:
                refused = f"it comes from the page of another origin ({origin.strip()[:100]!r}, not {own!r})"
            else:
                await self.app(scope, receive, send)
                return
            message = f"cross-site request refused: {refused}; /api answers only this server's own pages"
            await send_error(send, Forbidden(message))
            return
        await self.app(scope, receive, send)


class BodyBudget:
    """Answer 503 (``Retry-After: 1``) when the request bodies in flight at once would pass ``budget`` bytes.

    A body is in flight from its first byte until its request is answered (it is received, parsed and
    validated in that time). A declared ``Content-Length`` is reserved whole before any byte is read, so the
    503 comes at once and the body is never read; a chunked body is counted as its chunks arrive. This bounds
    the memory that large bodies arriving together can take (``create_app`` sets 4 x ``max_body_bytes``).
    Requests without a body pass untouched; the cost is a counter update per request with a body.
    """

    def __init__(self, app: ASGIApp, budget: int) -> None:
        self.app = app
        self.budget = budget
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = _header(scope, b"content-length") if scope["type"] == "http" else None
        chunked = scope["type"] == "http" and _header(scope, b"transfer-encoding") is not None
        if declared is None and not chunked:
            await self.app(scope, receive, send)
            return
        held = int(declared) if declared is not None and declared.strip().isdigit() else 0
        if self.in_flight + held > self.budget:
            await send_error(send, self._busy(), [(b"retry-after", b"1")])
            return
        self.in_flight += held

        async def counted() -> Message:
            nonlocal held
            message = await receive()
            if message["type"] == "http.request" and declared is None:
                size = len(message.get("body", b""))
                if self.in_flight + size > self.budget:
                    raise self._busy()
                self.in_flight += size
                held += size
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            self.in_flight -= held

    def _busy(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"the server is receiving {self.budget} bytes of request bodies at once, its limit "
            "(4 x --max-body-bytes); retry in a moment"
        )
