"""Storehouse, the library: every operation of the HTTP API, in-process, sync (``Storehouse``) and async
(``AsyncStorehouse``), safe to use from several processes on one data directory at once.

``record()`` is the natural way for an agent engine to use it::

    with Storehouse("./data").record("demo", "triage") as run:
        run.add_tokens(input=1200, output=300)
        run.output = answer
    # saved as running on entry; completed (with duration) on exit, or failed with the error and re-raised
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
import sqlite3
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import orjson

from .backends import Backend, Builder, CheckReport, FileBackend, ProjectInfo, ReindexReport
from .backends.base import BackupReport, Progress
from .changes import BATCH, ChangeBatch, ChangeEvent, Ticker, event_id, parse_event_id, start
from .config import Settings
from .daily import DEFAULT_DAYS, daily_stats
from .errors import Conflict, InvalidBody, InvalidId, InvalidParameter, InvalidRequest, NotFound, StorageError
from .executions import patch, prepare
from .fsio import FileIO, read_bytes
from .history import (
    DEFAULT_MAX_ENTRIES,
    DEFAULT_TTL_DAYS,
    HISTORY_SETTINGS,
    RUN_SETTINGS,
    SETTINGS,
    HistoryStore,
    Retention,
)
from .history_index import HistoryIndex
from .ids import check_id, new_id
from .index import ListQuery, Page
from .kinds import EXECUTION
from .lane import Lane
from .locks import LockTable
from .models import (
    FINAL_STATUSES,
    JSONObject,
    JSONValue,
    check_depth,
    format_timestamp,
    json_fields,
    now_timestamp,
    parse_timestamp,
)
from .queries import (
    DEFAULT_HISTORY_LIMIT,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_OFFSET,
    HistoryPage,
    make_history_query,
    make_list_query,
)
from .recorder import Run, start_entry
from .task_ops import AsyncTaskOperations, TaskOperations
from .tasks import TASK
from .transfer import ImportReport, export, import_lines

EXPORT_BATCH = 500  # lines of an export made per trip to a worker thread
RESERVED_IDS = frozenset({"stats", "export"})  # execution ids that a route of the same path would hide
MAX_EVENT_ENTRIES = 64 << 10  # history entries larger than this (encoded) are left out of their change event

# A caller that does not page (the web page or client of an earlier release) still gets every project of a
# data directory with up to this many, and no answer is larger than a page of executions at MAX_LIMIT.
DEFAULT_PROJECT_LIMIT = MAX_LIMIT

log = logging.getLogger("storehouse")
P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class ProjectPage:
    """One page of projects, by id, and the number of all projects."""

    items: list[ProjectInfo]
    total: int


def _check_page(limit: int, offset: int) -> None:
    """The checks (and messages) of the executions list's limit and offset."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidParameter(f"offset must be 0 or more, got {offset!r}")
    if offset > MAX_OFFSET:
        raise InvalidParameter(f"offset must be at most {MAX_OFFSET} (2**63 - 1), got {offset}")


class Storehouse(TaskOperations):
    """The execution history kept in one data directory: runs, tasks, and the history of each task.

    Every write is atomic and durable before it returns; reads never see a partial document. Errors are
    ``StorehouseError`` subclasses (``NotFound``, ``InvalidBody``, ``PreconditionFailed``, ``StorageFull`` ...).
    """

    def __init__(
        self, data_dir: Path | str | None = None, *, settings: Settings | None = None, backend: Backend | None = None
    ) -> None:
        self.settings = settings or Settings.load()
        if data_dir is not None:
            self.settings = self.settings.with_changes(data_dir=Path(data_dir))
        self.backend: Backend = backend or FileBackend(
            self.settings.data_dir, FileIO(self.settings.durable), kinds=(EXECUTION, TASK)
        )
        files = self.backend if isinstance(self.backend, FileBackend) else None
        self._locks = files.locks if files else LockTable.open(self.settings.data_dir / "locks")
        self._repaired: set[str] = set()
        # project -> (what os.stat said of its settings.json, the values read then): see _settings_values
        self._settings_seen: dict[str, tuple[tuple[int, int, int, int] | None, dict[str, object]]] = {}
        self._history = HistoryStore(
            files.data_dir if files else self.settings.data_dir,
            files.io if files else FileIO(self.settings.durable),
            self._locks,
            self._retention,
            HistoryIndex(files.index) if files else None,
        )

    def close(self) -> None:
        """Release the files and connections; the object is unusable afterwards."""
        self.backend.close()

    def __enter__(self) -> Storehouse:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- executions ------------------------------------------------------------------------------------
    def create_execution(self, project: str, execution: JSONObject | None = None, **fields: JSONValue) -> JSONObject:
        """Store a new execution (id generated unless given) and return it. Conflict if the id exists."""
        body = {**(execution or {}), **fields}
        check_depth(body, self.settings.max_json_depth, "the execution")
        item = body.get("id")
        item = new_id() if item is None else check_id(item, "id")

        def build(current: JSONObject | None) -> JSONObject:
            if current is not None:
                raise Conflict(f"execution {item} already exists in project {project}; use PUT or PATCH to change it")
            return prepare(body, project, item, None, now_timestamp())

        return self._write(project, item, build, None, checked=True)

    def put_execution(
        self, project: str, execution_id: str, execution: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        """Create or replace an execution; ``version`` 1 in the result means it was created."""
        check_depth(execution, self.settings.max_json_depth, "the execution")
        return self._write(
            project,
            execution_id,
            lambda current: prepare(execution, project, execution_id, current, now_timestamp()),
            if_match,
            checked=True,
        )

    def patch_execution(
        self, project: str, execution_id: str, changes: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        """Apply a JSON merge patch (e.g. ``{"status": "completed"}``) and return the new document. NotFound for
        a run the project's retention hides, as a read says (it is gone, whether or not the clean-up ran)."""
        check_depth(changes, self.settings.max_json_depth, "the patch")

        def build(current: JSONObject | None) -> JSONObject:
            shown = None if current is not None and self._hidden(project, current) else current
            return patch(shown, changes, project, execution_id, now_timestamp())

        return self._write(
            project,
            execution_id,
            build,
            if_match,
            checked=True,
        )

    def restore_execution(self, project: str, execution_id: str, build: Builder) -> JSONObject:
        """Write an execution document as it was exported (import): ``build(current)`` returns it as it is,
        version and times included, or raises to keep what is stored."""
        return self._write(project, execution_id, build, None)

    def export(
        self, project: str, kind: str = "project", format: str = "jsonl", **filters: JSONValue
    ) -> Iterator[bytes]:
        """The lines of an export of a project (``kind`` project, executions, tasks or history; ``format``
        jsonl or csv), streamed; see ``storehouse.transfer``. Bad arguments raise before the first line."""
        return export(self, project, kind, format, **filters)

    def import_lines(self, lines: Iterable[bytes | str], project: str | None = None) -> ImportReport:
        """Import the lines of an export: created, updated, skipped or rejected, line by line (a rejected line
        changes nothing). Idempotent by id and version. With ``project``, every record goes into that project.
        See ``storehouse.transfer``."""
        return import_lines(self, lines, project)

    def _write(
        self, project: str, execution_id: str, build: Builder, if_match: int | None, *, checked: bool = False
    ) -> JSONObject:
        """Write what ``build`` makes of the current document. ``checked``: the caller checked the depth of what
        it adds, so the document is no deeper than that or the stored one (a merge patch is never deeper than
        both) and is not walked again (a third of a create's depth checks; the rest build their own)."""
        if execution_id in RESERVED_IDS:
            raise InvalidId(
                f"{execution_id!r} is reserved (GET .../executions/{execution_id} is a route); pick another"
            )
        limit = self.settings.max_json_depth

        def deep_checked(current: JSONObject | None) -> JSONObject:
            document = build(current)
            check_depth(document, limit, f"execution {execution_id}")
            return document

        return self.backend.write(
            check_id(project, "projectId"), check_id(execution_id, "executionId"), build if checked else deep_checked,
            if_match,
        )  # fmt: skip

    def get_execution(self, project: str, execution_id: str) -> JSONObject:
        """The full document. NotFound if absent."""
        check_id(project, "projectId")
        check_id(execution_id, "executionId")
        document = self.backend.read(project, execution_id)
        if document is None or self._hidden(project, document):
            raise NotFound(f"execution {execution_id} not found in project {project}")
        return document

    def _hidden(self, project: str, document: JSONObject) -> bool:
        """Whether the project's run retention hides a run (read from its file)."""
        floor = self._run_floor(project)
        return floor is not None and (str(document["startedAt"] or ""), str(document["id"])) < floor

    def _run_floor(self, project: str) -> tuple[str, str] | None:
        """The (startedAt, id) below which the project's run retention hides runs, or None when it keeps all: runs
        that started more than ``runTtlDays`` ago, and all but the newest ``maxRuns`` by startedAt (then id)."""
        ttl, keep = self.run_retention(project)
        if ttl is None and keep is None:
            return None
        cutoff = None if ttl is None else format_timestamp(parse_timestamp(now_timestamp()) - timedelta(days=ttl))
        return self.backend.run_floor(project, cutoff, keep)

    def delete_execution(self, project: str, execution_id: str, *, if_match: int | None = None) -> None:
        """Delete one execution durably. NotFound if absent, PreconditionFailed if ``if_match`` is stale."""
        check_id(project, "projectId")
        check_id(execution_id, "executionId")
        self._prune_capped(project)
        if self.run_retention(project)[0] is not None:  # a run the ttl hides is gone for a delete as for a read
            document = self.backend.read(project, execution_id)
            if document is not None and self._hidden(project, document):
                raise NotFound(f"execution {execution_id} not found in project {project}")
        self.backend.delete(project, execution_id, if_match)

    def _prune_capped(self, project: str) -> None:
        """Before a delete under ``maxRuns``: remove the runs the cap hides now, which the delete would otherwise
        bring back into the newest maxRuns (a hidden run never shows again)."""
        if self.run_retention(project)[1] is not None:
            self.prune_runs(project)

    def delete_executions(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        q: str | None = None,
    ) -> int:
        """Delete the executions the filters match (those of ``list_executions``; a list of statuses is their
        union), or every execution of the project when none is given; return how many were deleted.

        Each run is deleted atomically and durably (after a crash it is there or gone, and the index follows
        the files), and checked again under its lock: a run changed meanwhile to no longer match stays. A run
        hidden by the project's run retention is not counted (it is gone already; without filters, its file
        goes too and counts). Bad filters raise InvalidParameter before anything is deleted.
        """
        query = make_list_query(
            status=status,
            task_id=task_id,
            tag=tag,
            started_after=started_after,
            started_before=started_before,
            sort="-startedAt",
            limit=1,
            offset=0,
            cursor=None,
            q=q,
        )
        check_id(project, "projectId")
        if not query.filtered:
            return self.backend.delete_all(project)
        self._prune_capped(project)
        return self.backend.delete_where(project, replace(query, floor=self._run_floor(project)))

    def delete_project(self, project: str) -> dict[str, int]:
        """Delete a project: its executions, tasks, task history and settings, and then its directories.

        Returns the counts: ``{"executions", "tasks", "history" (entries a read showed), "settings" (1 if the
        project had its own)}``. The change feed gets one ``project.deleted`` event carrying them, not one event
        per document. Each document is deleted atomically and durably; a crash part-way leaves a project with
        fewer documents, and deleting it again finishes. A write that races with the delete either lands before
        (and is deleted) or after it (and starts the project again). What was not made by storehouse (a file or
        directory made by hand, a symlink) is left where it is, and so is its directory.
        """
        check_id(project, "projectId")
        with self._locks.exclusive(f"graph/{project}"):  # no task operation of any process meanwhile
            executions = self.backend.delete_all(project, EXECUTION, announce=False)
            tasks = self.backend.delete_all(project, TASK, announce=False)
            now = now_timestamp()
            history = 0
            for task in self._history.tasks(project):
                history += self._history.count(project, task, now)
                self._history.forget(project, task)
            settings = self._forget_settings(project)
            self.backend.forget_project(project)
        counts = {"executions": executions, "tasks": tasks, "history": history, "settings": settings}
        self.backend.log_change(project, "project.deleted", orjson.dumps({"projectId": project, **counts}))
        return counts

    def _forget_settings(self, project: str) -> int:
        """Remove a project's settings.json (a symlink in its place goes itself); 1 if there was one."""
        with self._history.project_folder(project) as folder:
            if folder is None:
                return 0
            path = self._history.directory(project).parent / SETTINGS
            return int(self._history.io.unlink_durably(path, folder))

    def prune_runs(self, project: str) -> int:
        """Remove from the files the runs that the project's run retention hides (``runTtlDays``, ``maxRuns``);
        return how many went. Reads never show them either way: this frees the space. Each run is checked again
        under its lock (one patched to a later ``startedAt`` meanwhile stays), and a crash part-way loses no run
        that retention keeps."""
        floor = self._run_floor(check_id(project, "projectId"))
        if floor is None:
            return 0
        return self.backend.delete_where(project, ListQuery(before=floor))

    def list_executions(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        sort: str = "-startedAt",
        limit: int = DEFAULT_LIMIT,
        offset: int = 0,
        cursor: str | None = None,
        q: str | None = None,
    ) -> Page:
        """A page of summaries, newest ``startedAt`` first by default; ``total`` counts every match.

        ``q`` keeps the runs whose id starts with it or whose name contains it (ASCII letters in either case).

        Bad values raise InvalidParameter naming the parameter. Served by the index: ~0.1-1 ms a page.
        """
        query = make_list_query(
            status=status,
            task_id=task_id,
            tag=tag,
            started_after=started_after,
            started_before=started_before,
            sort=sort,
            limit=limit,
            offset=offset,
            cursor=cursor,
            q=q,
        )
        floor = self._run_floor(check_id(project, "projectId"))
        return self.backend.page(project, query if floor is None else replace(query, floor=floor))

    def execution_stats(self, project: str) -> JSONObject:
        """Counts by status, cost, tokens and durations over every execution of a project (that its run
        retention keeps)."""
        return self.backend.stats(check_id(project, "projectId"), self._run_floor(project))

    def daily_stats(self, project: str, days: int = DEFAULT_DAYS, until: str | None = None) -> JSONObject:
        """Runs by status, cost, tokens and p50/p95 duration for each of ``days`` days ending ``until``
        (``YYYY-MM-DD``, UTC; default the day of the newest run). See ``storehouse.daily``."""
        return daily_stats(self.backend, project, days, until, self._run_floor(check_id(project, "projectId")))

    def list_projects(self, *, limit: int = DEFAULT_PROJECT_LIMIT, offset: int = 0) -> ProjectPage:
        """A page of the projects with executions, tasks or history, by id (each with its execution count and
        cost, and its task count), and how many there are in all. InvalidParameter for a bad limit or offset.

        The page bounds the answer, not the work: every project's figures are read from the index (four small
        queries each, ~1 ms per 20 projects here), as the total and the order need every project's name."""
        _check_page(limit, offset)
        found = {info.id: self._shown(info) for info in self.backend.projects()}
        for name in self.history_projects():
            found.setdefault(name, ProjectInfo(name, 0, None))
        names = sorted(found)
        return ProjectPage([found[name] for name in names[offset : offset + limit]], len(names))

    def _shown(self, info: ProjectInfo) -> ProjectInfo:
        """A project's figures without the runs its run retention hides."""
        floor = self._run_floor(info.id) if info.execution_count else None
        if floor is None:
            return info
        stats = self.backend.stats(info.id, floor)
        return replace(info, execution_count=int(stats["totalExecutions"]), cost_usd=float(stats["totalCostUSD"]))

    def reindex(self, project: str | None = None, progress: Progress | None = None) -> ReindexReport:
        """Rebuild the index of one project (or every project) from the files. NotFound for a project that
        has no runs, tasks or history."""
        report = self.backend.reindex(project, progress)
        if project is not None and not report.projects and project not in self.history_projects():
            raise NotFound(f"project {project} not found in {self.settings.data_dir}: there is nothing to reindex")
        return report

    def check(self, progress: Progress | None = None) -> CheckReport:
        """Verify that every file parses and validates (executions and history) and that the index matches."""
        report = self.backend.check(progress)
        for project in self._history.projects():
            files, problems = self._history.check(project)
            report.files += files
            report.problems += problems
            report.notes += self._orphan_history(project)
        return report

    def _orphan_history(self, project: str) -> list[str]:
        """A note naming the tasks of project that have a history but no task document. History is kept for
        any task id (the original system's tasks live elsewhere, and a run's ``record(task_id=...)`` logs to
        its task), so this is not damage; a task deleted here takes its history with it, so these are ids
        storehouse never held as tasks, or a typo."""
        try:
            orphans = [task for task in self._history.tasks(project) if not self._task_exists(project, task)]
        except InvalidRequest:  # a symlinked history folder: the history check names it
            return []
        if not orphans:
            return []
        shown = ", ".join(orphans[:10]) + (f" and {len(orphans) - 10} more" if len(orphans) > 10 else "")
        return [
            f"{project}: {len(orphans)} task(s) have history but no task document: {shown} (history may belong to "
            f"tasks kept elsewhere; 'storehouse history rm {project} TASK' deletes one)"
        ]

    def _task_exists(self, project: str, task: str) -> bool:
        try:
            return self.backend.read(project, task, TASK) is not None
        except NotFound:  # there, but damaged: the task check names it
            return True

    def backup(self, dest: Path | str, progress: Progress | None = None) -> BackupReport:
        """Copy the data directory into dest (a new or empty directory) while servers and others keep writing.

        The copy opens cleanly and holds every write acknowledged before the call began. InvalidRequest if
        dest is not empty (nothing is written then); StorageError if a read or write fails.
        """
        return self.backend.backup(Path(dest), progress)

    # -- the change feed ---------------------------------------------------------------------------------
    def changes(self, project: str, after: str | None = None, limit: int = BATCH) -> ChangeBatch:
        """The changes of a project after the event id ``after`` (oldest first, at most limit).

        Without ``after``, no changes and the position to follow from: the newest change. Every process's
        execution writes and deletes and history appends are in the log, without gaps or duplicates; a
        position that cannot be resumed gives a batch with ``reset`` set. InvalidParameter for a malformed id.
        """
        check_id(project, "projectId")
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise InvalidParameter(f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")
        asked = MAX_OFFSET if after is None else parse_event_id(after)[1]
        state, found = self.backend.changes(project, asked, limit)  # one snapshot: the state and the changes
        reset = start(state, after)[1]
        if reset is not None:
            found = []  # start again from the newest change
        events = [ChangeEvent(event_id(state.epoch, change.seq), change.kind, change.data) for change in found]
        head = event_id(state.epoch, state.head)
        last = events[-1].id if len(events) == limit else head
        return ChangeBatch(events, last, head, reset)

    def change_head(self) -> str:
        """The id of the newest change of any project: ``changes(project, after=it)`` gives what comes next."""
        state = self.backend.feed_state()
        return event_id(state.epoch, state.head)

    # -- task history ----------------------------------------------------------------------------------------
    def add_history(self, project: str, task_id: str, entries: JSONObject | Sequence[JSONValue]) -> list[JSONObject]:
        """Append one entry or a list to a task's history, durably; return them with their ids.

        Every entry is validated first: one bad entry raises InvalidBody and nothing is added.
        """
        batch: list[object] = [entries] if isinstance(entries, dict) else list(entries)
        check_depth(batch, self.settings.max_json_depth + 1, "a history entry")  # + 1: the list holding them
        announce = self._announcer(project, task_id)
        return self._history.add(check_id(project, "projectId"), task_id, batch, now_timestamp(), announce)

    def _announcer(self, project: str, task_id: str) -> Callable[[list[JSONObject]], None]:
        """What logs a history append in the change log (inside the task's lock, so events follow the ids)."""

        def announce(added: list[JSONObject]) -> None:
            try:
                self.backend.log_change(project, "history.appended", _appended(project, task_id, added))
            except (sqlite3.Error, StorageError):  # the entries are durable: the append succeeded all the same
                log.exception("could not log the history append of %s/%s in the change log", project, task_id)

        return announce

    def list_history(
        self,
        project: str,
        task_id: str | None = None,
        *,
        type: str | Iterable[str] | None = None,
        workspace_id: str | None = None,
        session_id: str | None = None,
        execution_id: str | None = None,
        since: str | None = None,
        until: str | None = None,
        limit: int = DEFAULT_HISTORY_LIMIT,
        offset: int = 0,
        order: str = "asc",
    ) -> HistoryPage:
        """A page of a task's history (or, without task_id, of every task of the project), oldest first by
        default; expired entries and entries beyond the cap are never returned."""
        query = make_history_query(
            type=type,
            workspace_id=workspace_id,
            session_id=session_id,
            execution_id=execution_id,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
            order=order,
        )
        self._repair_pending(check_id(project, "projectId"))
        if task_id is None:
            entries, total = self._history.read_all(project, query, now_timestamp())
        else:
            entries, total = self._history.read(project, check_id(task_id, "taskId"), query, now_timestamp())
        return HistoryPage(entries, total)

    def count_history(self, project: str, task_id: str) -> int:
        """How many entries a read of the task's history would return in all."""
        return self._history.count(check_id(project, "projectId"), task_id, now_timestamp())

    def delete_history(self, project: str, task_id: str) -> int:
        """Delete a task's history; return how many entries it showed. Its ids go on (the next is not 1)."""
        return self._history.delete(check_id(project, "projectId"), task_id, now_timestamp())

    def oldest_history(self, project: str, task_id: str) -> str | None:
        """The createdAt of the oldest entry a read would return, or None."""
        return self._history.oldest(check_id(project, "projectId"), task_id, now_timestamp())

    def history_projects(self) -> list[str]:
        """Every project that has a history directory, sorted."""
        return self._history.projects()

    def prune_history(self, project: str) -> int:
        """Remove expired entries (and entries beyond the cap) from the files now; return how many went."""
        return self._history.prune(check_id(project, "projectId"), now_timestamp())

    def history_settings(self, project: str) -> JSONObject:
        """A project's retention: ``{"historyTtlDays": 20, "historyMaxEntriesPerTask": 100, "runTtlDays": null,
        "maxRuns": null}`` (history's defaults until set; null for runs: every run is kept)."""
        check_id(project, "projectId")
        retention = self._retention(project)
        ttl, keep = self.run_retention(project)
        return {
            "historyTtlDays": retention.ttl_days,
            "historyMaxEntriesPerTask": retention.max_entries,
            "runTtlDays": ttl,
            "maxRuns": keep,
        }

    def run_retention(self, project: str) -> tuple[int | None, int | None]:
        """A project's run retention: (``runTtlDays``, ``maxRuns``), None for each that keeps every run."""
        values = self._settings_values(check_id(project, "projectId"))
        found = [values.get(name) for name in RUN_SETTINGS]
        ttl, keep = (value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
                     for value in found)  # fmt: skip
        return ttl, keep

    def set_history_settings(self, project: str, settings: JSONObject) -> JSONObject:
        """Change a project's retention (any key may be left out; ``runTtlDays`` and ``maxRuns`` may be null,
        keeping every run); InvalidBody for a bad value, and nothing changes.

        A lower ttl or cap applies to every read at once. A higher one applies from now on: what the old
        settings already hid is removed from the files first (history entries, and runs), and never shows again.
        """
        current = self.history_settings(project)
        if not isinstance(settings, dict):
            raise InvalidBody("settings must be a JSON object")
        unknown = sorted(set(settings) - set(current))
        if unknown:
            raise InvalidBody(f"unknown setting {unknown[0]!r}; the settings are {', '.join(current)}")
        for name, (low, high) in HISTORY_SETTINGS.items():
            value = settings.get(name, current[name])
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise InvalidBody(f"{name} must be a whole number from {low} to {high}, got {value!r}")
            current[name] = value
        old_runs = (current["runTtlDays"], current["maxRuns"])
        for name, (low, high) in RUN_SETTINGS.items():
            value = settings.get(name, current[name])
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
            ):
                raise InvalidBody(
                    f"{name} must be null (keep every run) or a whole number from {low} to {high}, got {value!r}"
                )
            current[name] = value
        if any(old is not None and (new is None or new > old)
               for old, new in zip(old_runs, (current["runTtlDays"], current["maxRuns"]), strict=True)):  # fmt: skip
            self.prune_runs(project)  # what the old settings hid stays hidden: it goes before they loosen
        path = self._history.directory(project).parent / SETTINGS

        def write() -> None:
            # In the project's directory opened without following a symlink (InvalidRequest if it is one, before
            # anything is made); a settings.json that is a symlink is replaced itself, never written through, as a
            # PUT replaces an execution file that is a symlink.
            with self._history.project_folder(project, create=True) as folder:
                assert folder is not None  # made, or refused
                data = orjson.dumps(current, option=orjson.OPT_INDENT_2) + b"\n"
                self._history.io.replace_durably(path, data, folder)

        retention = Retention(current["historyTtlDays"], current["historyMaxEntriesPerTask"])
        self._history.change_retention(project, retention, now_timestamp(), write)
        return current

    def restore_history(self, project: str, task_id: str, entries: list[JSONObject]) -> list[JSONObject]:
        """Append exported entries (validated, with their ids, ids growing) to a task's history; those whose id
        the log has reached are left out. Returns the ones appended."""
        check_id(project, "projectId")
        return self._history.restore(project, check_id(task_id, "taskId"), entries, self._announcer(project, task_id))

    def history_last_id(self, project: str, task_id: str) -> int:
        """The id a task's history log has reached, shown or not (0 for none): the next entry gets one more."""
        return self._history.last_id(check_id(project, "projectId"), check_id(task_id, "taskId"))

    def history_tasks(self, project: str) -> list[str]:
        """The tasks of a project that have a history log."""
        return self._history.tasks(check_id(project, "projectId"))

    def retention(self, project: str) -> Retention:
        """A project's history retention (ttl and cap)."""
        return self._retention(check_id(project, "projectId"))

    def has_history_settings(self, project: str) -> bool:
        """Whether the project has retention settings of its own stored (else the defaults apply). A
        ``settings.json`` that is a symlink is not followed and does not count; InvalidRequest if the project's
        directory is a symlink."""
        with self._history.project_folder(check_id(project, "projectId")) as folder:
            return folder is not None and read_bytes(Path(SETTINGS), folder) is not None

    def _settings_values(self, project: str) -> dict[str, object]:
        """The project's settings.json, read without following a symlink: a symlinked settings.json gives the
        defaults ('storehouse check' names it); InvalidRequest if the project's directory is a symlink.

        Every list and stats call asks (run retention), so the values are kept while one ``os.stat`` of the file
        says it is the same file, unchanged (inode, size, mtime, ctime: a write by any process replaces it, so
        all four change): a page cost 3-6x more when each call opened the directories and read the file. The
        stat reads no content, and a changed or new file is read again through the guard."""
        cached = self._settings_seen.get(project)
        seen = _stat_signature(os.path.join(self.settings.data_dir, "projects", project, SETTINGS))
        if cached is not None and cached[0] == seen:
            return cached[1]
        with self._history.project_folder(project) as folder:
            raw = None if folder is None else read_bytes(Path(SETTINGS), folder)
        try:
            values = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            values = {}  # a damaged settings file: the defaults hold until the settings are written again
        values = values if isinstance(values, dict) else {}
        if seen is None or raw is not None:  # a file the guard refused to read is not cached as its contents
            self._settings_seen[project] = (seen, values)
        return values

    def _retention(self, project: str) -> Retention:
        """The project's history retention, from its settings.json (see ``_settings_values``)."""
        values = self._settings_values(project)
        ttl, cap = values.get("historyTtlDays"), values.get("historyMaxEntriesPerTask")
        return Retention(
            ttl if isinstance(ttl, int) and ttl > 0 else DEFAULT_TTL_DAYS,
            cap if isinstance(cap, int) and cap > 0 else DEFAULT_MAX_ENTRIES,
        )

    @contextmanager
    def record(
        self, project: str, name: str | None = None, *, history: bool | None = None, **fields: JSONValue
    ) -> Iterator[Run]:
        """Record one run around a block: ``running`` on entry; on exit ``completed`` (with its duration),
        ``failed`` with the error text when the block raises (the error is re-raised), or ``cancelled`` on
        KeyboardInterrupt / task cancellation.

        The final write adds the run's tokens, cost and steps to what is stored then, keeping what others
        wrote meanwhile; a final status someone else set (say ``cancelled``) is kept. ``run.log(...)`` adds
        entries to the history of the run's task as it goes; with ``history`` (the default when ``task_id``
        is given) the start, each step and the end are logged there too (see ``storehouse.recorder``).

        ``fields`` are the run's, in snake_case (``task_id``, ``tags``, ``cost_usd`` ...); camelCase names
        (``taskId``) still work in this version, with a DeprecationWarning.
        """
        fields = json_fields(fields, "record")
        if history and not fields.get("taskId"):
            raise InvalidRequest("history=True needs a task_id: the entries go to the history of the run's task")
        document = self.create_execution(project, {**fields, "name": name, "status": "running"})
        task = document["taskId"]
        logs = bool(task) if history is None else history

        def append(entry: JSONObject) -> None:
            self.add_history(project, task, entry)

        run = Run(project, document, append if task else None, steps=logs)
        if logs:
            append(start_entry(document))
        try:
            yield run
        except Exception as exc:
            self.finish(run, "failed", _describe(exc))
            if logs:
                append(run.final_entry("failed", _describe(exc)))
            raise
        except BaseException as exc:
            self.finish(run, "cancelled", _describe(exc))
            if logs:
                append(run.final_entry("cancelled", _describe(exc)))
            raise
        self.finish(run, "completed")
        if logs:
            append(run.final_entry("completed", None))

    def finish(self, run: Run, status: str, error: str | None = None) -> JSONObject:
        """Save what a run collected and end it with status (unless it already ended); return the document."""

        def build(current: JSONObject | None) -> JSONObject:
            if current is None:
                raise NotFound(f"execution {run.id} of project {run.project} was deleted while it was recorded")
            changes = run.changes_to(current)
            if current["status"] not in FINAL_STATUSES:
                changes["status"] = status
                if error is not None:
                    changes["error"] = error
            return patch(current, changes, run.project, run.id, now_timestamp())

        run.document = self._write(run.project, run.id, build, None)
        return run.document


class AsyncStorehouse(AsyncTaskOperations):
    """The same operations as Storehouse, awaitable: each runs on a worker thread, off the event loop.

    Reads run on a lane of two threads and writes on a lane of sixteen (so that many fsyncs can be in
    flight together); lanes hand results back in batches instead of paying a thread hop per call.
    """

    READ_THREADS = 2
    WRITE_THREADS = 16
    sync: Storehouse

    def __init__(
        self, data_dir: Path | str | None = None, *, settings: Settings | None = None, store: Storehouse | None = None
    ) -> None:
        self.sync = store or Storehouse(data_dir, settings=settings)
        self._reads = Lane(self.READ_THREADS, "storehouse-read")
        self._writes = Lane(self.WRITE_THREADS, "storehouse-write")
        self._ticker = Ticker(lambda: self._read(self.sync.change_head))

    async def _read(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await self._reads.run(functools.partial(function, *args, **kwargs))

    async def _write(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await self._writes.run(functools.partial(function, *args, **kwargs))
        finally:
            self._ticker.poke()  # followers of the change feed hear of it now, not at the next poll

    async def _run(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await asyncio.to_thread(functools.partial(function, *args, **kwargs))  # long jobs: own thread
        finally:
            self._ticker.poke()

    async def close(self) -> None:
        self._reads.close()
        self._writes.close()
        await self._run(self.sync.close)

    async def __aenter__(self) -> AsyncStorehouse:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def create_execution(
        self, project: str, execution: JSONObject | None = None, **fields: JSONValue
    ) -> JSONObject:
        return await self._write(self.sync.create_execution, project, execution, **fields)

    async def put_execution(
        self, project: str, execution_id: str, execution: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        return await self._write(self.sync.put_execution, project, execution_id, execution, if_match=if_match)

    async def patch_execution(
        self, project: str, execution_id: str, changes: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        return await self._write(self.sync.patch_execution, project, execution_id, changes, if_match=if_match)

    async def get_execution(self, project: str, execution_id: str) -> JSONObject:
        return await self._read(self.sync.get_execution, project, execution_id)

    async def delete_execution(self, project: str, execution_id: str, *, if_match: int | None = None) -> None:
        await self._write(self.sync.delete_execution, project, execution_id, if_match=if_match)

    async def delete_executions(self, project: str, **filters: Any) -> int:
        return await self._run(self.sync.delete_executions, project, **filters)

    async def delete_project(self, project: str) -> dict[str, int]:
        return await self._run(self.sync.delete_project, project)

    async def prune_runs(self, project: str) -> int:
        return await self._run(self.sync.prune_runs, project)

    async def run_retention(self, project: str) -> tuple[int | None, int | None]:
        return await self._read(self.sync.run_retention, project)

    async def list_executions(self, project: str, **query: Any) -> Page:
        return await self._read(self.sync.list_executions, project, **query)

    async def execution_stats(self, project: str) -> JSONObject:
        return await self._read(self.sync.execution_stats, project)

    async def daily_stats(self, project: str, days: int = DEFAULT_DAYS, until: str | None = None) -> JSONObject:
        return await self._read(self.sync.daily_stats, project, days, until)

    async def restore_execution(self, project: str, execution_id: str, build: Builder) -> JSONObject:
        return await self._write(self.sync.restore_execution, project, execution_id, build)

    async def export(
        self, project: str, kind: str = "project", format: str = "jsonl", **filters: JSONValue
    ) -> AsyncIterator[bytes]:
        """The lines of an export, made in a worker thread a batch at a time (see ``Storehouse.export``)."""
        lines = await self._read(self.sync.export, project, kind, format, **filters)
        while batch := await self._read(lambda: list(itertools.islice(lines, EXPORT_BATCH))):
            for line in batch:
                yield line

    async def import_lines(self, lines: Iterable[bytes | str], project: str | None = None) -> ImportReport:
        return await self._run(self.sync.import_lines, lines, project)

    async def restore_history(self, project: str, task_id: str, entries: list[JSONObject]) -> list[JSONObject]:
        return await self._write(self.sync.restore_history, project, task_id, entries)

    async def history_last_id(self, project: str, task_id: str) -> int:
        return await self._read(self.sync.history_last_id, project, task_id)

    async def history_tasks(self, project: str) -> list[str]:
        return await self._read(self.sync.history_tasks, project)

    async def retention(self, project: str) -> Retention:
        return await self._read(self.sync.retention, project)

    async def list_projects(self, *, limit: int = DEFAULT_PROJECT_LIMIT, offset: int = 0) -> ProjectPage:
        return await self._read(self.sync.list_projects, limit=limit, offset=offset)

    async def reindex(self, project: str | None = None) -> ReindexReport:
        return await self._run(self.sync.reindex, project)

    async def check(self) -> CheckReport:
        return await self._run(self.sync.check)

    async def backup(self, dest: Path | str) -> BackupReport:
        return await self._run(self.sync.backup, dest)

    async def add_history(
        self, project: str, task_id: str, entries: JSONObject | Sequence[JSONValue]
    ) -> list[JSONObject]:
        return await self._write(self.sync.add_history, project, task_id, entries)

    async def list_history(self, project: str, task_id: str | None = None, **query: Any) -> HistoryPage:
        return await self._read(self.sync.list_history, project, task_id, **query)

    async def count_history(self, project: str, task_id: str) -> int:
        return await self._read(self.sync.count_history, project, task_id)

    async def delete_history(self, project: str, task_id: str) -> int:
        return await self._write(self.sync.delete_history, project, task_id)

    async def oldest_history(self, project: str, task_id: str) -> str | None:
        return await self._read(self.sync.oldest_history, project, task_id)

    async def history_projects(self) -> list[str]:
        return await self._read(self.sync.history_projects)

    async def prune_history(self, project: str) -> int:
        return await self._run(self.sync.prune_history, project)

    async def history_settings(self, project: str) -> JSONObject:
        return await self._read(self.sync.history_settings, project)

    async def has_history_settings(self, project: str) -> bool:
        return await self._read(self.sync.has_history_settings, project)

    async def set_history_settings(self, project: str, settings: JSONObject) -> JSONObject:
        return await self._write(self.sync.set_history_settings, project, settings)

    async def changes(self, project: str, after: str | None = None, limit: int = BATCH) -> ChangeBatch:
        return await self._read(self.sync.changes, project, after, limit)

    async def change_head(self) -> str:
        return await self._read(self.sync.change_head)

    async def watch(
        self, project: str, after: str | None = None, limit: int = BATCH
    ) -> AsyncGenerator[ChangeBatch, None]:
        """Follow a project's changes: the first batch at once (``changes(project, after)``), then a batch
        whenever there are new changes, made by this process or any other (seen within ``POLL_SECONDS``).

        Each batch goes on from the last (no gaps, no duplicates); a batch with ``reset`` set means changes
        were missed (the index was rebuilt, or the position is older than the log keeps).
        """
        batch = await self.changes(project, after, limit)
        yield batch
        while True:
            if len(batch.events) < limit:  # caught up with the newest change of the snapshot: wait for another
                await self._ticker.wait_past(batch.head)
            batch = await self.changes(project, batch.last_id, limit)
            if batch.events or batch.reset:
                yield batch

    @asynccontextmanager
    async def record(
        self, project: str, name: str | None = None, *, history: bool | None = None, **fields: JSONValue
    ) -> AsyncIterator[Run]:
        """The async form of ``Storehouse.record``. ``run.log(...)`` returns at once: its entries are appended
        in order in the background, and all of them before the block's end is recorded."""
        fields = json_fields(fields, "record")
        if history and not fields.get("taskId"):
            raise InvalidRequest("history=True needs a task_id: the entries go to the history of the run's task")
        document = await self.create_execution(project, {**fields, "name": name, "status": "running"})
        task = document["taskId"]
        logs = bool(task) if history is None else history
        appends: list[asyncio.Task[list[JSONObject]]] = []

        def append(entry: JSONObject) -> None:
            previous = appends[-1] if appends else None

            async def after_previous() -> list[JSONObject]:
                if previous is not None:
                    await asyncio.wait([previous])  # in order; its own error is raised by gather below
                return await self.add_history(project, task, entry)

            appends.append(asyncio.ensure_future(after_previous()))

        async def end(status: str, error: str | None) -> None:
            try:
                await asyncio.gather(*appends)
            finally:
                await self._write(self.sync.finish, run, status, error)
                if logs:
                    await self.add_history(project, task, run.final_entry(status, error))

        run = Run(project, document, append if task else None, steps=logs)
        if logs:
            append(start_entry(document))
        try:
            yield run
        except Exception as exc:
            await end("failed", _describe(exc))
            raise
        except BaseException as exc:
            await asyncio.shield(end("cancelled", _describe(exc)))
            raise
        await end("completed", None)


def _appended(project: str, task_id: str, added: list[JSONObject]) -> bytes:
    """The data of a history.appended change: the ids, and the entries themselves unless they are large."""
    entries = orjson.dumps(added)
    ids = orjson.dumps([entry["id"] for entry in added])
    head = orjson.dumps({"projectId": project, "taskId": task_id})[:-1]
    return head + b',"ids":' + ids + b',"entries":' + (entries if len(entries) <= MAX_EVENT_ENTRIES else b"null") + b"}"


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _stat_signature(path: str) -> tuple[int, int, int, int] | None:
    """What tells one version of a file from the next (None when there is none): see ``_settings_values``."""
    try:
        found = os.stat(path, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return (-1, -1, -1, -1)  # unreadable metadata: never equal to a cached signature's read
    return found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns
