"""``Client``: a storehouse server over a sync httpx client, with ``Storehouse``'s methods."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import httpx

from ..backends.base import ProjectInfo
from ..changes import ChangeEvent
from ..context import DEFAULT_MAX_CHARS
from ..daily import DEFAULT_DAYS
from ..index import Page
from ..models import JSONObject, JSONValue
from ..queries import DEFAULT_HISTORY_LIMIT, DEFAULT_LIMIT, HistoryPage
from ..store import DEFAULT_PROJECT_LIMIT, ProjectPage
from ..task_ops import TaskPage
from ._base import DEFAULT_URL, _Base, _check, _EventReader, _Lines
from ._calls import T, _Call, _Calls, error_from_response


class Client(_Base):
    """A storehouse server, with ``Storehouse``'s methods: the same arguments, results and exception classes.

    One connection pool, kept alive between calls; safe to share between threads. ``token`` is sent as
    ``Authorization: Bearer`` (a server started with ``--token`` answers Unauthorized without it). ``timeout`` is
    httpx's: seconds to connect and between bytes of an answer, or an ``httpx.Timeout``. ``transport`` replaces
    httpx's (a ``httpx.HTTPTransport(retries=3, uds=...)``, say). Close it, or use it as a context manager.
    """

    _http: httpx.Client

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        timeout: float | httpx.Timeout | None = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, headers=self._headers(token), timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connections; the object is unusable afterwards."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _send(self, call: _Call[T]) -> T:
        return call.read(_check(self._http.send(self._request(call))))

    @contextmanager
    def _stream(self, call: _Call[Any]) -> Iterator[httpx.Response]:
        response = self._http.send(self._request(call), stream=True)
        try:
            if not response.is_success:
                response.read()
                raise error_from_response(response)
            yield response
        finally:
            response.close()

    # -- executions -------------------------------------------------------------------------------------------
    def create_execution(self, project: str, execution: JSONObject | None = None, **fields: JSONValue) -> JSONObject:
        """Store a new execution (id generated unless given) and return it. Conflict if the id exists."""
        return self._send(_Calls.create_execution(project, {**(execution or {}), **fields}))

    def put_execution(
        self, project: str, execution_id: str, execution: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        """Create or replace an execution; ``version`` 1 in the result means it was created."""
        return self._send(_Calls.put_execution(project, execution_id, execution, if_match))

    def patch_execution(
        self, project: str, execution_id: str, changes: JSONObject, *, if_match: int | None = None
    ) -> JSONObject:
        """Apply a JSON merge patch (e.g. ``{"status": "completed"}``) and return the new document."""
        return self._send(_Calls.patch_execution(project, execution_id, changes, if_match))

    def get_execution(self, project: str, execution_id: str) -> JSONObject:
        """The full document. NotFound if absent."""
        return self._send(_Calls.get_execution(project, execution_id))

    def delete_execution(self, project: str, execution_id: str, *, if_match: int | None = None) -> None:
        """Delete one execution. NotFound if absent, PreconditionFailed if ``if_match`` is stale."""
        self._send(_Calls.delete_execution(project, execution_id, if_match))

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
        """Delete the executions the filters match (those of ``list_executions``), or every execution of the
        project without one; return how many were deleted."""
        return self._send(
            _Calls.delete_executions(
                project,
                {
                    "status": status,
                    "task_id": task_id,
                    "tag": tag,
                    "started_after": started_after,
                    "started_before": started_before,
                    "q": q,
                },
            )
        )

    def delete_project(self, project: str) -> dict[str, int]:
        """Delete a project's executions, tasks, history and settings; return the counts of each."""
        return self._send(_Calls.delete_project(project))

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
        """A page of summaries, newest ``startedAt`` first by default; ``total`` counts every match and
        ``next_cursor`` goes on (None on the last page). ``q``: an id prefix or part of the name."""
        return self._send(
            _Calls.list_executions(
                project, status, task_id, tag, started_after, started_before, sort, limit, offset, cursor, q
            )
        )

    def iter_executions(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        started_after: str | None = None,
        started_before: str | None = None,
        sort: str = "-startedAt",
        q: str | None = None,
        limit: int = DEFAULT_LIMIT,
    ) -> Generator[JSONObject, None, None]:
        """Every matching summary, page after page of ``limit`` by cursor: each run once, even while runs are
        added or removed (those may or may not be seen, as their place is before or after the cursor)."""
        cursor: str | None = None
        while True:
            page = self.list_executions(
                project,
                status=status,
                task_id=task_id,
                tag=tag,
                started_after=started_after,
                started_before=started_before,
                sort=sort,
                limit=limit,
                cursor=cursor,
                q=q,
            )
            yield from page.items
            if page.next_cursor is None or not page.raw_items:
                return
            cursor = page.next_cursor

    def execution_stats(self, project: str) -> JSONObject:
        """Counts by status, cost, tokens and durations over every execution of a project."""
        return self._send(_Calls.execution_stats(project))

    def daily_stats(self, project: str, days: int = DEFAULT_DAYS, until: str | None = None) -> JSONObject:
        """Runs by status, cost, tokens and p50/p95 duration for each of ``days`` days ending ``until``
        (``YYYY-MM-DD``, UTC; default the day of the newest run): ``{"days": [...], "from", "to"}``."""
        return self._send(_Calls.daily_stats(project, days, until))

    def list_projects(self, *, limit: int = DEFAULT_PROJECT_LIMIT, offset: int = 0) -> ProjectPage:
        """A page of the projects with executions, tasks or history, by id (each with its execution count and
        cost, and its task count); ``total`` counts them all."""
        return self._send(_Calls.list_projects(limit, offset))

    def iter_projects(self, *, limit: int = DEFAULT_PROJECT_LIMIT) -> Generator[ProjectInfo, None, None]:
        """Every project, page after page of ``limit`` by offset (a project created meanwhile shifts the pages:
        one may then be missed or seen twice)."""
        offset = 0
        while True:
            page = self.list_projects(limit=limit, offset=offset)
            yield from page.items
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return

    def export(
        self, project: str, kind: str = "project", format: str = "jsonl", **filters: JSONValue
    ) -> Generator[bytes, None, None]:
        """The lines of an export (``kind`` project, executions, tasks or history; ``format`` jsonl or csv), as
        they arrive, each with its newline (a CSV field holding a newline spans two); the filters are those of
        ``list_executions``, ``list_tasks`` or ``list_history`` (with ``task_id``), without paging. A bad kind,
        format or id raises at once, as in the library; the request is sent when iteration starts, and the
        server's refusal of a filter is raised then."""
        return self._lines(_Calls.export(project, kind, format, filters))

    def _lines(self, call: _Call[Any]) -> Generator[bytes, None, None]:
        with self._stream(call) as response:
            lines = _Lines()
            for chunk in response.iter_bytes():
                yield from lines.feed(chunk)
            yield from lines.end()

    # -- task history -----------------------------------------------------------------------------------------
    def add_history(self, project: str, task_id: str, entries: JSONObject | Sequence[JSONValue]) -> list[JSONObject]:
        """Append one entry or a list to a task's history, all or none; return them with their ids."""
        return self._send(_Calls.add_history(project, task_id, entries))

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
        return self._send(
            _Calls.list_history(
                project, task_id, type, workspace_id, session_id, execution_id, since, until, limit, offset, order
            )
        )

    def iter_history(
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
        order: str = "asc",
        limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> Generator[JSONObject, None, None]:
        """Every matching entry, page after page of ``limit`` by offset (an entry added or expiring meanwhile
        shifts the pages: one may then be missed or seen twice)."""
        offset = 0
        while True:
            page = self.list_history(
                project,
                task_id,
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
            yield from page.entries
            offset += len(page.entries)
            if not page.entries or offset >= page.total:
                return

    def count_history(self, project: str, task_id: str) -> int:
        """How many entries a read of the task's history would return in all."""
        return self._send(_Calls.count_history(project, task_id))

    def delete_history(self, project: str, task_id: str) -> int:
        """Delete a task's history; return how many entries it showed. Its ids go on (the next is not 1)."""
        return self._send(_Calls.delete_history(project, task_id))

    def oldest_history(self, project: str, task_id: str) -> str | None:
        """The createdAt of the oldest entry a read would return, or None."""
        return self._send(_Calls.oldest_history(project, task_id))

    def prune_history(self, project: str) -> int:
        """Remove expired entries (and entries beyond the cap) from the files now; return how many went."""
        return self._send(_Calls.prune_history(project))

    def history_settings(self, project: str) -> JSONObject:
        """``{"historyTtlDays": 20, "historyMaxEntriesPerTask": 100}`` for a project (defaults until set)."""
        return self._send(_Calls.history_settings(project))

    def set_history_settings(self, project: str, settings: JSONObject) -> JSONObject:
        """Change a project's retention (either key may be left out); return the settings now."""
        return self._send(_Calls.set_history_settings(project, settings))

    # -- tasks ------------------------------------------------------------------------------------------------
    def create_task(self, project: str, task: JSONObject | None = None, **fields: JSONValue) -> JSONObject:
        """Create a task (``title`` required); its id is generated unless given. Conflict if it exists."""
        return self._send(_Calls.create_task(project, {**(task or {}), **fields}))

    def put_task(self, project: str, task_id: str, task: JSONObject, *, if_match: int | None = None) -> JSONObject:
        """Create or replace a task (a status change must be an allowed transition)."""
        return self._send(_Calls.put_task(project, task_id, task, if_match))

    def patch_task(self, project: str, task_id: str, changes: JSONObject, *, if_match: int | None = None) -> JSONObject:
        """Change a task with a JSON merge patch (a status change must be an allowed transition)."""
        return self._send(_Calls.patch_task(project, task_id, changes, if_match))

    def get_task(self, project: str, task_id: str) -> JSONObject:
        """The whole task; NotFound if absent."""
        return self._send(_Calls.get_task(project, task_id))

    def delete_task(self, project: str, task_id: str, *, if_match: int | None = None) -> None:
        """Delete a task, its history, and every edge to it from other tasks; its executions stay."""
        self._send(_Calls.delete_task(project, task_id, if_match))

    def list_tasks(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        priority: str | Iterable[str] | None = None,
        tag: str | None = None,
        assigned_to: str | None = None,
        ready: bool | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> TaskPage:
        """A page of task summaries, critical first, then oldest first; ``ready`` keeps pending tasks whose
        ``blocks`` and ``requires`` dependencies have all succeeded (False: every other task)."""
        return self._send(_Calls.list_tasks(project, status, priority, tag, assigned_to, ready, limit, offset))

    def iter_tasks(
        self,
        project: str,
        *,
        status: str | Iterable[str] | None = None,
        priority: str | Iterable[str] | None = None,
        tag: str | None = None,
        assigned_to: str | None = None,
        ready: bool | None = None,
        limit: int = 50,
    ) -> Generator[JSONObject, None, None]:
        """Every matching task summary, page after page of ``limit`` by offset (a task created or deleted
        meanwhile shifts the pages: one may then be missed or seen twice)."""
        offset = 0
        while True:
            page = self.list_tasks(
                project,
                status=status,
                priority=priority,
                tag=tag,
                assigned_to=assigned_to,
                ready=ready,
                limit=limit,
                offset=offset,
            )
            yield from page.items
            offset += len(page.raw_items)
            if not page.raw_items or offset >= page.total:
                return

    def transition_task(
        self,
        project: str,
        task_id: str,
        to: str,
        *,
        reason: str | None = None,
        actor: str | None = None,
        if_match: int | None = None,
    ) -> JSONObject:
        """Move a task to status ``to``; Conflict (``details["allowed"]`` lists the targets) if not allowed."""
        return self._send(_Calls.transition_task(project, task_id, to, reason, actor, if_match))

    def task_transitions(self, project: str, task_id: str) -> list[JSONObject]:
        """The task's audit trail: ``{from, to, at, reason, actor}``, oldest first."""
        return self._send(_Calls.task_transitions(project, task_id))

    def add_dependency(
        self, project: str, task_id: str, depends_on: str, type: str = "blocks"
    ) -> tuple[JSONObject, bool]:
        """Make task_id depend on depends_on; returns (the edge, True if it is new). NotFound if either task is
        absent; Conflict naming the cycle (``details["cycle"]``) if the edge would close one."""
        return self._send(_Calls.add_dependency(project, task_id, depends_on, type))

    def remove_dependency(self, project: str, task_id: str, depends_on: str) -> None:
        """Remove the edge task_id -> depends_on; NotFound if there is none."""
        self._send(_Calls.remove_dependency(project, task_id, depends_on))

    def task_dependencies(self, project: str, task_id: str) -> list[JSONObject]:
        """What the task depends on: ``{"taskId", "type", "task": summary}``."""
        return self._send(_Calls.task_dependencies(project, task_id))

    def task_dependents(self, project: str, task_id: str) -> list[JSONObject]:
        """What depends on the task: ``{"taskId", "type", "task": summary}``."""
        return self._send(_Calls.task_dependents(project, task_id))

    def task_order(self, project: str) -> list[JSONObject]:
        """Every task of the project, each after what it depends on; ties by priority, createdAt, id."""
        return self._send(_Calls.task_order(project))

    def task_context(
        self, project: str, task_id: str, *, format: str = "markdown", max_chars: int = DEFAULT_MAX_CHARS
    ) -> str:
        """What an agent needs to continue the task, as Markdown or JSON text of at most max_chars characters."""
        return self._send(_Calls.task_context(project, task_id, format, max_chars))

    def project_metrics(self, project: str) -> JSONObject:
        """Tasks by status, pending and ready counts, average complexity; runs by status, tokens and cost."""
        return self._send(_Calls.project_metrics(project))

    # -- the event stream -------------------------------------------------------------------------------------
    def events(self, project: str, after: str | None = None) -> Generator[ChangeEvent, None, None]:
        """Follow a project's changes as they happen, from any process: the server's event stream.

        The first event is ``ready`` (its id is the position followed from) or ``reset`` (``after`` could not be
        resumed: reload, then go on); then one ``ChangeEvent`` per change (``execution.created``, ...) whose
        ``data`` is its JSON. The iterator ends when the server ends the stream (it is stopping): resume with
        ``after=`` the last event's id to get exactly the changes in between. The request is sent when
        iteration starts; ``close()`` the iterator to end the stream early.
        """
        reader = _EventReader()
        with self._stream(_Calls.events(project, after)) as response:
            for line in response.iter_lines():
                event = reader.feed(line)
                if event is not None:
                    yield event
