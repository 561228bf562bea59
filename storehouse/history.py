"""Task history: one JSON Lines file per task, appended durably, read with exact retention (DESIGN section 4).

``projects/<projectId>/history/<taskId>.jsonl`` holds one entry a line. An append is a single write of whole
lines followed by an fsync (``FileIO.append_durably``), made while the task's lock is held, so lines of two
writers never interleave and ``id`` grows by one per entry. A crash can leave a torn last line: readers skip
it, and the next append cuts it off first. A failed append (a full disk) leaves the file as it was.

Retention is applied on every read, whatever the clean-up last did: an entry past its ``expiresAt`` (or past
``createdAt`` + the project's ttl, if that is sooner) is never returned, nor any entry but those of the task's
newest ``max_entries`` ids (FIFO by arrival). The file compacts itself (an atomic rewrite of the entries still
shown) once it holds more than twice ``max_entries`` lines, so it stays small by itself. When the newest entry
is hidden, compaction, clean-up and delete leave a tombstone of its id (``{"id": N}``) so ids never restart.

Nothing is followed through a symlink: every operation opens ``projects/<projectId>/history`` with
``fsio.open_directory`` (InvalidRequest if the project or its ``history`` directory is a symlink, before anything
is created) and does its I/O relative to that directory's fd. A file holding a line that is not an entry is
never rewritten by a clean-up or a delete: it is left for a person to see (``storehouse check`` names it).

Reads, counts and appends are answered by the history tables of the SQLite index (``history_index``), checked
against each file's inode, size and mtime on every access and caught up from it (only its new tail when it only
grew), so they cost what they return, not the log's length; without the file engine's index they scan the files.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import orjson

from .errors import Conflict, InvalidBody, InvalidRequest, StorageError
from .fsio import FileIO, is_directory, is_link, is_temp_name, open_directory, read_bytes, storage_error
from .ids import check_id, id_path, is_valid_id, new_id
from .locks import LockTable
from .models import JSONObject, format_timestamp, normalize_timestamp, now_timestamp, parse_timestamp, type_name

if TYPE_CHECKING:
    from .history_index import HistoryIndex  # which imports this module's rules

TYPES = frozenset(
    {
        "chat_message",
        "execution_step",
        "agent_turn",
        "setup_complete",
        "error",
        "status_change",
        "log",
        "result",
        "agent_start",
        "agent_complete",
        "system",
        "ai_interaction",
        "validation_result",
    }
)
TEXT_FIELDS = ("executionId", "workspaceId", "sessionId", "role", "content")
ID_FIELDS = ("executionId", "workspaceId", "sessionId")
Announce = Callable[[list[JSONObject]], None]
MAX_ID = (1 << 63) - 1  # ids are 64-bit, as everywhere in the API
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")  # as the store writes them
DEFAULT_TTL_DAYS = 20
DEFAULT_MAX_ENTRIES = 100
# A project's settings.json: (lowest, highest) of each. Runs' retention sits beside history's; absent or null
# keeps every run (``Storehouse.run_retention``).
HISTORY_SETTINGS = {"historyTtlDays": (1, 36_500), "historyMaxEntriesPerTask": (1, 100_000)}
RUN_SETTINGS = {"runTtlDays": (1, 36_500), "maxRuns": (1, 1_000_000_000)}
log = logging.getLogger("storehouse")
T = TypeVar("T")


@dataclass(frozen=True)
class Retention:
    """How long entries live, and how many a task keeps."""

    ttl_days: int = DEFAULT_TTL_DAYS
    max_entries: int = DEFAULT_MAX_ENTRIES


def validate_entry(data: object, task_id: str, now: str, retention: Retention) -> JSONObject:
    """A new entry's canonical fields (without ``id``); InvalidBody naming the first bad field.

    ``createdAt`` may be given (back-fill, import); ``expiresAt`` is always ``createdAt + ttl``.
    """
    if not isinstance(data, dict):
        raise InvalidBody(f"a history entry must be a JSON object, got {type_name(data)}")
    if data.get("taskId") not in (None, task_id):
        raise InvalidBody(f"taskId is {data['taskId']!r} in the body but {task_id!r} in the path; leave it out")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise InvalidBody(f"type must be one of {', '.join(sorted(TYPES))}; got {kind!r}")
    entry: JSONObject = {"taskId": task_id, "type": kind}
    for name in TEXT_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise InvalidBody(f"{name} must be a string or null, got {type_name(value)}")
        if name in ID_FIELDS and value is not None and not is_valid_id(value):
            raise InvalidBody(f"{name} must be 1-128 characters from A-Z a-z 0-9 . _ -; got {value!r}")
        entry[name] = value
    metadata = data.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise InvalidBody(f"metadata must be a JSON object or null, got {type_name(metadata)}")
    entry["metadata"] = metadata
    try:
        created = normalize_timestamp(data["createdAt"]) if data.get("createdAt") is not None else now
        expires = format_timestamp(parse_timestamp(created) + timedelta(days=retention.ttl_days))
    except (ValueError, OverflowError):
        raise InvalidBody(
            f"createdAt must be an RFC 3339 timestamp at least {retention.ttl_days} days before the year 10000, "
            f"got {data['createdAt']!r}"
        ) from None
    entry["createdAt"] = created
    entry["expiresAt"] = expires
    # id and expiresAt are the store's to give (an exported entry can be added back as it is), but they
    # must still be what they claim to be
    given_id = data.get("id")
    if given_id is not None and (isinstance(given_id, bool) or not isinstance(given_id, int) or given_id < 1):
        raise InvalidBody(f"id is given by the store; if sent it must be a positive whole number, got {given_id!r}")
    if data.get("expiresAt") is not None:
        try:
            normalize_timestamp(data["expiresAt"])
        except ValueError:
            raise InvalidBody(f"expiresAt must be an RFC 3339 timestamp, got {data['expiresAt']!r}") from None
    unknown = sorted(set(data) - {"id", "taskId", "type", "metadata", "createdAt", "expiresAt", *TEXT_FIELDS})
    if unknown:
        raise InvalidBody(f"unknown field {unknown[0]!r} in a history entry")
    return entry


def read_entries(path: Path, dir_fd: int | None = None) -> list[JSONObject]:
    """Every whole entry line (or tombstone) of a history file, in file order; a torn last line, and any line
    that is not an entry as this module writes them, is skipped (``storehouse check`` names it). With
    ``dir_fd`` (the history directory, from ``open_directory``), the file is ``path.name`` in it."""
    raw = read_bytes(path, dir_fd)
    if not raw:
        return []
    entries = []
    for line in raw.split(b"\n")[:-1]:  # after the last newline is at most a torn line: never an entry
        entry = _parse_line(line)
        if entry is not None:
            entries.append(entry)
    return entries


def _parse_line(line: bytes) -> JSONObject | None:
    """The entry or tombstone a line holds, or None when it holds anything else."""
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(entry, dict):
        return None
    entry_id = entry.get("id")
    if isinstance(entry_id, bool) or not isinstance(entry_id, int) or not 1 <= entry_id <= MAX_ID:
        return None
    if len(entry) == 1:
        return entry  # a tombstone: keeps the newest id when the entries went
    get = entry.get  # every line of every read comes through here: kept to plain lookups (~1 us a line)
    text = (str, type(None))
    if (
        get("type") in TYPES
        and type(get("taskId")) is str
        and _is_timestamp(get("createdAt"))
        and _is_timestamp(get("expiresAt"))
        and type(get("metadata")) in (dict, type(None))
        and type(get("content")) in text
        and type(get("role")) in text
        and type(get("executionId")) in text
        and type(get("workspaceId")) in text
        and type(get("sessionId")) in text
    ):
        return entry
    return None


def _is_timestamp(value: object) -> bool:
    """Written by the store (2026-01-05T10:00:05.000Z): that shape is what makes text order time order."""
    return (
        type(value) is str
        and len(value) == 24
        and value[4] == "-"
        and value[10] == "T"
        and value[19] == "."
        and value[23] == "Z"
        and _TIMESTAMP.fullmatch(value) is not None
    )


def visible(entries: list[JSONObject], now: str, retention: Retention) -> list[JSONObject]:
    """What a read may return, in file (id) order: the entries among the task's newest ``max_entries`` ids
    that have not expired.

    The cap counts ids, not lines, so whether a clean-up removed an expired entry never changes which others
    a read shows. An entry expires at its ``expiresAt`` or ``ttl_days`` after its ``createdAt``, whichever is
    sooner: a lower ttl applies to every entry at once.
    """
    if not entries or retention.max_entries < 1:
        return []
    first_id = max(int(entry["id"]) for entry in entries) - retention.max_entries
    born_after = format_timestamp(parse_timestamp(now) - timedelta(days=retention.ttl_days))
    return [
        entry
        for entry in entries
        if entry["id"] > first_id
        and str(entry.get("expiresAt", "")) > now
        and str(entry.get("createdAt", "")) > born_after
    ]


def expired(added: list[JSONObject], now: str) -> int:
    """How many of the entries just added had expired already (back-filled with an old ``createdAt``): they
    are stored, and counted in the ids, but no read will ever show them. The answer of an append says so."""
    return sum(1 for entry in added if str(entry.get("expiresAt", "")) <= now)


def kept(entries: list[JSONObject], now: str, retention: Retention) -> list[JSONObject]:
    """What a clean-up keeps of a file: the visible entries, and when the newest entry is hidden, a tombstone
    of it (``{"id": N}``, nothing else), so that ids go on from it and never start again at 1."""
    keep = visible(entries, now, retention)
    newest = max(entries, key=lambda entry: int(entry["id"]), default=None)
    if newest is not None and (not keep or keep[-1] is not newest):
        keep.append({"id": newest["id"]})
    return keep


def shown(entry: JSONObject, retention: Retention) -> JSONObject:
    """An entry as a read returns it: ``expiresAt`` brought forward when a lower ttl ends it sooner."""
    try:
        ends = format_timestamp(parse_timestamp(entry["createdAt"]) + timedelta(days=retention.ttl_days))
    except (ValueError, OverflowError):
        return entry
    return {**entry, "expiresAt": ends} if ends < str(entry.get("expiresAt", "")) else entry


def append(
    io: FileIO,
    path: Path,
    new: list[JSONObject],
    now: str,
    retention: Retention,
    keep_ids: bool = False,
    dir_fd: int | None = None,
    end: LogEnd | None = None,
) -> list[JSONObject]:
    """Append entries (from ``validate_entry``) to a task's history; hold the task's lock. Returns them with ids:
    the next ones, or (``keep_ids``) their own, which the caller has checked come after the log's.

    Cuts a torn last line off first; compacts the file when it has grown past twice the cap (never when it holds
    a line that is not an entry). With ``dir_fd`` the file is ``path.name`` in that directory. With ``end`` (what
    the index knows of the file, caught up under this lock) the file is not read, unless it compacts: the append
    then costs its own lines and one fsync, however long the log.
    """
    if is_link(path, dir_fd):  # never ours (nothing is followed): a new regular file takes its place
        return _replace(io, path, new if keep_ids else [{"id": n, **entry} for n, entry in enumerate(new, 1)], dir_fd)
    existing: list[JSONObject] | None = None
    if end is None:
        raw = read_bytes(path, dir_fd) or b""
        if raw and not raw.endswith(b"\n"):
            _cut_torn_tail(io, path, raw.rfind(b"\n") + 1, dir_fd)
            raw = raw[: raw.rfind(b"\n") + 1]
        existing = read_entries(path, dir_fd) if raw else []
        newest = max((int(entry["id"]) for entry in existing), default=0)
        end = LogEnd(len(raw), len(raw), newest, len(existing), raw.count(b"\n") - len(existing))
    elif end.size > end.offset:
        _cut_torn_tail(io, path, end.offset, dir_fd)
    next_id = end.last_id + 1
    if next_id + len(new) - 1 > MAX_ID:
        raise Conflict(f"the ids of the history {path.name} are used up (the newest is {next_id - 1})")
    added = new if keep_ids else [{"id": next_id + n, **entry} for n, entry in enumerate(new)]
    lines = b"".join(orjson.dumps(entry) + b"\n" for entry in added)
    if end.lines + len(added) > 2 * max(retention.max_entries, 1) and not end.bad:
        existing = read_entries(path, dir_fd) if existing is None else existing
        io.replace_durably(path, _lines(kept(existing + added, now, retention)), dir_fd)
    else:
        io.append_durably(path, lines, dir_fd)
    return added


@dataclass(frozen=True)
class LogEnd:
    """What an append needs to know of a log file (``history_index.LogState`` has it without reading the file)."""

    offset: int  # bytes of whole lines: a torn last line starts here
    size: int
    last_id: int  # the newest id of any line, tombstones too
    lines: int  # lines that are entries or tombstones
    bad: int  # whole lines that are neither: such a file never compacts


def _cut_torn_tail(io: FileIO, path: Path, keep: int, dir_fd: int | None = None) -> None:
    """Drop the partial line a crash left at the end of a history file (cut it back to ``keep`` bytes)."""
    try:
        fd = os.open(path if dir_fd is None else path.name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        raise StorageError(f"could not repair {path}: {exc.strerror or exc}") from exc
    try:
        os.ftruncate(fd, keep)
        if io.durable:
            io.fsync(fd)
    except OSError as exc:
        raise StorageError(f"could not repair {path}: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)


@dataclass(frozen=True)
class HistoryQuery:
    """Filters and paging of a history read."""

    types: tuple[str, ...] = ()
    workspace_id: str | None = None
    session_id: str | None = None
    execution_id: str | None = None
    since: str | None = None  # createdAt at or after
    until: str | None = None  # createdAt before
    limit: int = 100
    offset: int = 0
    order: str = "asc"

    def matches(self, entry: JSONObject) -> bool:
        created = str(entry.get("createdAt", ""))
        return (
            (not self.types or entry.get("type") in self.types)
            and (self.workspace_id is None or entry.get("workspaceId") == self.workspace_id)
            and (self.session_id is None or entry.get("sessionId") == self.session_id)
            and (self.execution_id is None or entry.get("executionId") == self.execution_id)
            and (self.since is None or created >= self.since)
            and (self.until is None or created < self.until)
        )


class HistoryStore:
    """The histories of every task under one data directory (the files; locks shared with the executions).

    ``retention`` gives a project's settings (``Retention``); reads apply it, appends compact by it.
    """

    def __init__(
        self,
        data_dir: Path,
        io: FileIO,
        locks: LockTable,
        retention: Callable[[str], Retention],
        index: HistoryIndex | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.io = io
        self._locks = locks
        self._retention = retention
        self._index = index  # without one (another engine's store), every read scans the files

    def directory(self, project: str) -> Path:
        """Where a project's history files are (a name for messages: open it with ``folder``)."""
        return self.data_dir / "projects" / check_id(project, "projectId") / "history"

    def folder(self, project: str, create: bool = False) -> AbstractContextManager[int | None]:
        """The project's history directory, open: its fd (relative to which every history file is read and
        written), or None when there is none (``create`` makes it, durably, with the project's directory).

        The one guard of the history: InvalidRequest when the project's directory or its ``history`` is a
        symlink, wherever it leads, checked before anything is created.
        """
        where = (check_id(project, "projectId"), "history")
        return open_directory(
            self.data_dir / "projects", where, f"the history of project {project}", self._maker(create)
        )

    def project_folder(self, project: str, create: bool = False) -> AbstractContextManager[int | None]:
        """The project's directory, open (for its ``settings.json``), or None; InvalidRequest if it is a symlink."""
        where = (check_id(project, "projectId"),)
        return open_directory(self.data_dir / "projects", where, f"project {project}", self._maker(create))

    def _maker(self, create: bool) -> FileIO | None:
        return self.io if create else None

    def path(self, project: str, task: str) -> Path:
        """The file of a task's history. InvalidRequest when the project or its history directory is a symlink
        (``folder``), so that what reads by this path is refused too."""
        with self.folder(project):
            pass
        return self._file(project, task)

    def _file(self, project: str, task: str) -> Path:
        return id_path(self.directory(project), check_id(task, "taskId"), ".jsonl")

    def add(
        self, project: str, task: str, entries: list[object], now: str, announce: Announce | None = None
    ) -> list[JSONObject]:
        """Validate every entry (InvalidBody changes nothing), then append them all in one durable write.

        ``announce(added)`` runs once they are durable, still holding the task's lock, so that what it
        records (the change log) is in the same order as the ids.
        """
        retention = self._retention(project)
        check_id(task, "taskId")
        made = []
        for position, entry in enumerate(entries):
            try:
                made.append(validate_entry(entry, task, now, retention))
            except InvalidBody as exc:
                if len(entries) == 1:
                    raise
                # which one, as its index in the list (from 0): a batch of hundreds is otherwise a hunt
                raise InvalidBody(f"entry {position}: {exc.message}; no entry was added") from None
        if not made:
            raise InvalidBody("no entries to add: send an entry object or a non-empty list of them")
        path = self._file(project, task)
        with self.folder(project, create=True) as folder, self._locks.document(project, f"history/{task}"):
            assert folder is not None  # made, or refused (a symlink) before anything was made
            _refuse_a_directory(path, project, task, folder)
            # Entries without a createdAt of their own are stamped now, inside the lock, so that their times
            # go the same way as their ids even when other processes append to the task at the same moment.
            stamp = now_timestamp()
            expires = format_timestamp(parse_timestamp(stamp) + timedelta(days=retention.ttl_days))
            for entry, given in zip(made, entries, strict=True):
                if not isinstance(given, dict) or given.get("createdAt") is None:
                    entry["createdAt"], entry["expiresAt"] = stamp, expires
            added = self._append(project, task, path, made, stamp, retention, folder)
            if announce is not None:
                announce(added)
            return added

    def restore(
        self, project: str, task: str, entries: list[JSONObject], announce: Announce | None = None
    ) -> list[JSONObject]:
        """Append exported entries with their own ids (import). Each must have passed ``validate_entry`` and
        carry its ``id``; ids must grow. Those whose id the log has already reached are left out (the import is
        idempotent). Returns what was appended, in one durable write.
        """
        ids = [entry["id"] for entry in entries]
        if any(later <= earlier for earlier, later in itertools.pairwise(ids)):
            raise InvalidBody(f"the entries of task {task} must come in growing id order")
        path = self._file(project, task)
        with self.folder(project, create=True) as folder, self._locks.document(project, f"history/{task}"):
            assert folder is not None  # made, or refused (a symlink) before anything was made
            _refuse_a_directory(path, project, task, folder)
            last = self._reached(project, task, path, folder)
            new = [entry for entry in entries if entry["id"] > last]
            if new:
                added = self._append(project, task, path, new, now_timestamp(), self._retention(project), folder, True)
                entries_added = [entry for entry in added if len(entry) > 1]  # not a tombstone
                if announce is not None and entries_added:
                    announce(entries_added)
            return new

    def _append(
        self,
        project: str,
        task: str,
        path: Path,
        new: list[JSONObject],
        now: str,
        retention: Retention,
        folder: int,
        keep_ids: bool = False,
    ) -> list[JSONObject]:
        """``append``, holding the task's lock, told by the index where the log ends so that it reads none of it,
        then the index told of the lines once they are durable (~0.1 ms besides the fsync, at any length)."""
        index = self._index
        if index is None or is_link(path, folder):
            return append(self.io, path, new, now, retention, keep_ids, folder)
        try:
            p = index.key(project)
            base = index.catch_up(p, task, path, retention, now, folder)
        except sqlite3.Error as exc:
            log.warning("the history index could not answer (%s); reading %s/%s", exc, project, task)
            return append(self.io, path, new, now, retention, keep_ids, folder)
        added = append(self.io, path, new, now, retention, keep_ids, folder, base.end)
        try:
            if not index.appended(p, task, base, added, path, retention, now, folder):
                index.catch_up(p, task, path, retention, now, folder)  # compacted: parsed again, once
        except sqlite3.Error:
            # The lines are durable, so the append succeeded; the index is derived data, behind by these lines,
            # and the next access parses them from the file (tests/test_history_index.py, the crash test).
            log.exception("could not index the history append of %s/%s; the next access catches up", project, task)
        return added

    def _reached(self, project: str, task: str, path: Path, folder: int) -> int:
        """The id a log has reached; hold the task's lock."""
        if self._index is not None and not is_link(path, folder):
            index = self._index
            retention = self._retention(project)
            found = self._indexed(
                lambda: index.catch_up(index.key(project), task, path, retention, now_timestamp(), folder)
            )
            if found is not None:
                return found.last_id
        existing = [] if is_link(path, folder) else read_entries(path, folder)
        return max((int(entry["id"]) for entry in existing), default=0)

    def _indexed(self, ask: Callable[[], T | None]) -> T | None:
        """ask() of the index, or None (the caller scans the files) when it fails: it is derived data."""
        try:
            return ask()
        except sqlite3.Error as exc:
            log.warning("the history index could not answer (%s); reading the files", exc)
            return None

    def _lock(self, project: str) -> Callable[[str], AbstractContextManager[None]]:
        return lambda task: self._locks.document(project, f"history/{task}")

    def last_id(self, project: str, task: str) -> int:
        """The id the log has reached (a removed newest entry's tombstone counts); 0 for none."""
        if self._index is None:
            return max((entry["id"] for entry in read_entries(self.path(project, task))), default=0)
        path = self._file(project, task)  # InvalidId before anything else
        with self.folder(project) as folder:
            if folder is None:
                return 0
            with self._lock(project)(task):
                return self._reached(project, task, path, folder)

    def count(self, project: str, task: str, now: str) -> int:
        """How many entries a read of the task shows in all. From the index: O(log n), not the log's length."""
        retention = self._retention(project)
        if self._index is not None:
            index = self._index
            path = self._file(project, task)  # InvalidId before anything else
            with self.folder(project) as folder:
                if folder is None:
                    return 0
                found = self._indexed(
                    lambda: index.count(project, task, path, retention, now, self._lock(project), folder)
                )
            if found is not None:
                return found
        return len(self.entries(project, task, now))

    def entries(self, project: str, task: str, now: str) -> list[JSONObject]:
        """Every entry a read may see, oldest first."""
        return visible(read_entries(self.path(project, task)), now, self._retention(project))

    def read(self, project: str, task: str, query: HistoryQuery, now: str) -> tuple[list[JSONObject], int]:
        """A page of a task's entries (ordered by createdAt, then id) and the number of all matches.

        From the index: costs the page (and its offset), not the log; a filter's total costs its matches.
        """
        if self._index is not None:
            index, retention = self._index, self._retention(project)
            path = self._file(project, task)  # InvalidId before anything else
            with self.folder(project) as folder:
                if folder is None:
                    return [], 0
                found = self._indexed(
                    lambda: index.page(project, task, path, retention, query, now, self._lock(project), folder)
                )
            if found is not None:
                return found
        return self._read_tasks(project, [task], query, now)

    def read_all(self, project: str, query: HistoryQuery, now: str) -> tuple[list[JSONObject], int]:
        """A page of the entries of every task of a project (ordered by createdAt, then task, then id).

        From the index: costs a stat per task and the page, not the logs.
        """
        tasks = self.tasks(project)
        if self._index is not None:
            index, retention = self._index, self._retention(project)
            with self.folder(project) as folder:
                if folder is None:
                    return [], 0
                found = self._indexed(
                    lambda: index.page_all(
                        project,
                        tasks,
                        lambda task: self._file(project, task),
                        retention,
                        query,
                        now,
                        self._lock(project),
                        folder,
                    )
                )
            if found is not None:
                return found
        return self._read_tasks(project, tasks, query, now)

    def _read_tasks(
        self, project: str, tasks: list[str], query: HistoryQuery, now: str
    ) -> tuple[list[JSONObject], int]:
        retention = self._retention(project)
        matching = []
        for task in tasks:
            entries = visible(read_entries(self.path(project, task)), now, retention)
            matching += [entry for entry in entries if query.matches(entry)]
        matching.sort(key=lambda entry: (str(entry["createdAt"]), str(entry["taskId"]), int(entry["id"])))
        return [shown(entry, retention) for entry in _page(matching, query)], len(matching)

    def tasks(self, project: str) -> list[str]:
        """The tasks of a project that have a history file. InvalidRequest through a symlink (``folder``)."""
        with self.folder(project) as folder:
            return [] if folder is None else _task_names(folder)

    def delete(self, project: str, task: str, now: str) -> int:
        """Delete a task's history; return how many entries a read would have shown.

        The file keeps a tombstone of the newest id (``{"id": N}``), so the task's next entry is N + 1.
        InvalidRequest through a symlink (``folder``). A file holding a line that is not an entry is not a log to
        rewrite: it is kept as it is, under the name ``<taskId>.jsonl.kept-<id>`` (a hard link made before the
        tombstone replaces it, so a crash leaves it under one name or both), which ``storehouse check`` names.
        """
        path = self._file(project, task)
        with self.folder(project) as folder, self._locks.document(project, f"history/{task}"):
            if folder is None:
                return 0
            _refuse_a_directory(path, project, task, folder)
            raw = read_bytes(path, folder)
            entries = _log_entries(raw)
            if entries is None:
                _keep_aside(path, folder)
                entries = [entry for line in (raw or b"").split(b"\n")[:-1] if (entry := _parse_line(line))]
            count = len(visible(entries, now, self._retention(project)))
            if entries:  # a tombstone of the newest keeps ids going on from it
                tombstone = _lines([{"id": max(int(entry["id"]) for entry in entries)}])
                if raw != tombstone:
                    self.io.replace_durably(path, tombstone, folder)
            else:
                self.io.unlink_durably(path, folder)  # a symlink in its place goes itself, never what it names
        return count

    def forget(self, project: str, task: str) -> None:
        """Remove a task's history file altogether (the task itself is deleted: its ids may start again).

        What is not a log of ours is left for a person to see ('storehouse check' names it): a directory, a file
        holding a line that is not an entry, and a history directory that is a symlink (logged, not raised: the
        task is already gone).
        """
        path = self._file(project, task)
        try:
            with self.folder(project) as folder, self._locks.document(project, f"history/{task}"):
                if folder is None or is_directory(path, folder):
                    return
                if not is_link(path, folder) and _log_entries(read_bytes(path, folder)) is None:
                    return
                self.io.unlink_durably(path, folder)
        except InvalidRequest as refused:
            log.warning("task %s of project %s was deleted but not its history: %s", task, project, refused.message)

    def oldest(self, project: str, task: str, now: str) -> str | None:
        """The createdAt of the oldest entry a read shows, or None. From the index: O(log n)."""
        if self._index is not None:
            index, retention = self._index, self._retention(project)
            path = self._file(project, task)  # InvalidId before anything else
            with self.folder(project) as folder:
                if folder is None:
                    return None
                found = self._indexed(
                    lambda: index.oldest(project, task, path, retention, now, self._lock(project), folder)
                )
            if found is not None:
                return found[0]
        entries = self.entries(project, task, now)
        return min(str(entry["createdAt"]) for entry in entries) if entries else None

    def projects(self) -> list[str]:
        """Projects with a history directory (a symlinked project or history directory is left out)."""
        root = self.data_dir / "projects"
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        return sorted(
            name
            for name in names
            if is_valid_id(name)
            and not os.path.islink(root / name)
            and not os.path.islink(root / name / "history")
            and os.path.isdir(root / name / "history")
        )

    def check(self, project: str) -> tuple[int, list[str]]:
        """Verify every history file of a project: (files seen, problems found, one line each).

        A problem is a file that is not a ``<taskId>.jsonl`` regular file (a symlink is named as one), a line that
        is not an entry, or a torn last line (a crash cut an append short; reads skip it and the next append
        removes it). Nothing is followed through a symlink: a symlinked project or history directory is one
        problem (the files backend's check names symlinked ``settings.json`` and ``history`` entries too).
        """
        problems: list[str] = []
        try:
            with self.project_folder(project) as top:
                settings = None if top is None else read_bytes(Path(SETTINGS), top)
            if settings is not None and not _is_settings(settings):
                problems.append(
                    f"{project}/settings.json: not valid settings; the defaults apply until they are set again"
                )
            with self.folder(project) as folder:
                if folder is None:
                    return 0, problems
                names = sorted(os.listdir(folder))
                for name in names:
                    problems += self._check_file(project, name, folder)
        except InvalidRequest as refused:
            return 0, [*problems, f"{project}: {refused.message}"]
        return len(names), problems

    def _check_file(self, project: str, name: str, folder: int) -> list[str]:
        where = f"{project}/history/{name}"
        path = self.directory(project) / name
        if is_link(path, folder):
            return [f"{where}: is a symlink; storehouse does not follow it"]
        if is_temp_name(name):
            return [f"{where}: a leftover temp file"]
        if not name.endswith(".jsonl") or not is_valid_id(name[:-6]):
            return [f"{where}: not a history file (<taskId>.jsonl)"]
        raw = read_bytes(path, folder)
        if raw is None:
            return [f"{where}: is a directory or unreadable"]
        problems: list[str] = []
        lines = raw.split(b"\n")
        for number, line in enumerate(lines[:-1], 1):
            if not _is_entry(line):
                problems.append(f"{where}: line {number} is not a history entry")
        if lines[-1]:
            problems.append(f"{where}: a torn last line (a crash cut an append short); the next append removes it")
        return problems

    def prune(self, project: str, now: str) -> int:
        """Physically remove the entries no read can see any more (expired, or beyond the cap); return how many.

        When a task's newest entry is hidden, a tombstone of its id stays (``{"id": N}``) so ids never restart.
        A file holding a line that is not an entry is left as it is (``storehouse check`` names it).
        InvalidRequest through a symlink (``folder``), before anything is read.
        """
        retention = self._retention(project)
        removed = 0
        with self.folder(project) as folder:
            if folder is None:
                return 0
            for task in _task_names(folder):
                with self._locks.document(project, f"history/{task}"):
                    removed += self._prune_task(project, task, now, retention, folder)
        return removed

    def change_retention(self, project: str, retention: Retention, now: str, write: Callable[[], None]) -> None:
        """Switch a project to new retention settings (``write`` stores them), holding every writer off.

        What the old settings hide is removed first, so a higher cap or a longer ttl never brings back an
        entry that reads stopped showing: the new settings apply to the entries that were still visible.
        InvalidRequest, with nothing written, when the history directory is a symlink (``folder``).
        """
        old = self._retention(project)
        with self._locks.project_exclusive(project), self.folder(project) as folder:
            raised = retention.max_entries > old.max_entries or retention.ttl_days > old.ttl_days
            if folder is not None and raised:
                for task in _task_names(folder):
                    self._prune_task(project, task, now, old, folder)
            write()

    def _prune_task(self, project: str, task: str, now: str, retention: Retention, folder: int) -> int:
        path = self._file(project, task)
        if is_directory(path, folder) or is_link(path, folder):
            return 0  # not a log of ours: 'storehouse check' names it, and it is left for a person to see
        raw = read_bytes(path, folder)
        everything = _log_entries(raw)
        if raw is None or everything is None:
            return 0  # gone since the listing, or a line that is not an entry: not a log to rewrite
        keep = kept(everything, now, retention)
        data = _lines(keep)
        if raw == data:
            return 0  # nothing hidden, nothing damaged: leave the file alone
        self.io.replace_durably(path, data, folder)
        return sum(1 for entry in everything if len(entry) > 1) - sum(1 for entry in keep if len(entry) > 1)


SETTINGS = "settings.json"  # a project's retention settings, beside its history directory


def _task_names(folder: int) -> list[str]:
    """The tasks with a history file in the open history directory folder."""
    try:
        names = os.listdir(folder)
    except OSError as exc:
        raise StorageError(f"could not list a history directory: {exc.strerror or exc}") from exc
    return sorted(name[:-6] for name in names if name.endswith(".jsonl") and is_valid_id(name[:-6]))


def _log_entries(raw: bytes | None) -> list[JSONObject] | None:
    """The entries (and tombstone) of a history file's content, or None when a whole line is not one: such a
    file is not a log to rewrite. A torn last line is not a whole line."""
    entries: list[JSONObject] = []
    for line in (raw or b"").split(b"\n")[:-1]:
        entry = _parse_line(line)
        if entry is None:
            return None
        entries.append(entry)
    return entries


def _replace(io: FileIO, path: Path, added: list[JSONObject], dir_fd: int | None = None) -> list[JSONObject]:
    io.replace_durably(path, _lines(added), dir_fd)
    return added


def _lines(entries: list[JSONObject]) -> bytes:
    return b"".join(orjson.dumps(entry) + b"\n" for entry in entries)


def _refuse_a_directory(path: Path, project: str, task: str, dir_fd: int | None = None) -> None:
    """Conflict when a history file's name is taken by a directory (made by hand): nothing can replace it."""
    if is_directory(path, dir_fd):
        raise Conflict(
            f"the history of task {task} of project {project} cannot be written or deleted: {path.name} is a "
            "directory, not a file; remove it by hand ('storehouse check' names it)"
        )


def _is_settings(raw: bytes) -> bool:
    try:
        values = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return isinstance(values, dict) and all(
        isinstance(values.get(name), int) and not isinstance(values.get(name), bool) and values[name] > 0
        for name in ("historyTtlDays", "historyMaxEntriesPerTask")
    )


def _is_entry(line: bytes) -> bool:
    return _parse_line(line) is not None


def _page(entries: list[JSONObject], query: HistoryQuery) -> list[JSONObject]:
    ordered = entries if query.order == "asc" else entries[::-1]
    return ordered[query.offset : query.offset + query.limit]


def _keep_aside(path: Path, folder: int) -> None:
    """Give the file path a second name, ``<name>.kept-<id>``, that no history operation touches again."""
    try:
        os.link(path.name, f"{path.name}.kept-{new_id()}", src_dir_fd=folder, dst_dir_fd=folder, follow_symlinks=False)
    except OSError as exc:
        raise storage_error(exc, "keep a copy of", path) from exc
