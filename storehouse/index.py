"""The SQLite index: one summary row per execution, derived from the files and rebuilt from them at will.

It answers listing, filtering, sorting, paging and stats without reading execution files. Stats come from
a table that triggers keep up to date on every insert, update and delete, so they cost the same at ten
runs or a million. ``intents`` marks updates between their rename and their index commit: a writer that
dies there leaves the mark, and the next open re-reads just those files. Deleting the index file loses
nothing: the next open rebuilds it from the files.

Concurrency: WAL mode; every process and thread has its own connection. Writes are short ``BEGIN IMMEDIATE``
transactions, and concurrent writers of one process share them (group commit, ``_commit``). The index is
not the durable copy, so commits do not fsync (``synchronous=NORMAL``).

Speed: a page is one SQLite step (the total and the summaries, concatenated in SQL); pages asked for again
come from memory while the project's *generation* (a counter the triggers keep) is unchanged; a deep
``offset`` starts from cached anchors instead of stepping over every row before it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Protocol

import orjson

from .errors import InvalidParameter
from .models import MAX_INT, JSONObject

SCHEMA_VERSION = 9  # 9: the history tables
COMMIT_BATCH = 64  # index writes of concurrent threads committed in one transaction, at most
ANCHOR_EVERY = 500  # a deep offset steps over at most this many index entries after its anchor
MAX_ANCHORED_LISTINGS = 64  # listings whose anchors each process keeps
PAGE_CACHE_BYTES = 16 << 20  # summaries of cached pages each process keeps while their project is unchanged
_GENERATION_SQL = "SELECT coalesce(sum(changes), 0) FROM stats WHERE p = ?"
BUSY_TIMEOUT_MS = 60_000
CHANGES_KEPT = 100_000  # the change log keeps the newest this many changes (of every project)
PRUNE_CHANGES_EVERY = 1024  # ... and drops older ones once every this many

# What a row adds to its project's stats, and what it takes away (the update trigger does both).
_ADD_NEW = """    INSERT INTO stats VALUES(new.p, new.status, 1, new.cost_nanos, new.tokens_in, new.tokens_out,
                             new.tokens_total, coalesce(new.duration, 0), new.duration IS NOT NULL, 1, 0)
    ON CONFLICT(p, status) DO UPDATE SET
        n = n + 1, cost_nanos = cost_nanos + excluded.cost_nanos,
        tokens_in = tokens_in + excluded.tokens_in, tokens_out = tokens_out + excluded.tokens_out,
        tokens_total = tokens_total + excluded.tokens_total,
        duration_sum = duration_sum + excluded.duration_sum, duration_n = duration_n + excluded.duration_n,
        changes = changes + 1,
        overflowed = overflowed OR 'real' IN (typeof(cost_nanos + excluded.cost_nanos),
            typeof(tokens_in + excluded.tokens_in), typeof(tokens_out + excluded.tokens_out),
            typeof(tokens_total + excluded.tokens_total), typeof(duration_sum + excluded.duration_sum));"""
_TAKE_OLD = """    UPDATE stats SET
        n = n - 1, cost_nanos = cost_nanos - old.cost_nanos,
        tokens_in = tokens_in - old.tokens_in, tokens_out = tokens_out - old.tokens_out,
        tokens_total = tokens_total - old.tokens_total,
        duration_sum = duration_sum - coalesce(old.duration, 0), duration_n = duration_n - (old.duration IS NOT NULL),
        changes = changes + 1
    WHERE p = old.p AND status = old.status;"""

_SCHEMA = f"""
CREATE TABLE projects(
    p INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);
CREATE TABLE executions(
    p INTEGER NOT NULL,
    id TEXT NOT NULL,
    task_id TEXT,
    status TEXT NOT NULL,
    started_at TEXT NOT NULL,
    duration INTEGER,
    duration_key INTEGER NOT NULL,
    cost REAL NOT NULL,
    cost_nanos INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL,
    tokens_out INTEGER NOT NULL,
    tokens_total INTEGER NOT NULL,
    version INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    summary BLOB NOT NULL,
    name TEXT  -- for search (q): matched by substring, case-insensitively
);
CREATE UNIQUE INDEX executions_id ON executions(p, id);
CREATE INDEX executions_started ON executions(p, started_at, id);
CREATE INDEX executions_status ON executions(p, status, started_at, id);
CREATE INDEX executions_cost ON executions(p, cost, id);
CREATE INDEX executions_duration ON executions(p, duration_key, id);
CREATE INDEX executions_task ON executions(p, task_id, started_at, id);
CREATE INDEX executions_files ON executions(p, id, mtime_ns, size, version);  -- opening compares files from it
CREATE TABLE execution_tags(
    p INTEGER NOT NULL, id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(p, id, tag)
) WITHOUT ROWID;
CREATE INDEX execution_tags_tag ON execution_tags(p, tag, id);
CREATE TABLE invalid_files(
    p INTEGER NOT NULL, id TEXT NOT NULL, mtime_ns INTEGER NOT NULL, size INTEGER NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY(p, id)
) WITHOUT ROWID;
CREATE TABLE intents(p INTEGER NOT NULL, id TEXT NOT NULL, PRIMARY KEY(p, id)) WITHOUT ROWID;
CREATE TABLE stats(
    p INTEGER NOT NULL, status TEXT NOT NULL,
    n INTEGER NOT NULL, cost_nanos INTEGER NOT NULL,
    tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, tokens_total INTEGER NOT NULL,
    duration_sum INTEGER NOT NULL, duration_n INTEGER NOT NULL,
    changes INTEGER NOT NULL,  -- grows on every insert, update and delete: sum over a project = its generation
    overflowed INTEGER NOT NULL DEFAULT 0,  -- a sum once passed 2**63 - 1 (SQLite made it a float): add up exactly
    PRIMARY KEY(p, status)
) WITHOUT ROWID;
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;  -- 'epoch', 'pruned'
CREATE TABLE tasks(
    p INTEGER NOT NULL,  -- the key of '<project>/tasks' (so intents and invalid files never meet executions')
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,  -- 0 critical, 1 high, 2 medium, 3 low
    assigned_to TEXT,
    complexity INTEGER,
    created_at TEXT NOT NULL,
    version INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    summary BLOB NOT NULL
);
CREATE UNIQUE INDEX tasks_id ON tasks(p, id);
CREATE INDEX tasks_status ON tasks(p, status, priority_rank, created_at, id);
CREATE INDEX tasks_order ON tasks(p, priority_rank, created_at, id);
CREATE INDEX tasks_assigned ON tasks(p, assigned_to, priority_rank, created_at, id);
CREATE INDEX tasks_files ON tasks(p, id, mtime_ns, size, version);
CREATE TABLE task_tags(p INTEGER NOT NULL, id TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY(p, id, tag)) WITHOUT ROWID;
CREATE INDEX task_tags_tag ON task_tags(p, tag, id);
CREATE TABLE task_edges(  -- task depends on depends_on; kept from the dependent task's document
    p INTEGER NOT NULL, task TEXT NOT NULL, depends_on TEXT NOT NULL, type TEXT NOT NULL,
    PRIMARY KEY(p, task, depends_on)
) WITHOUT ROWID;
CREATE INDEX task_edges_reverse ON task_edges(p, depends_on, task);
CREATE TRIGGER tasks_insert AFTER INSERT ON tasks BEGIN
    DELETE FROM invalid_files WHERE p = new.p AND id = new.id;
    DELETE FROM intents WHERE p = new.p AND id = new.id;
END;
CREATE TRIGGER tasks_update AFTER UPDATE ON tasks BEGIN
    DELETE FROM task_tags WHERE p = old.p AND id = old.id;
    DELETE FROM task_edges WHERE p = old.p AND task = old.id;
    DELETE FROM intents WHERE p = new.p AND id = new.id;
END;
CREATE TRIGGER tasks_delete AFTER DELETE ON tasks BEGIN
    DELETE FROM task_tags WHERE p = old.p AND id = old.id;
    DELETE FROM task_edges WHERE p = old.p AND task = old.id;
    DELETE FROM intents WHERE p = old.p AND id = old.id;
END;
-- The change log behind the event stream. seq is the rowid: max + 1 for each change, and since pruning drops
-- only the oldest rows (never the newest), it never goes back. No index on p: a follower reads the few rows
-- after its position, and resuming from far back scans at most CHANGES_KEPT rows; every write saves an insert.
CREATE TABLE changes(seq INTEGER PRIMARY KEY, p INTEGER NOT NULL, kind TEXT NOT NULL, data BLOB NOT NULL);
CREATE TRIGGER executions_insert AFTER INSERT ON executions BEGIN
{_ADD_NEW}
    DELETE FROM invalid_files WHERE p = new.p AND id = new.id;
    DELETE FROM intents WHERE p = new.p AND id = new.id;
END;
CREATE TRIGGER executions_update AFTER UPDATE ON executions BEGIN
{_TAKE_OLD}
{_ADD_NEW}
    DELETE FROM execution_tags WHERE p = old.p AND id = old.id;
    DELETE FROM intents WHERE p = new.p AND id = new.id;
END;
CREATE TRIGGER executions_delete AFTER DELETE ON executions BEGIN
{_TAKE_OLD}
    DELETE FROM execution_tags WHERE p = old.p AND id = old.id;
    DELETE FROM intents WHERE p = old.p AND id = old.id;
END;
-- Task history (history_index.py): per log file what was indexed of it, checked against the file on each access,
-- and a row per entry saying where its line lies (no text: reads pread the line). p is the key of
-- '<project>/history'. Each index serves one query shape: the order of a task's entries, the three ranges that
-- retention hides (ids, createdAt, expiresAt), the equality filters in createdAt order, and the project's order.
CREATE TABLE history_logs(
    p INTEGER NOT NULL, task TEXT NOT NULL,
    ino INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    offset INTEGER NOT NULL,  -- bytes of whole lines indexed (a torn last line starts here)
    last_id INTEGER NOT NULL, lines INTEGER NOT NULL, bad INTEGER NOT NULL, rows INTEGER NOT NULL,
    head BLOB NOT NULL, tail BLOB NOT NULL,  -- the bytes at 0 and before offset: unchanged when the file only grew
    PRIMARY KEY(p, task)
) WITHOUT ROWID;
CREATE TABLE history_entries(
    p INTEGER NOT NULL, task TEXT NOT NULL, pos INTEGER NOT NULL, len INTEGER NOT NULL,
    id INTEGER NOT NULL, type TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
    workspace_id TEXT, session_id TEXT, execution_id TEXT,
    PRIMARY KEY(p, task, pos)
) WITHOUT ROWID;
CREATE INDEX history_order ON history_entries(p, task, created_at, id);
CREATE INDEX history_ids ON history_entries(p, task, id);
CREATE INDEX history_expiry ON history_entries(p, task, expires_at);
CREATE INDEX history_types ON history_entries(p, task, type, created_at, id);
CREATE INDEX history_workspaces ON history_entries(p, task, workspace_id, created_at, id);
CREATE INDEX history_sessions ON history_entries(p, task, session_id, created_at, id);
CREATE INDEX history_executions ON history_entries(p, task, execution_id, created_at, id);
CREATE INDEX history_project ON history_entries(p, created_at, task, id);
"""


@dataclass(frozen=True)
class Table:
    """The index tables of one kind of document: its rows (one per file) and their tags.

    Rows are keyed (p, id); each kind has its own project keys, so the intents and invalid-file marks they
    share never meet. Triggers clear a row's tags (and a task's edges) when it changes.
    """

    name: str
    tags: str
    columns: tuple[str, ...]

    @property
    def upsert(self) -> str:
        return (
            f"INSERT INTO {self.name} VALUES ({','.join('?' * len(self.columns))}) ON CONFLICT(p, id) DO UPDATE SET "
            + ", ".join(f"{column} = excluded.{column}" for column in self.columns[2:])
        )

    @property
    def insert_tag(self) -> str:
        return f"INSERT OR IGNORE INTO {self.tags} VALUES (?, ?, ?)"


EXECUTIONS = Table(
    "executions",
    "execution_tags",
    (
        "p",
        "id",
        "task_id",
        "status",
        "started_at",
        "duration",
        "duration_key",
        "cost",
        "cost_nanos",
        "tokens_in",
        "tokens_out",
        "tokens_total",
        "version",
        "mtime_ns",
        "size",
        "summary",
        "name",
    ),
)
TASKS = Table(
    "tasks",
    "task_tags",
    (
        "p",
        "id",
        "status",
        "priority_rank",
        "assigned_to",
        "complexity",
        "created_at",
        "version",
        "mtime_ns",
        "size",
        "summary",
    ),
)

SORTS: dict[str, tuple[str, str]] = {
    "-startedAt": ("started_at", "DESC"),
    "startedAt": ("started_at", "ASC"),
    "-costUSD": ("cost", "DESC"),
    "costUSD": ("cost", "ASC"),
    "-duration": ("duration_key", "DESC"),
    "duration": ("duration_key", "ASC"),
}
_SORT_KEYS: dict[
    str, Callable[[JSONObject], object]
] = {  # the value of a sort column, from a summary (as Row.values computes it from the document)
    "started_at": lambda summary: summary["startedAt"] or "",
    "cost": lambda summary: float(summary["costUSD"]),
    "duration_key": lambda summary: -1 if summary["duration"] is None else summary["duration"],
}
STATUSES = ("pending", "running", "completed", "failed", "cancelled")
PAGE_REPR_ITEMS = 5  # summaries a Page's repr shows


class IndexRow(Protocol):
    """What the index keeps of one document file (``Row`` for executions, ``TaskRow`` for tasks)."""

    @property
    def table(self) -> Table: ...
    @property
    def id(self) -> str: ...
    @property
    def tags(self) -> tuple[str, ...]: ...
    @property
    def summary(self) -> bytes: ...
    def values(self, p: int) -> tuple[object, ...]: ...
    def extra(self, p: int) -> list[tuple[str, list[tuple[object, ...]]]]: ...


@dataclass(frozen=True)
class Row:
    """What the index keeps of one execution file."""

    table: ClassVar[Table] = EXECUTIONS

    id: str
    task_id: str | None
    status: str
    started_at: str
    duration: int | None
    cost: float
    tokens_in: int
    tokens_out: int
    tokens_total: int
    version: int
    mtime_ns: int
    size: int
    summary: bytes
    tags: tuple[str, ...]
    name: str | None = None

    @classmethod
    def from_document(cls, document: JSONObject, summary: JSONObject, stat: os.stat_result) -> Row:
        """Build the row of a validated execution document whose file has the given stat."""
        usage = document["tokenUsage"]
        return cls(
            id=document["id"],
            task_id=document["taskId"],
            status=document["status"],
            started_at=document["startedAt"] or "",
            duration=document["duration"],
            cost=float(document["costUSD"]),
            tokens_in=usage["input"],
            tokens_out=usage["output"],
            tokens_total=usage["total"],
            version=document["version"],
            mtime_ns=stat.st_mtime_ns,
            size=stat.st_size,
            summary=orjson.dumps(summary),
            tags=tuple(dict.fromkeys(document["tags"])),
            name=summary["name"],  # searched by q: as the summary shows it (bounded), not a 16 MiB name
        )

    def extra(self, p: int) -> list[tuple[str, list[tuple[object, ...]]]]:
        return []

    def values(self, p: int) -> tuple[object, ...]:
        duration_key = -1 if self.duration is None else self.duration
        cost_nanos = round(self.cost * 1e9)
        return (
            p,
            self.id,
            self.task_id,
            self.status,
            self.started_at,
            self.duration,
            duration_key,
            self.cost,
            cost_nanos,
            self.tokens_in,
            self.tokens_out,
            self.tokens_total,
            self.version,
            self.mtime_ns,
            self.size,
            self.summary,
            self.name,
        )


class _Ticket:
    """One caller's work in a group commit, and how it ended."""

    def __init__(self, work: Callable[[sqlite3.Connection], object]) -> None:
        self.work = work
        self.settled = threading.Event()  # set when the work is done, or when this caller is to lead
        self.lead = False
        self.finished = False
        self.error: BaseException | None = None

    def settle(self, error: BaseException | None) -> None:
        self.error = error
        self.finished = True
        self.settled.set()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


@dataclass(frozen=True)
class ListQuery:
    """A page request: filters, sort, and either an offset or a cursor (from a previous ``nextCursor``)."""

    statuses: tuple[str, ...] = ()
    task_id: str | None = None
    tag: str | None = None
    started_after: str | None = None
    started_before: str | None = None
    sort: str = "-startedAt"
    limit: int = 50
    offset: int = 0
    cursor: str | None = None
    search: str | None = None  # an id prefix or a name substring, case-insensitive
    # (startedAt, id) bounds on the rows: ``floor`` hides the runs a project's run retention keeps no more (those
    # before it), ``before`` keeps only the runs before it (what a clean-up removes). See ``Index.run_floor``.
    floor: tuple[str, str] | None = None
    before: tuple[str, str] | None = None

    @property
    def filtered(self) -> bool:
        """Whether any filter but retention's floor is given (a delete without one deletes every run)."""
        return bool(
            self.statuses
            or self.task_id is not None
            or self.tag is not None
            or self.started_after is not None
            or self.started_before is not None
            or self.search is not None
            or self.before is not None
        )


@dataclass
class Page:
    """One page of summaries (kept as encoded JSON), the count of all matches, and the cursor of the next page."""

    raw_items: list[bytes]
    total: int
    next_cursor: str | None = None
    _items: list[JSONObject] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        shown = self.items[:PAGE_REPR_ITEMS]
        more = f", ... {len(self.items) - len(shown)} more" if len(self.items) > len(shown) else ""
        items = ", ".join(repr(item) for item in shown) + more
        return f"Page(total={self.total}, next_cursor={self.next_cursor!r}, items=[{items}])"

    @property
    def size(self) -> int:
        """Bytes of the encoded summaries."""
        return sum(map(len, self.raw_items))

    def copy(self) -> Page:
        """A page of the same summaries whose lists the caller may change freely."""
        return Page(list(self.raw_items), self.total, self.next_cursor)

    @property
    def items(self) -> list[JSONObject]:
        """The summaries as dicts."""
        if self._items is None:
            self._items = [orjson.loads(raw) for raw in self.raw_items]
        return self._items


@dataclass(frozen=True)
class Change:
    """One entry of the change log: its sequence number, its kind (``execution.created`` ...) and JSON data."""

    seq: int
    kind: str
    data: bytes


@dataclass(frozen=True)
class FeedState:
    """Where the change log is: its epoch (new with every new index file), newest seq, and pruned-up-to seq."""

    epoch: str
    head: int
    pruned: int


Logged = tuple[int, str, bytes]
"""A change to log with a write: the project key it is of, its kind (``execution.created`` ...), its JSON data."""


def new_epoch() -> str:
    """A fresh random epoch name."""
    return os.urandom(6).hex()


class Index:
    """The index file of one data directory, open in this process (one connection per thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._guard = threading.Lock()
        self._anchors: dict[tuple[int, ListQuery], tuple[int, list[tuple[object, str]]]] = {}
        self._pages: dict[tuple[int, ListQuery], tuple[int, Page]] = {}
        self._pages_bytes = 0
        self._floors: dict[tuple[int, int], tuple[int, tuple[str, str] | None]] = {}
        self._commit_guard = threading.Lock()
        self._commit_queue: list[_Ticket] = []
        self._committing = False
        _EVERY_INDEX.add(self)

    # -- connections and schema ------------------------------------------------------------------------
    def ensure_schema(self) -> bool:
        """Create the schema if the file is new; rebuild the file if it is corrupt or of another version.

        Returns True when the index was (re)created empty. Call it holding ``LockTable.index_exclusive``.
        """
        try:
            connection = self._connect()
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                connection.execute("SELECT count(*) FROM projects").fetchone()
                return False
            tables = connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if version == 0 and tables == 0:
                self._create(connection)
                return True
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise  # locked, I/O error, out of descriptors: not a reason to delete what other processes use
            # not a database, or damaged: it is derived data, so start again
        self.rebuild()
        return True

    def rebuild(self) -> None:
        """Replace the index file with an empty one (it is derived data). Hold ``LockTable.index_exclusive``."""
        self.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")
        with self._guard:
            self._anchors.clear()
            self._pages.clear()
            self._pages_bytes = 0
            self._floors.clear()
        self._create(self._connect())

    def _create(self, connection: sqlite3.Connection) -> None:
        connection.executescript(
            f"BEGIN IMMEDIATE;{_SCHEMA}INSERT INTO meta VALUES ('epoch', '{new_epoch()}'), ('pruned', '0');"
            f"PRAGMA user_version = {SCHEMA_VERSION};COMMIT;"
        )

    def _connect(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            self._close_finished_threads()
            connection = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
            )
            connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            self._local.connection = connection
            with self._guard:
                self._connections.append((threading.current_thread(), connection))
        return connection

    def _close_finished_threads(self) -> None:
        # An agent recording from short-lived threads would otherwise keep a connection (and its file
        # descriptors) per thread it ever ran.
        with self._guard:
            finished = [c for thread, c in self._connections if not thread.is_alive()]
            self._connections = [(t, c) for t, c in self._connections if t.is_alive()]
        for connection in finished:
            connection.close()

    def close(self) -> None:
        """Close every connection this object opened, in every thread."""
        with self._guard:
            connections, self._connections = self._connections, []
        for _, connection in connections:
            connection.close()
        self._local = threading.local()

    def _after_fork_in_child(self) -> None:
        # SQLite connections must not cross a fork: the child forgets (without closing) the parent's.
        self._connections = []
        self._local = threading.local()
        self._guard = threading.Lock()
        self._commit_guard = threading.Lock()
        self._commit_queue = []
        self._committing = False

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:  # SQLite may have rolled back already (SQLITE_FULL, IOERR)
                connection.execute("ROLLBACK")
            raise

    def _commit(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """Run work in a write transaction, sharing the transaction with other threads of this process.

        Group commit: threads that arrive while a transaction is being committed queue their work, and the
        next leader commits the whole queue in one transaction, so eight concurrent writers pay for one or
        two commits rather than eight, and queue on a thread lock rather than on SQLite's busy handler
        (which sleeps for milliseconds). If a shared transaction fails, each work runs again alone, so one
        failure fails only its own caller.
        """
        ticket = _Ticket(work)
        with self._commit_guard:
            self._commit_queue.append(ticket)
            leader = not self._committing
            self._committing = True
        if not leader:
            try:
                ticket.settled.wait()
            except BaseException:  # interrupted (a signal handler raised): leave the queue, or pass the lead on
                with self._commit_guard:
                    leading = ticket.lead  # the lead is handed to the ticket at the head of the queue
                    if ticket in self._commit_queue:  # not yet in a batch: it will not run
                        self._commit_queue.remove(ticket)
                if leading:
                    self._pass_the_lead()
                raise
            if not ticket.lead:
                ticket.raise_error()
                return
        while True:
            with self._commit_guard:
                batch, self._commit_queue = self._commit_queue[:COMMIT_BATCH], self._commit_queue[COMMIT_BATCH:]
                if not batch:
                    self._committing = False
                    return
            try:
                self._commit_batch(batch)
            except BaseException as exc:  # KeyboardInterrupt and the like: nobody may wait forever
                for waiting in batch:
                    if not waiting.finished:
                        waiting.settle(exc)
            if ticket.finished:
                self._pass_the_lead()
                ticket.raise_error()
                return

    def _pass_the_lead(self) -> None:
        with self._commit_guard:
            if not self._commit_queue:
                self._committing = False
            else:  # the next waiter leads, rather than keep this caller from returning
                self._commit_queue[0].lead = True
                self._commit_queue[0].settled.set()

    def _commit_batch(self, batch: list[_Ticket]) -> None:
        try:
            with self._write() as connection:
                for ticket in batch:
                    ticket.work(connection)
        except Exception as exc:
            failure: Exception | None = exc
        else:
            failure = None
        if failure is None:
            for ticket in batch:
                ticket.settle(None)
        elif len(batch) == 1:
            batch[0].settle(failure)
        else:
            for ticket in batch:  # alone, so that one failure is reported to its own caller only
                self._commit_alone(ticket)

    def _commit_alone(self, ticket: _Ticket) -> None:
        try:
            with self._write() as connection:
                ticket.work(connection)
        except Exception as exc:
            ticket.settle(exc)
        else:
            ticket.settle(None)

    # -- projects --------------------------------------------------------------------------------------
    def project_key(self, name: str) -> int:
        """The integer key of a project, created on first use."""
        connection = self._connect()
        found = connection.execute("SELECT p FROM projects WHERE name = ?", (name,)).fetchone()
        if found:
            return int(found[0])
        with self._write() as connection:
            connection.execute("INSERT OR IGNORE INTO projects(name) VALUES (?)", (name,))
            return int(connection.execute("SELECT p FROM projects WHERE name = ?", (name,)).fetchone()[0])

    def find_project(self, name: str) -> int | None:
        """The key of a project the index knows, or None."""
        found = self._connect().execute("SELECT p FROM projects WHERE name = ?", (name,)).fetchone()
        return None if found is None else int(found[0])

    # -- writes ----------------------------------------------------------------------------------------
    def add_intent(self, p: int, item: str) -> None:
        """Mark an update as in flight: if this process dies before ``upsert``, the next open re-reads item."""
        self._commit(lambda connection: connection.execute("INSERT OR IGNORE INTO intents VALUES (?, ?)", (p, item)))

    def drop_intent(self, p: int, item: str) -> None:
        """Forget a mark made with ``add_intent`` (the work it guarded is done)."""
        self._commit(lambda connection: connection.execute("DELETE FROM intents WHERE p = ? AND id = ?", (p, item)))

    def upsert(self, p: int, row: IndexRow, change: Logged | None = None) -> None:
        """Store row (replacing the old one) and clear its intent; log change (p, kind, data) in the same commit."""

        def work(connection: sqlite3.Connection) -> None:
            self._put(connection, p, row)
            if change is not None:
                self._log_change(connection, *change)

        self._commit(work)

    def remove(self, p: int, item: str, change: Logged | None = None, table: Table = EXECUTIONS) -> None:
        """Drop item's row (and intent); log change (p, kind, data) in the same commit."""

        def work(connection: sqlite3.Connection) -> None:
            self._drop(connection, p, item, table)
            if change is not None:
                self._log_change(connection, *change)

        self._commit(work)

    def read(self) -> sqlite3.Connection:
        """This thread's connection, for queries of other modules (``task_index``); never for writes."""
        return self._connect()

    def commit(self, work: Callable[[sqlite3.Connection], object]) -> None:
        """Run work(connection) in a write transaction shared with other threads' (group commit), for the
        tables of other modules (``history_index``). Work may run twice (alone, after a shared transaction
        failed), so it must not keep state across runs; its errors reach its caller only."""
        self._commit(work)

    def log_change(self, p: int, kind: str, data: bytes) -> None:
        """Add a change (kind, JSON object data) to the change log."""
        self._commit(lambda connection: self._log_change(connection, p, kind, data))

    def _log_change(self, connection: sqlite3.Connection, p: int, kind: str, data: bytes) -> None:
        seq = connection.execute("INSERT INTO changes(p, kind, data) VALUES (?, ?, ?)", (p, kind, data)).lastrowid
        if seq is not None and seq % PRUNE_CHANGES_EVERY == 0 and seq > CHANGES_KEPT:
            connection.execute("DELETE FROM changes WHERE seq <= ?", (seq - CHANGES_KEPT,))
            connection.execute("UPDATE meta SET value = ? WHERE key = 'pruned'", (str(seq - CHANGES_KEPT),))

    def apply(
        self,
        p: int,
        rows: Iterable[IndexRow],
        invalid: Iterable[tuple[str, int, int, str]],
        removed: Iterable[str],
        table: Table = EXECUTIONS,
    ) -> None:
        """Bring many rows in step with the files in one transaction (used by reconcile and reindex)."""
        with self._write() as connection:
            for item in removed:
                self._drop(connection, p, item, table)
            for row in rows:
                self._put(connection, p, row)
            for item, mtime_ns, size, reason in invalid:
                self._drop(connection, p, item, table)
                connection.execute(
                    "INSERT INTO invalid_files VALUES (?, ?, ?, ?, ?)", (p, item, mtime_ns, size, reason)
                )

    def clear_project(self, p: int, table: Table = EXECUTIONS) -> None:
        """Forget every row of a project (before a rebuild)."""
        with self._write() as connection:
            for name in (
                table.name,
                table.tags,
                "invalid_files",
                "intents",
                *(("task_edges",) if table is TASKS else ()),
            ):
                connection.execute(f"DELETE FROM {name} WHERE p = ?", (p,))
            # zero the stats rather than delete them: their ``changes`` must keep growing (see ``generation``)
            connection.execute(
                "UPDATE stats SET n = 0, cost_nanos = 0, tokens_in = 0, tokens_out = 0, tokens_total = 0, "
                "duration_sum = 0, duration_n = 0, changes = changes + 1, overflowed = 0 WHERE p = ?",
                (p,),
            )

    def _put(self, connection: sqlite3.Connection, p: int, row: IndexRow) -> None:
        # The triggers keep stats and the generation, drop the old tags, and clear the intent and any
        # invalid-file mark, so a new row costs one statement (two with tags).
        connection.execute(row.table.upsert, row.values(p))
        if row.tags:
            connection.executemany(row.table.insert_tag, [(p, row.id, tag) for tag in row.tags])
        for sql, values in row.extra(p):
            connection.executemany(sql, values)

    def _drop(self, connection: sqlite3.Connection, p: int, item: str, table: Table = EXECUTIONS) -> None:
        connection.execute(f"DELETE FROM {table.name} WHERE p = ? AND id = ?", (p, item))
        connection.execute("DELETE FROM invalid_files WHERE p = ? AND id = ?", (p, item))
        connection.execute("DELETE FROM intents WHERE p = ? AND id = ?", (p, item))

    # -- reads -----------------------------------------------------------------------------------------
    def known_files(self, p: int, table: Table = EXECUTIONS) -> dict[str, tuple[int, int, int]]:
        """Every file the index has seen in a project: id -> (mtime_ns, size, version or -1 if invalid)."""
        connection = self._connect()
        known = {
            item: (mtime, size, version)
            for item, mtime, size, version in connection.execute(
                f"SELECT id, mtime_ns, size, version FROM {table.name} INDEXED BY {table.name}_files WHERE p = ?", (p,)
            )
        }
        for item, mtime, size in connection.execute("SELECT id, mtime_ns, size FROM invalid_files WHERE p = ?", (p,)):
            known[item] = (mtime, size, -1)
        return known

    def intents(self, p: int) -> list[str]:
        return [item for (item,) in self._connect().execute("SELECT id FROM intents WHERE p = ?", (p,))]

    def invalid_files(self, p: int) -> list[tuple[str, str]]:
        """Files of a project that did not parse or validate: (id, reason)."""
        query = "SELECT id, reason FROM invalid_files WHERE p = ? ORDER BY id"
        return [(item, reason) for item, reason in self._connect().execute(query, (p,))]

    def summary_of(self, p: int, item: str, table: Table = EXECUTIONS) -> tuple[int, bytes] | None:
        """The indexed version and encoded summary of one document."""
        found = (
            self._connect()
            .execute(f"SELECT version, summary FROM {table.name} WHERE p = ? AND id = ?", (p, item))
            .fetchone()
        )
        return None if found is None else (int(found[0]), bytes(found[1]))

    def changes_after(self, p: int | None, after: int, limit: int) -> tuple[FeedState, list[Change]]:
        """The feed's state and up to limit changes of a project after seq ``after``, from one snapshot."""
        connection = self._connect()
        connection.execute("BEGIN")  # one read snapshot: no change can slip in between the two reads
        try:
            state = self._feed_state(connection)
            rows = (
                []
                if p is None
                else connection.execute(
                    "SELECT seq, kind, data FROM changes WHERE seq > ? AND p = ? ORDER BY seq LIMIT ?",
                    (after, p, limit),
                ).fetchall()
            )
        finally:
            connection.execute("COMMIT")
        return state, [Change(int(seq), str(kind), bytes(data)) for seq, kind, data in rows]

    def feed_state(self) -> FeedState:
        """The change log's epoch, newest seq and the seq up to which it was pruned."""
        return self._feed_state(self._connect())

    def _feed_state(self, connection: sqlite3.Connection) -> FeedState:
        meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
        head = connection.execute("SELECT max(seq) FROM changes").fetchone()[0]
        return FeedState(str(meta["epoch"]), int(head or meta["pruned"]), int(meta["pruned"]))

    def new_epoch(self) -> None:
        """Start a new epoch (a copy of the index must not pass for the original in event ids)."""
        with self._write() as connection:
            connection.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (new_epoch(),))

    def generation(self, p: int) -> int:
        """A number that grows whenever any row of the project changes, in any process."""
        return self._generation(self._connect(), p)

    def count(self, p: int) -> int:
        found = self._connect().execute("SELECT coalesce(sum(n), 0) FROM stats WHERE p = ?", (p,)).fetchone()
        return int(found[0])

    def cost(self, p: int) -> float:
        """The total cost in USD of a project's executions (exact to the nano-dollar, as ``stats``)."""
        # added up here, not by sum(): a project's statuses may add up past 2**63 - 1, where SQLite's sum() raises
        rows = self._connect().execute("SELECT cost_nanos FROM stats WHERE p = ?", (p,)).fetchall()
        return float(sum(nanos for (nanos,) in rows)) / 1e9

    def rows(self, p: int, table: Table) -> int:
        """How many documents of a kind a project holds."""
        return int(self._connect().execute(f"SELECT count(*) FROM {table.name} WHERE p = ?", (p,)).fetchone()[0])

    def daily(
        self, p: int, since: str, until: str, floor: tuple[str, str] | None = None
    ) -> tuple[list[tuple[str, str, int, int, int]], list[tuple[str, int]]]:
        """Runs started in [since, until), by day: (day, status, runs, cost in nano-dollars, tokens) rows, and
        (day, duration) pairs sorted by day then duration (for percentiles). One range scan of the start index.

        The sums are exact Python integers however large: SQLite's sum() raises on passing 2**63 - 1 (ten runs
        of the highest cost do), so each column is added up in two halves, its high and its low 32 bits, which
        cannot overflow before 2**31 rows (tests/test_daily.py::test_daily_sums_past_64_bits_are_exact).
        """
        connection = self._connect()
        shown, bound = ("", ()) if floor is None else (" AND (started_at, id) >= (?, ?)", floor)
        connection.execute("BEGIN")  # both from one snapshot
        try:
            found = connection.execute(
                "SELECT substr(started_at, 1, 10) AS day, status, count(*), "
                "sum(cost_nanos >> 32), sum(cost_nanos & 4294967295), "
                "sum(tokens_total >> 32), sum(tokens_total & 4294967295) "
                f"FROM executions WHERE p = ? AND started_at >= ? AND started_at < ?{shown} GROUP BY day, status",
                (p, since, until, *bound),
            ).fetchall()
            counts = [
                (day, status, runs, (cost_high << 32) + cost_low, (tokens_high << 32) + tokens_low)
                for day, status, runs, cost_high, cost_low, tokens_high, tokens_low in found
            ]
            durations = connection.execute(
                "SELECT substr(started_at, 1, 10) AS day, duration FROM executions "
                f"WHERE p = ? AND started_at >= ? AND started_at < ? AND duration IS NOT NULL{shown} "
                "ORDER BY day, duration",
                (p, since, until, *bound),
            ).fetchall()
        finally:
            connection.execute("COMMIT")
        return counts, durations

    def last_started(self, p: int) -> str | None:
        query = "SELECT max(started_at) FROM executions WHERE p = ?"
        found = self._connect().execute(query, (p,)).fetchone()
        return found[0] or None

    def page(self, p: int, query: ListQuery) -> Page:
        """One page of summaries; ``total`` counts every match. Uses the indexes, never the files.

        Pages asked for again are answered from memory while the project's generation stays the same (it
        grows with every change, in any process), at the cost of reading that number: a dashboard polling the
        newest runs costs microseconds per poll. A deep ``offset`` starts from the nearest anchor (see
        ``_anchor``) instead of stepping over every row before it.
        """
        connection = self._connect()
        listing = (p, query)
        with self._guard:
            cached = self._pages.get(listing)
        if cached is not None and cached[0] == self._generation(connection, p):
            return cached[1].copy()
        generation, page = self._read_page(connection, p, query)
        with self._guard:
            self._forget_page(listing)
            while self._pages and self._pages_bytes + page.size > PAGE_CACHE_BYTES:
                self._forget_page(next(iter(self._pages)))  # the pages cached longest ago go first
            if page.size <= PAGE_CACHE_BYTES:
                self._pages[listing] = (generation, page)
                self._pages_bytes += page.size
        return page.copy()

    def _forget_page(self, listing: tuple[int, ListQuery]) -> None:
        gone = self._pages.pop(listing, None)
        if gone is not None:
            self._pages_bytes -= gone[1].size

    def _generation(self, connection: sqlite3.Connection, p: int) -> int:
        return int(connection.execute(_GENERATION_SQL, (p,)).fetchone()[0])

    def _read_page(self, connection: sqlite3.Connection, p: int, query: ListQuery) -> tuple[int, Page]:
        column, direction = SORTS[query.sort]
        where, params = self._filters(p, query)
        total_sql, total_params = self._total_sql(p, query, where, params)
        page_where, page_params = list(where), list(params)
        after = "<" if direction == "DESC" else ">"
        offset = query.offset
        deep = query.cursor is None and offset >= ANCHOR_EVERY
        if deep:
            connection.execute("BEGIN")  # the anchors, the total and the page from one snapshot
        try:
            if query.cursor is not None:
                key, last_id = decode_cursor(query.cursor, query.sort)
                page_where.append(f"({column}, id) {after} (?, ?)")
                page_params += [key, last_id]
            elif deep and (found := self._anchor(connection, p, query, where, params, offset)) is not None:
                anchor, position = found
                page_where.append(f"({column}, id) {after} (?, ?)")
                page_params += list(anchor)
                offset -= position
            # One row holding the generation, the total and the whole page (summaries joined by newlines, which
            # compact JSON never contains): one step of SQLite, so a reader thread lets go of the GIL once per
            # page, not once per row, and all three come from one snapshot.
            sql = (
                f"SELECT ({_GENERATION_SQL}), ({total_sql}), CAST(group_concat(summary, char(10)) AS BLOB) "
                f"FROM (SELECT summary FROM executions WHERE {' AND '.join(page_where)} "
                f"ORDER BY {column} {direction}, id {direction} LIMIT ? OFFSET ?)"
            )
            generation, total, joined = connection.execute(
                sql, [p, *total_params, *page_params, query.limit + 1, offset]
            ).fetchone()
        finally:
            if deep:
                connection.execute("COMMIT")
        rows: list[bytes] = joined.split(b"\n") if joined else []
        next_cursor = None
        if len(rows) > query.limit:  # one row more than the page says whether another page follows
            rows.pop()
            last = orjson.loads(rows[-1])
            next_cursor = encode_cursor(query.sort, _SORT_KEYS[column](last), last["id"])
        return int(generation), Page(rows, int(total), next_cursor)

    def _anchor(
        self,
        connection: sqlite3.Connection,
        p: int,
        query: ListQuery,
        where: list[str],
        params: list[object],
        offset: int,
    ) -> tuple[tuple[object, str], int] | None:
        """The sort key and id of the row just before position ``offset // ANCHOR_EVERY * ANCHOR_EVERY``,
        and that position (None if the listing is shorter than ANCHOR_EVERY); call it in a read transaction.

        Anchors (the key of every ``ANCHOR_EVERY``-th row of a listing) are kept per listing while the
        project's generation stays the same; after a change they are found again, each by stepping over
        ``ANCHOR_EVERY`` index entries from the previous one, only as deep as asked.
        """
        column, direction = SORTS[query.sort]
        generation = self._generation(connection, p)
        # Keyed on the whole query but where the page starts and how long it is, so that every filter (q too, and
        # any added later) selects its own anchors (tests/test_index.py::test_deep_pages_of_a_search_...).
        listing = (p, replace(query, limit=0, offset=0, cursor=None))
        with self._guard:
            cached = self._anchors.get(listing)
        anchors = list(cached[1]) if cached is not None and cached[0] == generation else []
        wanted = offset // ANCHOR_EVERY
        after = "<" if direction == "DESC" else ">"
        while len(anchors) < wanted:
            step_where, step_params = list(where), list(params)
            if anchors:
                step_where.append(f"({column}, id) {after} (?, ?)")
                step_params += list(anchors[-1])
            found = connection.execute(
                f"SELECT {column}, id FROM executions WHERE {' AND '.join(step_where)} "
                f"ORDER BY {column} {direction}, id {direction} LIMIT 1 OFFSET ?",
                [*step_params, ANCHOR_EVERY - 1],
            ).fetchone()
            if found is None:  # the listing ends before offset: the page is empty either way
                break
            anchors.append((found[0], found[1]))
        with self._guard:
            if len(self._anchors) >= MAX_ANCHORED_LISTINGS and listing not in self._anchors:
                self._anchors.pop(next(iter(self._anchors)))  # the oldest listing goes
            self._anchors[listing] = (generation, anchors)
        if not anchors:
            return None
        depth = min(wanted, len(anchors))
        return anchors[depth - 1], depth * ANCHOR_EVERY

    def _total_sql(self, p: int, query: ListQuery, where: list[str], params: list[object]) -> tuple[str, list[object]]:
        if (
            query.task_id is None
            and query.tag is None
            and query.started_after is None
            and query.started_before is None
            and query.search is None
            and query.before is None
        ):
            # status alone (or nothing): the stats table already holds the counts, less the runs below the floor
            # (a range of the start index, as few as the clean-up left: it removes them in the background)
            statuses = query.statuses or STATUSES
            marks = ",".join("?" * len(statuses))
            sql = f"SELECT coalesce(sum(n), 0) FROM stats WHERE p = ? AND status IN ({marks})"
            if query.floor is None:
                return sql, [p, *statuses]
            hidden = (
                f"SELECT count(*) FROM executions WHERE p = ? AND (started_at, id) < (?, ?) AND status IN ({marks})"
            )
            return f"({sql}) - ({hidden})", [p, *statuses, p, *query.floor, *statuses]
        return f"SELECT count(*) FROM executions WHERE {' AND '.join(where)}", list(params)

    def _filters(self, p: int, query: ListQuery) -> tuple[list[str], list[object]]:
        where: list[str] = ["p = ?"]
        params: list[object] = [p]
        if len(query.statuses) == 1:
            # "status = ?", not "status IN (?)": with IN, SQLite walks the status index from its top to a keyset
            # bound instead of seeking to it (a page deep by cursor at 1,000,000 runs: 5.7 ms against 0.04 ms)
            where.append("status = ?")
            params.append(query.statuses[0])
        elif query.statuses:
            where.append(f"status IN ({','.join('?' * len(query.statuses))})")
            params += query.statuses
        if query.task_id is not None:
            where.append("task_id = ?")
            params.append(query.task_id)
        if query.started_after is not None:
            where.append("started_at >= ?")
            params.append(query.started_after)
        if query.started_before is not None:
            where.append("started_at < ?")
            params.append(query.started_before)
        if query.tag is not None:
            where.append("id IN (SELECT id FROM execution_tags WHERE p = ? AND tag = ?)")
            params += [p, query.tag]
        if query.search is not None:
            # an id prefix or a name substring, both case-insensitive for ASCII letters (as SQLite's LIKE and
            # lower() are): no index serves it, so it scans the rows that match the other filters (80-170 ms at
            # 100,000 runs, README "Performance"; an FTS5 trigram index on names is the known fix)
            pattern = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("(id LIKE ? ESCAPE '\\' OR instr(lower(name), lower(?)) > 0)")
            params += [pattern + "%", query.search]
        if query.floor is not None:
            where.append("(started_at, id) >= (?, ?)")
            params += query.floor
        if query.before is not None:
            where.append("(started_at, id) < (?, ?)")
            params += query.before
        return where, params

    def matching_ids(self, p: int, query: ListQuery) -> list[str]:
        """The ids of every run the query's filters match (its sort and page aside)."""
        where, params = self._filters(p, query)
        sql = f"SELECT id FROM executions WHERE {' AND '.join(where)}"
        return [str(item) for (item,) in self._connect().execute(sql, params)]

    def matches(self, p: int, query: ListQuery, item: str) -> bool:
        """Whether the query's filters match the run item as indexed now."""
        where, params = self._filters(p, query)
        sql = f"SELECT 1 FROM executions WHERE {' AND '.join(where)} AND id = ?"
        return self._connect().execute(sql, [*params, item]).fetchone() is not None

    def run_floor(self, p: int, cutoff: str | None, keep: int | None) -> tuple[str, str] | None:
        """The (startedAt, id) below which a project's runs are hidden by its run retention, or None (none is):
        runs started before ``cutoff`` are past the ttl, and only the newest ``keep`` by (startedAt, id) stay.

        The ttl's floor is the first row at or after cutoff, not cutoff itself, so that the floor (and the pages
        cached under it) stays the same while no run crosses it. The cap's floor is the keep-th newest row, found
        by stepping over ``keep`` index entries once per generation of the project (cached, like anchors).
        """
        connection = self._connect()
        floors: list[tuple[str, str]] = []
        if cutoff is not None:
            found = connection.execute(
                "SELECT started_at, id FROM executions WHERE p = ? AND started_at >= ? ORDER BY started_at, id LIMIT 1",
                (p, cutoff),
            ).fetchone()
            floors.append((str(found[0]), str(found[1])) if found else (cutoff, ""))
        if keep is not None:
            generation = self._generation(connection, p)
            with self._guard:
                cached = self._floors.get((p, keep))
            if cached is not None and cached[0] == generation:
                floor = cached[1]
            else:
                found = connection.execute(
                    "SELECT started_at, id FROM executions WHERE p = ? ORDER BY started_at DESC, id DESC "
                    "LIMIT 1 OFFSET ?",
                    (p, keep - 1),
                ).fetchone()
                floor = (str(found[0]), str(found[1])) if found else None
                with self._guard:
                    if len(self._floors) >= MAX_ANCHORED_LISTINGS:
                        self._floors.pop(next(iter(self._floors)))
                    self._floors[(p, keep)] = (generation, floor)
            if floor is not None:
                floors.append(floor)
        return max(floors) if floors else None

    def stats(self, p: int | None, floor: tuple[str, str] | None = None) -> JSONObject:
        """Counts by status, cost, tokens and durations of a project; O(number of statuses). The sums are exact up
        to 2**63 - 1 and saturate there (never an error, however many runs of the most tokens a project holds).

        With ``floor`` (run retention), the runs below it are left out: their figures are taken away from the
        stats table's, a range of the start index as long as the runs the clean-up has not yet removed."""
        by_status = {status: 0 for status in STATUSES}
        totals = {"cost_nanos": 0, "tokens_in": 0, "tokens_out": 0, "tokens_total": 0, "dur_sum": 0, "dur_n": 0}
        if p is not None:
            query = (
                "SELECT status, n, cost_nanos, tokens_in, tokens_out, tokens_total, duration_sum, duration_n, "
                "overflowed FROM stats WHERE p = ?"
            )
            connection = self._connect()
            if floor is None:  # one statement: its own snapshot
                rows = connection.execute(query, (p,)).fetchall()
            else:
                connection.execute("BEGIN")  # the stats and the hidden runs from one snapshot
                try:
                    rows = connection.execute(query, (p,)).fetchall()
                    if not any(row[-1] for row in rows):
                        rows += self._hidden_stats(connection, p, floor)
                finally:
                    connection.execute("COMMIT")
            if any(row[-1] for row in rows):
                # a sum once passed 2**63 - 1 and SQLite turned it into an inexact float (which stays inexact, or
                # silently wrong, after the big runs go): add the project up exactly, a scan in this rare case only
                query = (
                    "SELECT status, 1, cost_nanos, tokens_in, tokens_out, tokens_total, coalesce(duration, 0), "
                    "duration IS NOT NULL, 0 FROM executions WHERE p = ? AND (started_at, id) >= (?, ?)"
                )
                rows = connection.execute(query, (p, *(floor or ("", "")))).fetchall()
            for status, n, cost, t_in, t_out, t_total, d_sum, d_n, _ in rows:
                by_status[status] = by_status.get(status, 0) + n
                for name, value in zip(totals, (cost, t_in, t_out, t_total, d_sum, d_n), strict=True):
                    totals[name] += value
        total = sum(by_status.values())
        finished = by_status["completed"] + by_status["failed"]
        return {
            "totalExecutions": total,
            **by_status,
            "totalCostUSD": totals["cost_nanos"] / 1e9,
            # exact below 2**63 and saturated there, so every JSON reader of 64-bit integers takes the answer
            "totalTokens": min(totals["tokens_total"], MAX_INT),
            "inputTokens": min(totals["tokens_in"], MAX_INT),
            "outputTokens": min(totals["tokens_out"], MAX_INT),
            "averageCostUSD": round(totals["cost_nanos"] / 1e9 / total, 9) if total else 0.0,
            "averageDuration": min(round(totals["dur_sum"] / totals["dur_n"]), MAX_INT) if totals["dur_n"] else None,
            "totalDuration": min(totals["dur_sum"], MAX_INT),
            "successRate": by_status["completed"] / finished if finished else None,
        }

    def _hidden_stats(self, connection: sqlite3.Connection, p: int, floor: tuple[str, str]) -> list[tuple[object, ...]]:
        """The stats rows of the runs below floor, negated (each column summed in two 32-bit halves, which cannot
        overflow, as in ``daily``)."""
        columns = ("cost_nanos", "tokens_in", "tokens_out", "tokens_total", "coalesce(duration, 0)")
        halves = ", ".join(f"sum({column} >> 32), sum({column} & 4294967295)" for column in columns)
        found = connection.execute(
            f"SELECT status, count(*), {halves}, count(duration) FROM executions "
            "WHERE p = ? AND (started_at, id) < (?, ?) GROUP BY status",
            (p, *floor),
        ).fetchall()
        rows: list[tuple[object, ...]] = []
        for status, n, *sums, with_duration in found:
            totals = [(sums[i] << 32) + sums[i + 1] for i in range(0, len(sums), 2)]
            rows.append((status, -n, *(-total for total in totals), -with_duration, 0))
        return rows


_CORRUPTION = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})


def is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """Tell damage (SQLITE_CORRUPT, SQLITE_NOTADB: rebuild the index) from every other error of SQLite: busy,
    I/O, a value too big (DataError), a constraint (IntegrityError) or a misuse (ProgrammingError) is not a
    reason to delete an index that every process of the data directory is using."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _CORRUPTION


def encode_cursor(sort: str, key: object, last_id: str) -> str:
    """An opaque, URL-safe cursor that resumes a listing after the row (key, last_id)."""
    return base64.urlsafe_b64encode(orjson.dumps([sort, key, last_id])).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[object, str]:
    """The (key, id) a cursor resumes after; InvalidParameter if it is damaged or made for another sort."""
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        made_for, key, last_id = decoded
        if not isinstance(last_id, str) or not isinstance(key, str | int | float) or isinstance(key, bool):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidParameter("cursor is not valid: pass the nextCursor of a previous page unchanged") from None
    if made_for != sort:
        raise InvalidParameter(f"cursor was made for sort={made_for}, not sort={sort}: keep the sort of the first page")
    return key, last_id


_EVERY_INDEX: weakref.WeakSet[Index] = weakref.WeakSet()


def _forget_connections_after_fork() -> None:
    for index in list(_EVERY_INDEX):
        index._after_fork_in_child()


os.register_at_fork(after_in_child=_forget_connections_after_fork)
