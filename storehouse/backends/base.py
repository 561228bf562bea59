"""The narrow interface between storehouse's rules (``store.py``) and a storage engine.

The HTTP API, the CLI and the library all reach storage through ``Storehouse``, and ``Storehouse`` only
through this protocol, so a second engine is one new module here and nothing else changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from ..index import Change, FeedState, ListQuery, Page
from ..kinds import EXECUTION, Kind
from ..models import JSONObject

T = TypeVar("T")
Builder = Callable[[JSONObject | None], JSONObject]
"""Given the stored document (None if absent), return the document to store; may raise to refuse."""

Progress = Callable[[int, int], None]
"""Called as (done, total) while a long operation runs."""


@dataclass(frozen=True)
class ProjectInfo:
    """A project: how many executions it holds and what they cost, and how many tasks."""

    id: str
    execution_count: int
    last_started_at: str | None
    cost_usd: float = 0.0
    task_count: int = 0


@dataclass(frozen=True)
class Daily:
    """Runs by day: (day, status, runs, cost in nano-dollars, tokens) rows, and every (day, duration in ms) pair
    sorted by day then duration."""

    counts: list[tuple[str, str, int, int, int]]
    durations: list[tuple[str, int]]


LABELS = {"executions": "runs", "tasks": "tasks", "history": "history logs", "settings": "settings files"}
"""What a report calls the documents of each folder of a project (and its settings.json)."""


def _labelled(by_folder: dict[str, int]) -> dict[str, int]:
    return {LABELS.get(folder, folder): count for folder, count in by_folder.items()}


@dataclass
class ReindexReport:
    """What a rebuild of the index found: ``indexed`` documents in all, ``by_folder`` of each kind
    (``{"executions": 21, "tasks": 5}``), and ``invalid`` files skipped."""

    projects: int = 0
    indexed: int = 0
    invalid: int = 0
    by_folder: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The documents indexed, by their name for a person: ``{"runs": 21, "tasks": 5}``."""
        return _labelled(self.by_folder)


@dataclass
class CheckReport:
    """What ``check`` verified, every problem it found (empty when all is well), and notes: what is worth
    knowing but is not damage (history of a task that has no task document), which leave the verdict ok."""

    projects: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class BackupReport:
    """What a backup copied: projects, files (``by_folder`` of each kind: ``{"executions": 54, "tasks": 8,
    "history": 6, "settings": 2}``) and their bytes, and how long it took."""

    projects: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    by_folder: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """The files copied, by their name for a person: ``{"runs": 54, "tasks": 8, "history logs": 6, ...}``."""
        return _labelled(self.by_folder)


class Backend(Protocol):
    """A storage engine for execution documents. Every method is safe to call from many threads."""

    def read(self, project: str, item: str, kind: Kind = EXECUTION) -> JSONObject | None:
        """The stored document, or None if absent. Raises NotFound if it exists but cannot be read as one."""
        ...

    def write(
        self, project: str, item: str, build: Builder, if_match: int | None, kind: Kind = EXECUTION
    ) -> JSONObject:
        """Atomically replace a document by ``build(current)`` and return the stored document.

        Holds the document against every other writer (any process) from reading ``current`` to the end, so
        read-modify-write is safe. Raises PreconditionFailed if ``if_match`` is not the stored version.
        Durable before it returns, and indexed (with its change logged) before it returns.
        """
        ...

    def delete(self, project: str, item: str, if_match: int | None, kind: Kind = EXECUTION) -> None:
        """Remove a document durably. Raises NotFound, or PreconditionFailed when ``if_match`` is stale."""
        ...

    def mark(self, project: str, kind: Kind, name: str) -> None:
        """Leave a named mark (work that follows a write, which a crash could cut short); survives the process."""
        ...

    def unmark(self, project: str, kind: Kind, name: str) -> None:
        """Remove a mark: the work is done."""
        ...

    def marks(self, project: str, kind: Kind, prefix: str) -> list[str]:
        """The marks left whose name starts with prefix."""
        ...

    def query(self, project: str, kind: Kind, ask: Callable[[sqlite3.Connection, int | None], T]) -> T:
        """Run a read-only query of the index: ask(connection, the project's key for kind, or None)."""
        ...

    def delete_all(self, project: str, kind: Kind = EXECUTION, announce: bool = True) -> int:
        """Remove every document of a kind of a project durably; return how many went. Each delete is logged in
        the change log unless ``announce`` is False (a project delete logs one change for all)."""
        ...

    def delete_where(self, project: str, query: ListQuery) -> int:
        """Remove durably every execution the query's filters match (each checked again under its lock, and
        each there or gone after a crash); return how many went."""
        ...

    def run_floor(self, project: str, cutoff: str | None, keep: int | None) -> tuple[str, str] | None:
        """The (startedAt, id) below which runs are hidden: started before cutoff, or not among the newest keep."""
        ...

    def forget_project(self, project: str) -> None:
        """Remove the empty directories of a project whose documents were all deleted."""
        ...

    def page(self, project: str, query: ListQuery) -> Page:
        """A page of summaries from the index."""
        ...

    def stats(self, project: str, floor: tuple[str, str] | None = None) -> JSONObject:
        """Counts, cost, tokens and durations of a project (of its runs at or above floor)."""
        ...

    def daily(self, project: str, since: str, until: str, floor: tuple[str, str] | None = None) -> Daily:
        """Runs started in [since, until) by day (see ``Daily``), at or above floor."""
        ...

    def last_started(self, project: str) -> str | None:
        """The newest ``startedAt`` of a project's executions; None if it has none."""
        ...

    def projects(self) -> list[ProjectInfo]:
        """Every project, sorted by id."""
        ...

    def reindex(self, project: str | None, progress: Progress | None) -> ReindexReport:
        """Rebuild the index of one project (or all) from the files."""
        ...

    def check(self, progress: Progress | None) -> CheckReport:
        """Verify every file parses and validates, and that the index matches the files."""
        ...

    def backup(self, dest: Path, progress: Progress | None) -> BackupReport:
        """Copy the data consistently into dest (absent or an empty directory) while others keep writing.

        The copy holds every write acknowledged before the call began. Raises InvalidRequest if dest is not
        empty, StorageError (StorageFull) if a copy fails.
        """
        ...

    def log_change(self, project: str, kind: str, data: bytes) -> None:
        """Add a change (``history.appended`` ..., JSON object data) to the change log behind the event stream."""
        ...

    def changes(self, project: str, after: int, limit: int) -> tuple[FeedState, list[Change]]:
        """The change log's state and up to limit changes of a project after seq ``after``, consistently."""
        ...

    def feed_state(self) -> FeedState:
        """Where the change log is: its epoch, its newest seq and the seq up to which it was pruned."""
        ...

    def close(self) -> None:
        """Release files, locks and connections."""
        ...
