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
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson

from .errors import Conflict, InvalidBody, InvalidRequest, StorageError
from .fsio import FileIO, is_temp_name, read_bytes
from .ids import check_id, id_path, is_valid_id
from .locks import LockTable
from .models import JSONObject, format_timestamp, normalize_timestamp, now_timestamp, parse_timestamp, type_name

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


def read_entries(path: Path) -> list[JSONObject]:
    """Every whole entry line (or tombstone) of a history file, in file order; a torn last line, and any line
    that is not an entry as this module writes them, is skipped (``storehouse check`` names it)."""
    raw = read_bytes(path)
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
    io: FileIO, path: Path, new: list[JSONObject], now: str, retention: Retention, keep_ids: bool = False
) -> list[JSONObject]:
    """Append entries (from ``validate_entry``) to a task's history; hold the task's lock. Returns them with ids:
    the next ones, or (``keep_ids``) their own, which the caller has checked come after the log's.

    Cuts a torn last line off first; compacts the file when it has grown past twice the cap.
    """
    if os.path.islink(path):  # never ours (nothing is followed): a new regular file takes its place
        return _replace(io, path, new if keep_ids else [{"id": n, **entry} for n, entry in enumerate(new, 1)])
    raw = read_bytes(path) or b""
    if raw and not raw.endswith(b"\n"):
        _cut_torn_tail(io, path, raw)
        raw = raw[: raw.rfind(b"\n") + 1]
    existing = read_entries(path) if raw else []
    next_id = max((entry["id"] for entry in existing), default=0) + 1
    if next_id + len(new) - 1 > MAX_ID:
        raise Conflict(f"the ids of the history {path.name} are used up (the newest is {next_id - 1})")
    added = new if keep_ids else [{"id": next_id + n, **entry} for n, entry in enumerate(new)]
    lines = b"".join(orjson.dumps(entry) + b"\n" for entry in added)
    if len(existing) + len(added) > 2 * max(retention.max_entries, 1):
        io.replace_durably(path, _lines(kept(existing + added, now, retention)))
    else:
        io.append_durably(path, lines)
    return added


def _cut_torn_tail(io: FileIO, path: Path, raw: bytes) -> None:
    """Drop the partial line a crash left at the end of a history file."""
    keep = raw.rfind(b"\n") + 1
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
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

    def __init__(self, data_dir: Path, io: FileIO, locks: LockTable, retention: Callable[[str], Retention]) -> None:
        self.data_dir = data_dir
        self.io = io
        self._locks = locks
        self._retention = retention

    def directory(self, project: str) -> Path:
        return self.data_dir / "projects" / check_id(project, "projectId") / "history"

    def path(self, project: str, task: str) -> Path:
        return id_path(self.directory(project), check_id(task, "taskId"), ".jsonl")

    def add(
        self, project: str, task: str, entries: list[object], now: str, announce: Announce | None = None
    ) -> list[JSONObject]:
        """Validate every entry (InvalidBody changes nothing), then append them all in one durable write.

        ``announce(added)`` runs once they are durable, still holding the task's lock, so that what it
        records (the change log) is in the same order as the ids.
        """
        retention = self._retention(project)
        made = [validate_entry(entry, check_id(task, "taskId"), now, retention) for entry in entries]
        if not made:
            raise InvalidBody("no entries to add: send an entry object or a non-empty list of them")
        path = self.path(project, task)
        self.io.make_dirs(path.parent)
        if not path.parent.resolve().is_relative_to((self.data_dir / "projects").resolve()):
            raise InvalidRequest(f"the history of project {project} leads outside the data directory; not followed")
        with self._locks.document(project, f"history/{task}"):
            _refuse_a_directory(path, project, task)
            # Entries without a createdAt of their own are stamped now, inside the lock, so that their times
            # go the same way as their ids even when other processes append to the task at the same moment.
            stamp = now_timestamp()
            expires = format_timestamp(parse_timestamp(stamp) + timedelta(days=retention.ttl_days))
            for entry, given in zip(made, entries, strict=True):
                if not isinstance(given, dict) or given.get("createdAt") is None:
                    entry["createdAt"], entry["expiresAt"] = stamp, expires
            added = append(self.io, path, made, stamp, retention)
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
        path = self.path(project, task)
        self.io.make_dirs(path.parent)
        if not path.parent.resolve().is_relative_to((self.data_dir / "projects").resolve()):
            raise InvalidRequest(f"the history of project {project} leads outside the data directory; not followed")
        with self._locks.document(project, f"history/{task}"):
            _refuse_a_directory(path, project, task)
            existing = [] if os.path.islink(path) else read_entries(path)
            last = max((entry["id"] for entry in existing), default=0)
            new = [entry for entry in entries if entry["id"] > last]
            if new:
                added = append(self.io, path, new, now_timestamp(), self._retention(project), keep_ids=True)
                entries_added = [entry for entry in added if len(entry) > 1]  # not a tombstone
                if announce is not None and entries_added:
                    announce(entries_added)
            return new

    def last_id(self, project: str, task: str) -> int:
        """The id the log has reached (a removed newest entry's tombstone counts); 0 for none."""
        return max((entry["id"] for entry in read_entries(self.path(project, task))), default=0)

    def entries(self, project: str, task: str, now: str) -> list[JSONObject]:
        """Every entry a read may see, oldest first."""
        return visible(read_entries(self.path(project, task)), now, self._retention(project))

    def read(self, project: str, task: str, query: HistoryQuery, now: str) -> tuple[list[JSONObject], int]:
        """A page of a task's entries (ordered by createdAt, then id) and the number of all matches."""
        return self._read_tasks(project, [task], query, now)

    def read_all(self, project: str, query: HistoryQuery, now: str) -> tuple[list[JSONObject], int]:
        """A page of the entries of every task of a project (ordered by createdAt, then task, then id)."""
        return self._read_tasks(project, self.tasks(project), query, now)

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
        """The tasks of a project that have a history file."""
        try:
            names = os.listdir(self.directory(project))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(name[:-6] for name in names if name.endswith(".jsonl") and is_valid_id(name[:-6]))

    def delete(self, project: str, task: str, now: str) -> int:
        """Delete a task's history; return how many entries a read would have shown.

        The file keeps a tombstone of the newest id (``{"id": N}``), so the task's next entry is N + 1.
        """
        path = self.path(project, task)
        with self._locks.document(project, f"history/{task}"):
            _refuse_a_directory(path, project, task)
            entries = read_entries(path)
            count = len(visible(entries, now, self._retention(project)))
            if entries:  # a tombstone of the newest keeps ids going on from it
                tombstone = _lines([{"id": max(int(entry["id"]) for entry in entries)}])
                if read_bytes(path) != tombstone:
                    self.io.replace_durably(path, tombstone)
            else:
                self.io.unlink_durably(path)
        return count

    def forget(self, project: str, task: str) -> None:
        """Remove a task's history file altogether (the task itself is deleted: its ids may start again)."""
        path = self.path(project, task)
        with self._locks.document(project, f"history/{task}"):
            if os.path.isdir(path) and not os.path.islink(path):
                return  # not a log of ours: 'storehouse check' names it, and it is left for a person to see
            self.io.unlink_durably(path)

    def oldest(self, project: str, task: str, now: str) -> str | None:
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

        A problem is a file that is not a ``<taskId>.jsonl`` regular file, a line that is not an entry, or a
        torn last line (a crash cut an append short; reads skip it and the next append removes it).
        """
        problems: list[str] = []
        settings = read_bytes(self.directory(project).parent / "settings.json")
        if settings is not None and not _is_settings(settings):
            problems.append(f"{project}/settings.json: not valid settings; the defaults apply until they are set again")
        try:
            names = sorted(os.listdir(self.directory(project)))
        except (FileNotFoundError, NotADirectoryError):
            return 0, problems
        for name in names:
            where = f"{project}/history/{name}"
            if is_temp_name(name):
                problems.append(f"{where}: a leftover temp file")
                continue
            if not name.endswith(".jsonl") or not is_valid_id(name[:-6]):
                problems.append(f"{where}: not a history file (<taskId>.jsonl)")
                continue
            raw = read_bytes(self.directory(project) / name)
            if raw is None:
                problems.append(f"{where}: is a symlink, a directory or unreadable")
                continue
            lines = raw.split(b"\n")
            for number, line in enumerate(lines[:-1], 1):
                if not _is_entry(line):
                    problems.append(f"{where}: line {number} is not a history entry")
            if lines[-1]:
                problems.append(f"{where}: a torn last line (a crash cut an append short); the next append removes it")
        return len(names), problems

    def prune(self, project: str, now: str) -> int:
        """Physically remove the entries no read can see any more (expired, or beyond the cap); return how many.

        When a task's newest entry is hidden, a tombstone of its id stays (``{"id": N}``) so ids never restart.
        """
        retention = self._retention(project)
        removed = 0
        for task in self.tasks(project):
            with self._locks.document(project, f"history/{task}"):
                removed += self._prune_task(project, task, now, retention)
        return removed

    def change_retention(self, project: str, retention: Retention, now: str, write: Callable[[], None]) -> None:
        """Switch a project to new retention settings (``write`` stores them), holding every writer off.

        What the old settings hide is removed first, so a higher cap or a longer ttl never brings back an
        entry that reads stopped showing: the new settings apply to the entries that were still visible.
        """
        old = self._retention(project)
        with self._locks.project_exclusive(project):
            if retention.max_entries > old.max_entries or retention.ttl_days > old.ttl_days:
                for task in self.tasks(project):
                    self._prune_task(project, task, now, old)
            write()

    def _prune_task(self, project: str, task: str, now: str, retention: Retention) -> int:
        path = self.path(project, task)
        if os.path.isdir(path) or os.path.islink(path):
            return 0  # not a log of ours: 'storehouse check' names it, and it is left for a person to see
        everything = read_entries(path)
        keep = kept(everything, now, retention)
        data = _lines(keep)
        if read_bytes(path) == data:
            return 0  # nothing hidden, nothing damaged: leave the file alone
        self.io.replace_durably(path, data)
        return sum(1 for entry in everything if len(entry) > 1) - sum(1 for entry in keep if len(entry) > 1)


def _replace(io: FileIO, path: Path, added: list[JSONObject]) -> list[JSONObject]:
    io.replace_durably(path, _lines(added))
    return added


def _lines(entries: list[JSONObject]) -> bytes:
    return b"".join(orjson.dumps(entry) + b"\n" for entry in entries)


def _refuse_a_directory(path: Path, project: str, task: str) -> None:
    """Conflict when a history file's name is taken by a directory (made by hand): nothing can replace it."""
    if os.path.isdir(path) and not os.path.islink(path):
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
