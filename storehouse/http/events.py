"""``GET /api/projects/{projectId}/events``: a project's changes as Server-Sent Events (sse-starlette).

The stream opens with a ``ready`` event whose id is the position it follows from (so a browser that
reconnects before any change still resumes from there), or a ``reset`` event when the ``Last-Event-ID`` it
was given cannot be resumed. Then one event per change, ``event:`` its type and ``data:`` its JSON, with
an id to resume from: a client that reconnects with ``Last-Event-ID`` gets exactly the changes it missed.
A comment line every ``PING_SECONDS`` keeps proxies from closing a quiet stream. A stream counts against
``--max-streams`` (and ``--max-streams-per-peer``), not against the connections that answer requests.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator

import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from ..changes import ChangeBatch
from ..errors import ServiceUnavailable
from ..store import AsyncStorehouse
from .executions import route
from .params import QueryParameter, parse_query
from .protocol import STREAM_EXTENSION

PING_SECONDS = 15
EVENT_PARAMETERS = (
    QueryParameter(
        "lastEventId",
        {"type": "string", "example": "3f2a9c01b7e4-1234"},
        "resume after this event id (the Last-Event-ID header does the same and wins)",
    ),
)


async def follow(request: Request) -> Response:
    values = parse_query(request, EVENT_PARAMETERS)
    _claim_stream(request)
    after = request.headers.get("last-event-id") or values.get("lastEventId") or None
    store: AsyncStorehouse = request.app.state.store
    project = request.path_params["projectId"]
    updates = store.watch(project, after)
    first = await anext(updates)  # a bad project id or event id is a 400 here, before the stream starts
    return _EventStream(
        _events(after, first, updates),
        ping=PING_SECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _claim_stream(request: Request) -> None:
    """Count this request against the server's event streams instead of its request slots (see
    ``storehouse.http.protocol``); ServiceUnavailable (503, ``Retry-After: 5``) when the streams are all taken,
    in all or from this address. Under another server (or in-process tests) there is nothing to claim."""
    extension = request.scope.get("extensions", {}).get(STREAM_EXTENSION, {})
    claim = extension.get("claim")
    refusal = claim() if callable(claim) else None
    if refusal is not None:
        raise ServiceUnavailable(f"{refusal}; close a stream or retry in a moment", retry_after=5)


async def _events(
    after: str | None, first: ChangeBatch, updates: AsyncGenerator[ChangeBatch, None]
) -> AsyncIterator[ServerSentEvent]:
    try:
        position = first.last_id if first.reset or after is None else after
        opening = {"lastEventId": position, **({"reason": first.reset} if first.reset else {})}
        yield ServerSentEvent(orjson.dumps(opening).decode(), event="reset" if first.reset else "ready", id=position)
        batch = first
        while True:
            for change in batch.events:
                yield ServerSentEvent(change.raw.decode(), event=change.type, id=change.id)
            batch = await anext(updates)
            if batch.reset:
                yield ServerSentEvent(
                    orjson.dumps({"lastEventId": batch.last_id, "reason": batch.reset}).decode(),
                    event="reset",
                    id=batch.last_id,
                )
    finally:
        await updates.aclose()


class _EventStream(EventSourceResponse):
    """sse-starlette's response, ending the body properly when the server shuts down.

    On shutdown sse-starlette cancels the stream without the last, empty body message, so the client sees a
    broken chunked body and uvicorn logs "ASGI callable returned without completing response". Here the
    stream ends cleanly instead, and an EventSource reconnects with its Last-Event-ID as it should.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ended = False

        async def send_noting_the_end(message: Message) -> None:
            nonlocal ended
            ended = ended or (message["type"] == "http.response.body" and not message.get("more_body", False))
            await send(message)

        await super().__call__(scope, receive, send_noting_the_end)
        if not ended:
            with contextlib.suppress(OSError, RuntimeError):  # the client may be gone already
                await send({"type": "http.response.body", "body": b"", "more_body": False})


ROUTES = [route("/api/projects/{projectId}/events", GET=follow)]
