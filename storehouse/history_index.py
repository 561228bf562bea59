"""The history tables of the index (``history_logs``, ``history_entries``; schema in ``index.py``): where each entry
of each task's log lies, so that a read, a count and an append cost what they return, not what the log holds.

The log files stay the truth; these rows are derived from them and checked against them on every access.
``history_logs`` records per log what was indexed: the file's inode, size and mtime_ns, the offset its whole lines
end at, its newest id (tombstones count), its valid lines, its rows, and its first and last bytes before that
offset. An access compares them with the file (one ``fstat``):

- all equal: the rows are the file's, and the read is served from SQL;
- same inode, at least as long, the same first bytes and the same bytes before the offset: the file only grew
  (an append whose index update a crash cut off, an append by a process without the index, a line added by
  hand), so only the new tail is parsed;
- anything else (compaction, clean-up or delete rewrote it, it was truncated or rewritten by hand, the index is
  new or was deleted): the file is parsed once from the start.

Catching up holds the task's lock (no append runs meanwhile), and its commit is conditional on the log's row
still being what it read, so two processes never undo each other's work. Rows hold no entry text: a page preads
its lines (``pos``, ``len``) through the descriptor whose ``fstat`` matched, inside the SQLite read transaction
that matched it, so a compaction in between cannot mix two files.

A hidden row (beyond the cap, or expired) never shows again: a higher cap or ttl prunes the files first
(``HistoryStore.change_retention``). So hidden rows are deleted from the index (purged) by every append and
catch-up, and by a read that meets more than ``PURGE_AT`` of them. A count is the log's row count less the hidden
rows not yet purged, which three index range scans find: O(log n + PURGE_AT) however long the log. Measured at
100,000 rows, ``count(*)`` over the task's id range took 4.4 ms, and 8.9 ms with the retention filters.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import stat as stat_module
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import astuple, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import orjson

from .fsio import storage_error
from .history import HistoryQuery, LogEnd, Retention, _parse_line, shown
from .index import Index
from .models import JSONObject, format_timestamp, parse_timestamp

T = TypeVar("T")
PURGE_AT = 256  # hidden rows a read steps over before it deletes them from the index
FINGERPRINT = 64  # bytes at the head of a log, and before its indexed offset, that must be unchanged to read a tail
TRIES = 5  # times a read catches up with a log that keeps changing before it leaves the answer to a file scan
Lock = Callable[[str], AbstractContextManager[None]]  # the task's cross-process lock

_LOG_COLUMNS = "ino, size, mtime_ns, offset, last_id, lines, bad, rows, head, tail"
_INSERT_ROW = "INSERT OR REPLACE INTO history_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


@dataclass(frozen=True)
class LogState:
    """What the index holds of one log file (a row of ``history_logs``)."""

    ino: int
    size: int
    mtime_ns: int
    offset: int  # bytes of whole lines; a torn last line starts here
    last_id: int  # the newest id of any line, a tombstone's too: the next entry gets one more
    lines: int  # valid lines (entries and tombstones): compaction counts them
    bad: int  # whole lines that are neither (a file holding one never compacts)
    rows: int  # rows in history_entries (entries not yet purged)
    head: bytes
    tail: bytes

    def matches(self, stat: os.stat_result) -> bool:
        return (self.ino, self.size, self.mtime_ns) == (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    @property
    def end(self) -> LogEnd:
        return LogEnd(self.offset, self.size, self.last_id, self.lines, self.bad)

    @property
    def key(self) -> tuple[int, int, int, int]:
        return self.ino, self.size, self.mtime_ns, self.offset


EMPTY = LogState(0, 0, 0, 0, 0, 0, 0, 0, b"", b"")


@dataclass(frozen=True)
class _Window:
    """What retention leaves visible of a log: ids above ``first_id``, created after ``born_after``, expiring
    after ``now``."""

    born_after: str
    now: str
    cap: int

    @classmethod
    def of(cls, retention: Retention, now: str) -> _Window:
        born_after = format_timestamp(parse_timestamp(now) - timedelta(days=retention.ttl_days))
        return cls(born_after, now, max(retention.max_entries, 0))


class HistoryIndex:
    """The history rows of the shared SQLite index of a data directory (``Index``), for ``HistoryStore``.

    Every method takes a log's path (``path.name`` in ``dir_fd`` when given) and checks the rows against the file
    first. A read returns None when it cannot be answered from the index (the file keeps changing under it, or
    a line changed in place): the caller scans the file. sqlite3.Error reaches the caller.
    """

    def __init__(self, index: Index) -> None:
        self._index = index

    def key(self, project: str) -> int:
        """The project key of a project's history rows (its own, apart from its executions' and tasks')."""
        return self._index.project_key(f"{project}/history")

    # -- under the task's lock ------------------------------------------------------------------------------
    def catch_up(
        self, p: int, task: str, path: Path, retention: Retention, now: str, dir_fd: int | None = None
    ) -> LogState:
        """Bring a log's rows in step with its file and return them (EMPTY without a file); hold the task's lock.

        Costs an ``fstat`` when the rows are current, the new lines when the file only grew, and one parse of the
        whole file (~10 us a line, with the inserts) otherwise.
        """
        for _ in range(TRIES):
            base = self._state(self._index.read(), p, task)
            fd = _open(path, dir_fd)
            if fd is None:
                if base is None or self._store(p, task, base, None, [], True, retention, now) is not None:
                    return EMPTY
                continue
            try:
                stat = os.fstat(fd)
                if base is not None and base.matches(stat):
                    return base
                grown = base is not None and _only_grew(fd, stat, base)
                start = base.offset if base is not None and grown else 0
                raw = _pread(fd, start, stat.st_size - start)
                end = raw.rfind(b"\n") + 1
                state, rows = _parse(p, task, raw[:end], start, base if grown else None)
                head, tail = _fingerprints(fd, state.offset)
            finally:
                os.close(fd)
            state = LogState(stat.st_ino, stat.st_size, stat.st_mtime_ns, state.offset, state.last_id, state.lines,
                             state.bad, state.rows, head, tail)  # fmt: skip
            stored = self._store(p, task, base, state, rows, not grown, retention, now)
            if stored is not None:
                return stored
        raise sqlite3.OperationalError(f"the index of the history {path} keeps changing; try again")

    def appended(
        self,
        p: int,
        task: str,
        base: LogState,
        added: Sequence[JSONObject],
        path: Path,
        retention: Retention,
        now: str,
        dir_fd: int | None = None,
    ) -> bool:
        """Record entries just appended (durably, at ``base.offset``, holding the task's lock) after ``base``.

        Writes only their rows. False when the file is not what base and these lines make (the append compacted
        it, or a hand edit): nothing is recorded, and the caller (or the next access) catches up.
        """
        data = [orjson.dumps(entry) for entry in added]
        size = base.offset + sum(len(line) + 1 for line in data)
        try:
            stat = os.stat(path if dir_fd is None else path.name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            return False
        if stat.st_size != size or (base.ino and stat.st_ino != base.ino):
            return False
        rows, pos = [], base.offset
        for entry, line in zip(added, data, strict=True):
            if len(entry) > 1:
                rows.append(_row(p, task, pos, len(line), entry))
            pos += len(line) + 1
        written = b"\n".join(data) + b"\n"
        head = base.head if len(base.head) >= FINGERPRINT else (base.head + written)[:FINGERPRINT]
        tail = (base.tail + written)[-FINGERPRINT:]
        state = LogState(
            stat.st_ino,
            size,
            stat.st_mtime_ns,
            size,
            max(base.last_id, *(int(entry["id"]) for entry in added)),
            base.lines + len(added),
            base.bad,
            base.rows + len(rows),
            head,
            tail,
        )
        return self._store(p, task, None if base is EMPTY else base, state, rows, False, retention, now) is not None

    # -- reads ----------------------------------------------------------------------------------------------
    def count(
        self, project: str, task: str, path: Path, retention: Retention, now: str, lock: Lock, dir_fd: int | None = None
    ) -> int | None:
        """How many entries a read of the log shows in all: its rows less its hidden rows not yet purged."""
        window = _Window.of(retention, now)

        def ask(connection: sqlite3.Connection, fd: int, p: int, state: LogState) -> tuple[int, int]:
            hidden = _hidden(connection, p, task, state, window)
            return state.rows - hidden, hidden

        return self._reading(project, task, path, retention, now, lock, dir_fd, ask, 0)

    def oldest(
        self, project: str, task: str, path: Path, retention: Retention, now: str, lock: Lock, dir_fd: int | None = None
    ) -> tuple[str | None] | None:
        """The createdAt of the log's oldest visible entry (in a 1-tuple; None inside when there is none)."""
        window = _Window.of(retention, now)

        def ask(connection: sqlite3.Connection, fd: int, p: int, state: LogState) -> tuple[tuple[str | None], int]:
            where, params = _visible(p, task, state, window)
            found = connection.execute(
                f"SELECT created_at FROM history_entries INDEXED BY history_order WHERE {where} "
                "ORDER BY created_at LIMIT 1",
                params,
            ).fetchone()
            return (None if found is None else str(found[0]),), 0

        nothing: tuple[str | None] = (None,)
        return self._reading(project, task, path, retention, now, lock, dir_fd, ask, nothing)

    def last_id(self, project: str, task: str, path: Path, retention: Retention, now: str, lock: Lock,
                dir_fd: int | None = None) -> int:  # fmt: skip
        """The id the log has reached (a tombstone's counts); 0 for none. Catches up holding the lock."""
        p = self.key(project)
        with lock(task):
            return self.catch_up(p, task, path, retention, now, dir_fd).last_id

    def page(
        self,
        project: str,
        task: str,
        path: Path,
        retention: Retention,
        query: HistoryQuery,
        now: str,
        lock: Lock,
        dir_fd: int | None = None,
    ) -> tuple[list[JSONObject], int] | None:
        """A page of the log's visible entries matching query (by createdAt, then id) and the number of matches.

        Costs the page's rows (and ``offset``), and for the total the log's hidden rows not yet purged; with a
        filter the total costs the matching rows (through the filter's index).
        """
        window = _Window.of(retention, now)

        def ask(
            connection: sqlite3.Connection, fd: int, p: int, state: LogState
        ) -> tuple[tuple[list[JSONObject], int] | None, int]:
            where, params = _visible(p, task, state, window)
            filters, values = _filters(query)
            index = _index_for(query)
            condition = " AND ".join([where, *filters])
            direction = "ASC" if query.order == "asc" else "DESC"
            found = connection.execute(
                f"SELECT pos, len, id FROM history_entries INDEXED BY {index} WHERE {condition} "
                f"ORDER BY created_at {direction}, id {direction}, pos {direction} LIMIT ? OFFSET ?",
                [*params, *values, query.limit, query.offset],
            ).fetchall()
            hidden = 0
            if filters:
                total = connection.execute(
                    f"SELECT count(*) FROM history_entries INDEXED BY {index} WHERE {condition}", [*params, *values]
                ).fetchone()[0]
            else:
                hidden = _hidden(connection, p, task, state, window)
                total = state.rows - hidden
            entries = _lines_at(fd, found)
            if entries is None:
                return None, 0
            return ([shown(entry, retention) for entry in entries], total), hidden

        empty: tuple[list[JSONObject], int] = ([], 0)
        return self._reading(project, task, path, retention, now, lock, dir_fd, ask, empty)

    def page_all(
        self,
        project: str,
        tasks: list[str],
        path_of: Callable[[str], Path],
        retention: Retention,
        query: HistoryQuery,
        now: str,
        lock: Lock,
        dir_fd: int | None = None,
    ) -> tuple[list[JSONObject], int] | None:
        """A page of the visible entries of every log of a project (by createdAt, then task, then id), and the
        number of matches. Costs a ``stat`` per log, the page's rows, and for the total a count per log (or, with
        a filter, the project's matching rows)."""
        window = _Window.of(retention, now)
        p = self.key(project)
        paths = {task: path_of(task) for task in tasks}
        for _ in range(TRIES):
            stats = {task: stat for task, path in paths.items() if (stat := _lstat(path, dir_fd)) is not None}
            connection = self._index.read()
            with _snapshot(connection):
                states = {
                    row[0]: LogState(*row[1:])
                    for row in connection.execute(
                        f"SELECT task, {_LOG_COLUMNS} FROM history_logs WHERE p = ?", (p,)
                    ).fetchall()
                }
                stale = [task for task, stat in stats.items() if task not in states or not states[task].matches(stat)]
                stale += [task for task in states if task not in stats]
                if not stale:
                    answer = self._project_page(connection, p, states, paths, query, window, retention, dir_fd)
                    if answer is not None:
                        return answer
            for task in stale or list(paths):  # none stale: a file changed after its stat (all cost an fstat)
                with lock(task):
                    self.catch_up(p, task, paths.get(task) or path_of(task), retention, now, dir_fd)
        return None

    def _project_page(
        self,
        connection: sqlite3.Connection,
        p: int,
        states: dict[str, LogState],
        paths: dict[str, Path],
        query: HistoryQuery,
        window: _Window,
        retention: Retention,
        dir_fd: int | None,
    ) -> tuple[list[JSONObject], int] | None:
        filters, values = _filters(query, "h.")
        condition = " AND ".join(["h.p = ?", "h.id > l.last_id - ?", "h.created_at > ?", "h.expires_at > ?", *filters])
        params = [p, window.cap, window.born_after, window.now, *values]
        direction = "ASC" if query.order == "asc" else "DESC"
        found = connection.execute(
            "SELECT h.task, h.pos, h.len, h.id FROM history_entries h INDEXED BY history_project "
            f"CROSS JOIN history_logs l ON l.p = h.p AND l.task = h.task WHERE {condition} "
            f"ORDER BY h.created_at {direction}, h.task {direction}, h.id {direction}, h.pos {direction} "
            "LIMIT ? OFFSET ?",
            [*params, query.limit, query.offset],
        ).fetchall()
        if filters:
            total = connection.execute(
                "SELECT count(*) FROM history_entries h INDEXED BY history_project "
                f"CROSS JOIN history_logs l ON l.p = h.p AND l.task = h.task WHERE {condition}",
                params,
            ).fetchone()[0]
        else:
            total = sum(state.rows - _hidden(connection, p, task, state, window) for task, state in states.items())
        descriptors: dict[str, int] = {}
        try:
            for task in dict.fromkeys(row[0] for row in found):
                fd = _open(paths[task], dir_fd)
                if fd is None:
                    return None
                descriptors[task] = fd
                if not states[task].matches(os.fstat(fd)):
                    return None  # changed since its stat: catch up and ask again
            entries: list[JSONObject] = []
            for task, pos, length, entry_id in found:
                got = _lines_at(descriptors[task], [(pos, length, entry_id)])
                if got is None:
                    return None
                entries += got
        finally:
            for fd in descriptors.values():
                os.close(fd)
        return [shown(entry, retention) for entry in entries], total

    def _reading(
        self,
        project: str,
        task: str,
        path: Path,
        retention: Retention,
        now: str,
        lock: Lock,
        dir_fd: int | None,
        ask: Callable[[sqlite3.Connection, int, int, LogState], tuple[T | None, int]],
        empty: T,
    ) -> T | None:
        """ask(connection, fd, p, state) inside one read transaction, once the log's rows match the file the
        descriptor holds (``empty`` without a file); ask returns its answer and the hidden rows it met (over
        PURGE_AT, they are purged). Catches up (under the lock) and asks again when the rows are behind."""
        p = self.key(project)
        for _ in range(TRIES):
            fd = _open(path, dir_fd)
            if fd is None:
                return empty
            answer: T | None = None
            hidden = 0
            try:
                stat = os.fstat(fd)
                connection = self._index.read()
                with _snapshot(connection):
                    state = self._state(connection, p, task)
                    current = state is not None and state.matches(stat)
                    if state is not None and current:
                        answer, hidden = ask(connection, fd, p, state)
            finally:
                os.close(fd)
            if state is not None and current:
                if hidden > PURGE_AT:
                    self._store(p, task, state, state, [], False, retention, now)
                if answer is not None:
                    return answer
            with lock(task):
                self.catch_up(p, task, path, retention, now, dir_fd)
        return None

    # -- the rows -------------------------------------------------------------------------------------------
    def _state(self, connection: sqlite3.Connection, p: int, task: str) -> LogState | None:
        found = connection.execute(
            f"SELECT {_LOG_COLUMNS} FROM history_logs WHERE p = ? AND task = ?", (p, task)
        ).fetchone()
        return None if found is None else LogState(*found)

    def _store(
        self,
        p: int,
        task: str,
        base: LogState | None,
        state: LogState | None,
        rows: list[tuple[object, ...]],
        reset: bool,
        retention: Retention,
        now: str,
    ) -> LogState | None:
        """Commit rows and the log's new state (None: forget the log) if its row is still ``base``; purge what
        retention hides. Returns the state stored (EMPTY for a forgotten log), or None when base was stale."""
        window = _Window.of(retention, now)
        stored: list[LogState | None] = [None]

        def work(connection: sqlite3.Connection) -> None:
            stored[0] = None  # the work runs again alone when a shared transaction fails
            current = self._state(connection, p, task)
            if (None if current is None else current.key) != (None if base is None else base.key):
                return  # changed since it was read: the caller reads it again
            if state is None:
                connection.execute("DELETE FROM history_entries WHERE p = ? AND task = ?", (p, task))
                connection.execute("DELETE FROM history_logs WHERE p = ? AND task = ?", (p, task))
                stored[0] = EMPTY
                return
            if reset:
                connection.execute("DELETE FROM history_entries WHERE p = ? AND task = ?", (p, task))
            connection.executemany(_INSERT_ROW, rows)
            kept = (state.rows if reset or current is None else current.rows + len(rows)) - _purge(
                connection, p, task, state, window
            )
            new = replace(state, rows=kept)
            connection.execute(
                f"INSERT OR REPLACE INTO history_logs(p, task, {_LOG_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                (p, task, *astuple(new)),
            )
            stored[0] = new

        self._index.commit(work)
        return stored[0]


def _visible(p: int, task: str, state: LogState, window: _Window) -> tuple[str, list[object]]:
    return (
        "p = ? AND task = ? AND id > ? AND created_at > ? AND expires_at > ?",
        [p, task, state.last_id - window.cap, window.born_after, window.now],
    )


def _hidden(connection: sqlite3.Connection, p: int, task: str, state: LogState, window: _Window) -> int:
    """Rows of the log that retention hides, each counted once, each range from its own index: O(log n + hidden)."""
    first = state.last_id - window.cap
    return int(
        connection.execute(
            "SELECT (SELECT count(*) FROM history_entries INDEXED BY history_ids WHERE p = ?1 AND task = ?2 "
            "AND id <= ?3) + (SELECT count(*) FROM history_entries INDEXED BY history_order WHERE p = ?1 "
            "AND task = ?2 AND created_at <= ?4 AND id > ?3) + (SELECT count(*) FROM history_entries "
            "INDEXED BY history_expiry WHERE p = ?1 AND task = ?2 AND expires_at <= ?5 AND created_at > ?4 "
            "AND id > ?3)",
            (p, task, first, window.born_after, window.now),
        ).fetchone()[0]
    )


def _purge(connection: sqlite3.Connection, p: int, task: str, state: LogState, window: _Window) -> int:
    """Delete the rows retention hides (they never show again); return how many went."""
    first = state.last_id - window.cap
    gone = 0
    for index, condition, value in (
        ("history_ids", "id <= ?", first),
        ("history_order", "created_at <= ?", window.born_after),
        ("history_expiry", "expires_at <= ?", window.now),
    ):
        gone += connection.execute(
            f"DELETE FROM history_entries INDEXED BY {index} WHERE p = ? AND task = ? AND {condition}",
            (p, task, value),
        ).rowcount
    return gone


def _filters(query: HistoryQuery, prefix: str = "") -> tuple[list[str], list[object]]:
    where: list[str] = []
    params: list[object] = []
    if query.types:
        where.append(f"{prefix}type IN ({','.join('?' * len(query.types))})")
        params += query.types
    for column, value in (
        ("workspace_id", query.workspace_id),
        ("session_id", query.session_id),
        ("execution_id", query.execution_id),
    ):
        if value is not None:
            where.append(f"{prefix}{column} = ?")
            params.append(value)
    if query.since is not None:
        where.append(f"{prefix}created_at >= ?")
        params.append(query.since)
    if query.until is not None:
        where.append(f"{prefix}created_at < ?")
        params.append(query.until)
    return where, params


def _index_for(query: HistoryQuery) -> str:
    """The index a task's read walks: the narrowest equality filter's (its rows already in createdAt order), else
    the createdAt order itself."""
    if query.execution_id is not None:
        return "history_executions"
    if query.session_id is not None:
        return "history_sessions"
    if query.workspace_id is not None:
        return "history_workspaces"
    if len(query.types) == 1:  # one value: SQLite takes IN (?) as =, so the index's createdAt order holds
        return "history_types"
    return "history_order"


def _row(p: int, task: str, pos: int, length: int, entry: JSONObject) -> tuple[object, ...]:
    return (
        p,
        task,
        pos,
        length,
        entry["id"],
        entry["type"],
        entry["createdAt"],
        entry["expiresAt"],
        entry.get("workspaceId"),
        entry.get("sessionId"),
        entry.get("executionId"),
    )


def _parse(
    p: int, task: str, raw: bytes, start: int, base: LogState | None
) -> tuple[LogState, list[tuple[object, ...]]]:
    """The rows of the whole lines in raw (which starts at byte ``start`` of the log), and the log's counts after
    them (added to base's, when raw is a tail)."""
    rows = []
    last_id = base.last_id if base is not None else 0
    lines = base.lines if base is not None else 0
    bad = base.bad if base is not None else 0
    pos = start
    for line in raw.split(b"\n")[:-1]:
        entry = _parse_line(line)
        if entry is None:
            bad += 1
        else:
            lines += 1
            last_id = max(last_id, int(entry["id"]))
            if len(entry) > 1:  # a tombstone only keeps the newest id
                rows.append(_row(p, task, pos, len(line), entry))
        pos += len(line) + 1
    rows_before = base.rows if base is not None else 0
    return LogState(0, 0, 0, start + len(raw), last_id, lines, bad, rows_before + len(rows), b"", b""), rows


def _lines_at(fd: int, found: list[tuple[int, int, int]]) -> list[JSONObject] | None:
    """The entries at (pos, len, id) in the log; None if one is not the entry its row says (edited in place)."""
    entries = []
    for pos, length, entry_id in found:
        entry = _parse_line(os.pread(fd, length, pos)) if length else None
        if entry is None or entry["id"] != entry_id or len(entry) == 1:
            return None
        entries.append(entry)
    return entries


def _only_grew(fd: int, stat: os.stat_result, base: LogState) -> bool:
    """The file is base's with lines added after its offset (same inode, the same first and last bytes)."""
    if stat.st_ino != base.ino or stat.st_size < base.offset:
        return False
    head, tail = _fingerprints(fd, base.offset)
    return (head, tail) == (base.head, base.tail)


def _fingerprints(fd: int, offset: int) -> tuple[bytes, bytes]:
    size = min(offset, FINGERPRINT)
    return os.pread(fd, size, 0), os.pread(fd, size, offset - size)


def _pread(fd: int, start: int, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = os.pread(fd, min(size, 16 << 20), start)
        if not chunk:
            break
        chunks.append(chunk)
        start += len(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _open(path: Path, dir_fd: int | None) -> int | None:
    """A read descriptor of the log, or None when it is missing, a symlink (never followed) or not a file."""
    try:
        fd = os.open(path if dir_fd is None else path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise storage_error(exc, "read", path) from exc
    if not stat_module.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _lstat(path: Path, dir_fd: int | None) -> os.stat_result | None:
    try:
        found = os.stat(path if dir_fd is None else path.name, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise storage_error(exc, "read", path) from exc
    return found if stat_module.S_ISREG(found.st_mode) else None


@contextmanager
def _snapshot(connection: sqlite3.Connection) -> Iterator[None]:
    """One read transaction: every query inside sees the same committed index (WAL: writers go on meanwhile)."""
    connection.execute("BEGIN")
    try:
        yield
    finally:
        if connection.in_transaction:
            connection.execute("COMMIT")  # it only read
