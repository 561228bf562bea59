"""The change feed: what changed in a project, in order, resumable from an event id (DESIGN section 4, "Live").

Every execution write and delete, and every history append, adds a row to the index's change log in the
same transaction (for executions) or right after the durable append (for history). A row's ``seq`` grows
by one per change, across every process on the data directory, and never goes back, so "the changes after
N" has no gaps and no duplicates. An event id is ``<epoch>-<seq>``; the epoch is new whenever the index
file is new (a rebuild, a backup's copy), so an id from another index is never taken for a position in
this one. A position that cannot be resumed (another epoch, or older than the changes the log still keeps)
gives a *reset*: the reader learns that it missed changes and should reload, rather than missing them
silently.

Cross-process delivery is by polling: ``Ticker`` reads the log's head every ``POLL_SECONDS`` while
someone is waiting (one small query, whoever is waiting), and at once after a write of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from .errors import InvalidParameter
from .index import FeedState
from .models import JSONObject

KINDS = ("execution.created", "execution.updated", "execution.deleted", "history.appended")
POLL_SECONDS = 0.2  # a change made by another process is seen within this (plus a query)
BATCH = 500  # changes read at a time
_EVENT_ID = re.compile(r"([0-9a-f]{1,32})-([0-9]{1,19})")
log = logging.getLogger("storehouse")


@dataclass(frozen=True)
class ChangeEvent:
    """One change: its id (resume after it), its type (one of ``KINDS``) and its data, a JSON object."""

    id: str
    type: str
    raw: bytes

    @property
    def data(self) -> JSONObject:
        value: JSONObject = orjson.loads(self.raw)
        return value


@dataclass(frozen=True)
class ChangeBatch:
    """Changes of a project after a position, oldest first.

    ``last_id`` is where to go on from (the last event's id, or the newest change of any project when this
    batch holds every change of the project up to it). ``reset`` says why the position asked for could not
    be resumed (changes may have been missed: reload what you show); None normally. ``head`` is the id of
    the newest change of any project when the batch was read.
    """

    events: list[ChangeEvent]
    last_id: str
    head: str
    reset: str | None = None


def event_id(epoch: str, seq: int) -> str:
    return f"{epoch}-{seq}"


def parse_event_id(text: str) -> tuple[str, int]:
    """(epoch, seq) of an event id; InvalidParameter when it is not one."""
    found = _EVENT_ID.fullmatch(text.strip())
    if found is None or int(found[2]) >= 1 << 63:
        raise InvalidParameter(
            f"an event id looks like 3f2a9c01b7e4-1234 (from the stream's 'id:' lines); got {text!r}"
        )
    return found[1], int(found[2])


def start(state: FeedState, after: str | None) -> tuple[int, str | None]:
    """Where to read from for a reader that last saw ``after``: (seq, reset reason or None)."""
    if after is None:
        return state.head, None
    epoch, seq = parse_event_id(after)
    if epoch != state.epoch:
        return state.head, "the event id is from another index (it was rebuilt or restored): reload, then go on"
    if seq > state.head:
        return state.head, "the event id is newer than any change here: reload, then go on"
    if seq < state.pruned:
        return state.head, "changes after that event id are no longer kept: reload, then go on"
    return seq, None


class Ticker:
    """Wakes waiters when the change log's head moves: polled every ``interval`` s while anyone waits.

    One poll serves every waiter, so a thousand open streams cost one small query per interval; nobody
    waiting costs nothing. ``poke()`` polls at once (after a write of this process).
    """

    def __init__(self, read_head: Callable[[], Awaitable[str]], interval: float = POLL_SECONDS) -> None:
        self._read_head = read_head
        self.interval = interval
        self._head: str | None = None
        self._moved: asyncio.Event | None = None
        self._poked: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._waiters = 0

    async def wait_past(self, head: str) -> None:
        """Return once the newest change is no longer ``head`` (a new change, or a new epoch)."""
        self._waiters += 1
        try:
            if self._task is None or self._task.done():
                self._moved, self._poked = asyncio.Event(), asyncio.Event()
                self._head = None
                self._task = asyncio.create_task(self._poll(), name="storehouse-changes")
            while self._head in (None, head):
                assert self._moved is not None
                await self._moved.wait()
        finally:
            self._waiters -= 1

    def poke(self) -> None:
        """Poll now rather than at the next interval."""
        if self._poked is not None and self._task is not None and not self._task.done():
            self._poked.set()

    async def _poll(self) -> None:
        assert self._moved is not None
        assert self._poked is not None
        while self._waiters:
            try:
                head = await self._read_head()
            except Exception:  # the index is busy or being rebuilt: try again next interval
                log.exception("could not read the change log")
            else:
                if head != self._head:
                    self._head = head
                    self._moved.set()
                    self._moved = asyncio.Event()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), self.interval)
            self._poked.clear()
