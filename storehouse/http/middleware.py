"""Safety checks in front of every route: ``Guard``, one pure ASGI middleware.

It checks the Host (DNS rebinding), refuses cross-site requests to /api, asks for the token, bounds each body
and the bodies in flight together, and puts the security headers on every answer; ``WrongTokens`` slows down a
peer that keeps guessing the token. Its refusals are the product's JSON errors (Starlette's own middlewares
answer in plain text).
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


class Guard:
    """Every check in front of the routes, in the order a request meets them, as one ASGI layer.

    1. ``Host`` must be one of ``allowed`` (``*`` allows any), else 403: a server on 127.0.0.1 is still reachable
       from a web page through DNS rebinding unless the name is checked.
    2. On /api, a request a browser marks as sent by another site is refused with 403: ``Sec-Fetch-Site:
       cross-site`` or ``same-site`` (another port or address of this machine is another origin too), or an
       ``Origin`` that is not the server's own (``scheme://Host``), ``null`` included. Allowed: ``same-origin``,
       ``none`` (typed in the address bar) and requests without those headers (curl, the Python client). So a
       form post, a ``no-cors`` fetch, ``<img>``, ``<object>`` or ``<link rel=prefetch>`` on another site gets
       the same 403 whatever the path names: it can neither write nor tell an existing id from a missing one.
    3. On /api, with a ``token``: ``Authorization: Bearer <token>`` (compared in constant time), else 401; a peer
       that keeps sending wrong ones is slowed down (``WrongTokens``), never the right token.
    4. A body over ``max_body`` bytes is answered 413 before any of it reaches a route, whether it declares its
       length or streams it.
    5. The bodies in flight at once (from the first byte until the answer) may not pass ``budget`` bytes, else 503
       with ``Retry-After: 1``: a declared ``Content-Length`` is reserved whole before any byte is read, a
       chunked body is counted as its chunks arrive. This bounds the memory large bodies arriving together take.
    6. Every answer, the refusals above included, carries ``SECURITY_HEADERS``: ``nosniff`` with
       ``Cross-Origin-Resource-Policy: same-origin`` keeps another site from loading an answer with ``<script
       src>``; ``frame-ancestors 'self'`` keeps it from framing the page. A header a route set itself is kept.

    One layer, and the headers made a dict once, because six layers of their own cost 12% of the list
    requests/s (measured with wrk beside the same server without them); together they cost one dict and a few
    lookups per request.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed: frozenset[str] = frozenset({"*"}),
        token: str | None = None,
        max_body: int | None = None,
        budget: int | None = None,
        wrong_tokens: WrongTokens | None = None,
    ) -> None:
        self.app = app
        self.allowed = allowed
        self.expected = token.encode() if token else None
        self.max_body = max_body
        self.budget = budget
        self.in_flight = 0  # bytes of the bodies being received and handled now (5.)
        self.wrong_tokens = wrong_tokens or WrongTokens()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = dict(reversed(scope["headers"]))  # reversed: the first value wins
        send = _secured(send)
        refusal = self._host(headers)
        if refusal is None and scope["path"].startswith("/api"):
            refusal = self._cross_site(scope, headers) or await self._token(scope, headers)
        if refusal is not None:
            await send_error(send, *refusal)
            return
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body: nothing more to check
            return
        await self._with_body(scope, receive, send, _length(declared))

    def _host(self, headers: dict[bytes, bytes]) -> Refusal | None:
        if "*" in self.allowed:
            return None
        host = headers.get(b"host", b"").decode("latin-1").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") and host.count(":") == 1 else host
        if name.startswith("[") and "]:" in name:
            name = name[: name.index("]") + 1]
        if name in self.allowed:
            return None
        shown = host or "(none)"
        return (Forbidden(f"Host {shown!r} is not allowed; use localhost or add the name with --allowed-hosts"),)

    @staticmethod
    def _cross_site(scope: Scope, headers: dict[bytes, bytes]) -> Refusal | None:
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").strip().lower()
        origin = headers.get(b"origin")
        if site in ("cross-site", "same-site"):
            refused = f"the browser marks it as sent by another site (Sec-Fetch-Site: {site})"
        elif origin is not None:
            own = _origin(str(scope.get("scheme", "http")), headers.get(b"host", b"").decode("latin-1"))
            given = origin.decode("latin-1").strip()
            if _origin(*given.partition("://")[::2]) == own:
                return None
            refused = f"it comes from the page of another origin ({given[:100]!r}, not {own!r})"
        else:
            return None
        return (Forbidden(f"cross-site request refused: {refused}; /api answers only this server's own pages"),)

    async def _token(self, scope: Scope, headers: dict[bytes, bytes]) -> Refusal | None:
        if self.expected is None:
            return None
        scheme, _, given = headers.get(b"authorization", b"").decode("latin-1").strip().partition(" ")
        # the scheme is case-insensitive (RFC 9110 11.1); the token is compared in constant time
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("latin-1"), self.expected):
            return None
        client = scope.get("client")
        await self.wrong_tokens.refused(str(client[0]) if client else "")
        if scheme.lower() == "bearer" and given.strip():  # never echo what was sent: it may be a real secret
            error = Unauthorized(
                "the token is wrong: this server needs a token, and the one sent in 'Authorization: Bearer' is not it"
            )
        else:
            error = Unauthorized(
                "no token sent: this server needs a token: send the header 'Authorization: Bearer <token>'"
            )
        return error, [(b"www-authenticate", b"Bearer")]

    async def _with_body(self, scope: Scope, receive: Receive, send: Send, declared: int | None) -> None:
        if self.max_body is not None and declared is not None and declared > self.max_body:
            await send_error(send, self._too_large())
            return
        held = declared or 0
        if self.budget is not None and self.in_flight + held > self.budget:
            await send_error(send, self._busy(), [(b"retry-after", b"1")])
            return
        self.in_flight += held
        received = 0

        async def counted() -> Message:
            nonlocal held, received
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                received += size
                if self.max_body is not None and received > self.max_body:
                    raise self._too_large()
                if declared is None:  # chunked: counted as it arrives
                    if self.budget is not None and self.in_flight + size > self.budget:
                        raise self._busy()
                    self.in_flight += size
                    held += size
            return message

        try:
            await self.app(scope, counted, send)
        finally:
            self.in_flight -= held

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"the request body is over the limit of {self.max_body} bytes (--max-body-bytes)")

    def _busy(self) -> ServiceUnavailable:
        return ServiceUnavailable(
            f"the server is receiving {self.budget} bytes of request bodies at once, its limit "
            "(4 x --max-body-bytes); retry in a moment"
        )


Refusal = tuple[StorehouseError] | tuple[StorehouseError, list[tuple[bytes, bytes]]]


def _length(declared: bytes | None) -> int | None:
    """A declared Content-Length as a number; None when absent or not a number (the server refuses those)."""
    if declared is None:
        return None
    text = declared.strip()
    return int(text) if text.isdigit() else None


def _secured(send: Send) -> Send:
    """``send`` adding ``SECURITY_HEADERS`` to the start of the answer (6.)."""

    async def with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = message.get("headers", ())
            if any(key.lower() in _SECURITY_NAMES for key, _ in headers):  # rare: a route set one itself
                present = {key.lower() for key, _ in headers}
                headers = [*headers, *((key, value) for key, value in SECURITY_HEADERS if key not in present)]
            else:
                headers = [*headers, *SECURITY_HEADERS]
            message = {**message, "headers": headers}
        await send(message)

    return with_headers


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
_SECURITY_NAMES = frozenset(key for key, _ in SECURITY_HEADERS)


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _origin(scheme: str, host: str) -> str:
    """``scheme://host`` in lower case, without the scheme's default port (as a browser writes ``Origin``)."""
    scheme, host = scheme.strip().lower(), host.strip().lower()
    return f"{scheme}://{host.removesuffix(_DEFAULT_PORTS.get(scheme, '-'))}"
