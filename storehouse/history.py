"""Task history: one JSON Lines file per task, appended durably, read with exact retention (DESIGN section 4).

``projects/<projectId>/history/<taskId>.jsonl`` holds one entry a line. An append is a single write of whole
lines followed by an fsync (``FileIO.append_durably``), made while the task's lock is held, so lines of two
writers never interleave and ``id`` grows by one per entry. A crash can leave a torn last line: readers skip
it, and the next append cuts it off first. A failed append (a full disk) leaves the file as it was.

Retention is applied on every read, whatever the clean-up last did: an entry past its ``expiresAt`` is never
returned, nor more than the newest ``max_entries``. The file compacts itself (an atomic rewrite of the
entries still kept) once it holds more than twice ``max_entries`` lines, so it stays small by itself.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import orjson

from .errors import InvalidBody, InvalidRequest, StorageError
from .fsio import FileIO, is_temp_name, read_bytes
from .ids import check_id, id_path, is_valid_id
from .locks import LockTable
from .models import JSONObject, format_timestamp, normalize_timestamp, parse_timestamp, type_name

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
    if kind not in TYPES:
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
    except ValueError:
        raise InvalidBody(f"createdAt must be an RFC 3339 timestamp, got {data['createdAt']!r}") from None
    entry["createdAt"] = created
    entry["expiresAt"] = format_timestamp(parse_timestamp(created) + timedelta(days=retention.ttl_days))
    unknown = sorted(set(data) - {"id", "taskId", "type", "metadata", "createdAt", "expiresAt", *TEXT_FIELDS})
    if unknown:
        raise InvalidBody(f"unknown field {unknown[0]!r} in a history entry")
    return entry


def read_entries(path: Path) -> list[JSONObject]:
    """Every whole, parseable entry line of a history file, in file order (a torn or damaged line is skipped)."""
    raw = read_bytes(path)
    if not raw:
        return []
    entries = []
    for line in raw.split(b"\n")[:-1]:  # after the last newline is at most a torn line: never an entry
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("id"), int):
            entries.append(entry)
    return entries


def visible(entries: list[JSONObject], now: str, retention: Retention) -> list[JSONObject]:
    """What a read may return: not expired, and only the newest ``max_entries`` (oldest first)."""
    live = [entry for entry in entries if str(entry.get("expiresAt", "")) > now]
    return live[-retention.max_entries :] if retention.max_entries else []


def append(io: FileIO, path: Path, new: list[JSONObject], now: str, retention: Retention) -> list[JSONObject]:
    """Append entries (from ``validate_entry``) to a task's history; hold the task's lock. Returns them with ids.

    Cuts a torn last line off first; compacts the file when it has grown past twice the cap.
    """
    raw = read_bytes(path) or b""
    if raw and not raw.endswith(b"\n"):
        _cut_torn_tail(io, path, raw)
        raw = raw[: raw.rfind(b"\n") + 1]
    existing = read_entries(path) if raw else []
    next_id = max((entry["id"] for entry in existing), default=0) + 1
    added = [{"id": next_id + n, **entry} for n, entry in enumerate(new)]
    lines = b"".join(orjson.dumps(entry) + b"\n" for entry in added)
    if len(existing) + len(added) > 2 * max(retention.max_entries, 1):
        everything = existing + added
        kept = visible(everything, now, retention)
        if not kept or kept[-1] is not everything[-1]:
            kept.append(everything[-1])  # the newest line stays, even expired: ids go on from it, never back to 1
        io.replace_durably(path, b"".join(orjson.dumps(entry) + b"\n" for entry in kept))
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

    def add(self, project: str, task: str, entries: list[object], now: str) -> list[JSONObject]:
        """Validate every entry (InvalidBody changes nothing), then append them all in one durable write."""
        retention = self._retention(project)
        made = [validate_entry(entry, check_id(task, "taskId"), now, retention) for entry in entries]
        if not made:
            raise InvalidBody("no entries to add: send an entry object or a non-empty list of them")
        path = self.path(project, task)
        self.io.make_dirs(path.parent)
        if not path.parent.resolve().is_relative_to((self.data_dir / "projects").resolve()):
            raise InvalidRequest(f"the history of project {project} leads outside the data directory; not followed")
        with self._locks.document(project, f"history/{task}"):
            return append(self.io, path, made, now, retention)

    def entries(self, project: str, task: str, now: str) -> list[JSONObject]:
        """Every entry a read may see, oldest first."""
        return visible(read_entries(self.path(project, task)), now, self._retention(project))

    def read(self, project: str, task: str, query: HistoryQuery, now: str) -> tuple[list[JSONObject], int]:
        """A page of a task's entries and the number of all matches."""
        matching = [entry for entry in self.entries(project, task, now) if query.matches(entry)]
        return _page(matching, query), len(matching)

    def read_all(self, project: str, query: HistoryQuery, now: str) -> tuple[list[JSONObject], int]:
        """A page of the entries of every task of a project (ordered by createdAt, then task, then id)."""
        matching = []
        for task in self.tasks(project):
            matching += [entry for entry in self.entries(project, task, now) if query.matches(entry)]
        matching.sort(key=lambda entry: (str(entry["createdAt"]), str(entry["taskId"]), int(entry["id"])))
        return _page(matching, query), len(matching)

    def tasks(self, project: str) -> list[str]:
        """The tasks of a project that have a history file."""
        try:
            names = os.listdir(self.directory(project))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(name[:-6] for name in names if name.endswith(".jsonl") and is_valid_id(name[:-6]))

    def delete(self, project: str, task: str, now: str) -> int:
        """Delete a task's history; return how many entries a read would have shown."""
        path = self.path(project, task)
        with self._locks.document(project, f"history/{task}"):
            shown = len(visible(read_entries(path), now, self._retention(project)))
            self.io.unlink_durably(path)
        return shown

    def oldest(self, project: str, task: str, now: str) -> str | None:
        shown = self.entries(project, task, now)
        return min(str(entry["createdAt"]) for entry in shown) if shown else None

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
        try:
            names = sorted(os.listdir(self.directory(project)))
        except (FileNotFoundError, NotADirectoryError):
            return 0, []
        problems: list[str] = []
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

        The newest line of a task stays even when it is hidden, so that ids go on from it and never restart.
        """
        retention = self._retention(project)
        removed = 0
        for task in self.tasks(project):
            path = self.path(project, task)
            with self._locks.document(project, f"history/{task}"):
                everything = read_entries(path)
                keep = visible(everything, now, retention)
                if everything and (not keep or keep[-1] is not everything[-1]):
                    keep.append(everything[-1])
                if len((read_bytes(path) or b"").splitlines()) == len(keep):
                    continue  # nothing hidden, nothing damaged: leave the file alone
                self.io.replace_durably(path, b"".join(orjson.dumps(entry) + b"\n" for entry in keep))
                removed += len(everything) - len(keep)
        return removed


def _is_entry(line: bytes) -> bool:
    try:
        entry = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(entry, dict) and isinstance(entry.get("id"), int)


def _page(entries: list[JSONObject], query: HistoryQuery) -> list[JSONObject]:
    ordered = entries if query.order == "asc" else entries[::-1]
    return ordered[query.offset : query.offset + query.limit]
