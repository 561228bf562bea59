"""Export and import: a project's executions, tasks, history and settings as JSON Lines (or CSV to read).

Every JSON line is one record, self-describing so that a file can be imported with nothing else::

    {"kind": "settings",  "project": "demo", "document": {"historyTtlDays": 20, ...}}
    {"kind": "task",      "project": "demo", "document": {...the task, as stored...}}
    {"kind": "execution", "project": "demo", "document": {...the execution, as stored...}}
    {"kind": "history",   "project": "demo", "taskId": "T-1", "document": {...the entry, with its id...}}

A whole-project export lists them in that order (tasks each after what they depend on, history entries by
id), so importing it into an empty data directory gives back the same documents, byte for byte, and the
same history. Import is idempotent by id and version: a document whose version is already stored is
skipped, an older stored one is replaced (updated), an absent one is created; a history entry whose id
the task's log has already reached is skipped. Every line is validated on its own: a rejected line changes
nothing, and the report says why, with its line number.

CSV is a flat view of one kind for spreadsheets (summary columns, tags joined with ``;``); it is not
imported. A text cell that a spreadsheet would run as a formula (starting with ``= + - @``, a tab, a carriage
return, a newline or NUL) is written with a leading ``'``; a number cell, negative or not, is written as it is.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from .errors import Conflict, InvalidBody, InvalidParameter, NotFound, StorehouseError
from .history import MAX_ID, RUN_SETTINGS, validate_entry
from .ids import check_id, is_valid_id
from .models import (
    MAX_VERSION,
    JSONObject,
    check_depth,
    load_execution,
    normalize_timestamp,
    now_timestamp,
    type_name,
)
from .queries import MAX_LIMIT
from .tasks import load_task

if TYPE_CHECKING:
    from .store import Storehouse

KINDS = ("project", "executions", "tasks", "history")  # what an export holds
FORMATS = ("jsonl", "csv")
RECORD_KINDS = ("settings", "task", "execution", "history")
RESULTS = ("created", "updated", "skipped", "rejected")
CONTENT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}

EXECUTION_COLUMNS = (
    "id", "projectId", "taskId", "name", "status", "startedAt", "completedAt", "duration",
    "inputTokens", "outputTokens", "totalTokens", "costUSD", "error", "tags",
)  # fmt: skip
TASK_COLUMNS = (
    "id", "projectId", "title", "status", "priority", "assignedTo", "complexityScore", "tags", "dependencies",
    "resultSummary", "createdAt", "updatedAt", "version",
)  # fmt: skip
HISTORY_COLUMNS = (
    "taskId", "id", "type", "createdAt", "expiresAt", "role", "content", "executionId", "sessionId", "workspaceId",
)  # fmt: skip


# -- export ----------------------------------------------------------------------------------------------
def check_export(kind: str, format: str) -> None:
    """InvalidParameter for an unknown kind or format, or CSV of a whole project (CSV holds one kind)."""
    if kind not in KINDS:
        raise InvalidParameter(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if format not in FORMATS:
        raise InvalidParameter(f"format must be jsonl or csv, got {format!r}")
    if format == "csv" and kind == "project":
        raise InvalidParameter("CSV holds one kind: export executions, tasks or history, or the project as jsonl")


def export(
    store: Storehouse, project: str, kind: str = "project", format: str = "jsonl", **filters: Any
) -> Iterator[bytes]:
    """The lines of an export (each ending in a newline). Bad arguments raise before the first line is made:
    the filters are those of ``list_executions`` (executions), ``list_tasks`` (tasks, without paging) or
    ``list_history`` (history, with ``task_id``)."""
    check_export(kind, format)
    check_id(project, "projectId")
    records = _records(store, project, kind, filters)
    first = next(records, None)  # a bad filter raises here, before anything is sent

    def all_records() -> Iterator[JSONObject]:
        if first is not None:
            yield first
            yield from records

    if format == "jsonl":
        return (orjson.dumps(record) + b"\n" for record in all_records())
    columns, row = {"executions": (EXECUTION_COLUMNS, _execution_row), "tasks": (TASK_COLUMNS, _task_row)}.get(
        kind, (HISTORY_COLUMNS, _history_row)
    )
    return _csv(columns, (row(record) for record in all_records()))


def _records(store: Storehouse, project: str, kind: str, filters: dict[str, Any]) -> Iterator[JSONObject]:
    if kind == "project" and filters:
        raise InvalidParameter(f"a whole-project export takes no filters; got {', '.join(sorted(filters))}")
    if kind == "project":
        yield from _settings(store, project)
    if kind in ("project", "tasks"):
        yield from _tasks(store, project, filters)
    if kind in ("project", "executions"):
        yield from _executions(store, project, filters)
    if kind in ("project", "history"):
        yield from _history(store, project, filters)


def _settings(store: Storehouse, project: str) -> Iterator[JSONObject]:
    if store.has_history_settings(project):
        yield {"kind": "settings", "project": project, "document": store.history_settings(project)}


def _executions(store: Storehouse, project: str, filters: dict[str, Any]) -> Iterator[JSONObject]:
    cursor: str | None = None
    while True:
        page = store.list_executions(project, **{**filters, "limit": MAX_LIMIT, "cursor": cursor})
        for summary in page.items:
            try:
                document = store.get_execution(project, summary["id"])
            except NotFound:  # deleted (or damaged) since the page was read
                continue
            yield {"kind": "execution", "project": project, "document": document}
        cursor = page.next_cursor
        if cursor is None:
            return


def _tasks(store: Storehouse, project: str, filters: dict[str, Any]) -> Iterator[JSONObject]:
    if filters:  # a filtered listing: every page of it
        offset = 0
        while True:
            page = store.list_tasks(project, **{**filters, "limit": MAX_LIMIT, "offset": offset})
            ids = [summary["id"] for summary in page.items]
            offset += len(ids)
            yield from _task_documents(store, project, ids)
            if not ids or offset >= page.total:
                return
    # every task, each after what it depends on: an import then meets no edge to a task it has not seen
    yield from _task_documents(store, project, [summary["id"] for summary in store.task_order(project)])


def _task_documents(store: Storehouse, project: str, ids: list[str]) -> Iterator[JSONObject]:
    for task_id in ids:
        try:
            yield {"kind": "task", "project": project, "document": store.get_task(project, task_id)}
        except NotFound:
            continue


def _history(store: Storehouse, project: str, filters: dict[str, Any]) -> Iterator[JSONObject]:
    only = filters.pop("task_id", None)
    tasks = [check_id(only, "taskId")] if only is not None else store.history_tasks(project)
    for task_id in tasks:
        entries: list[JSONObject] = []
        while True:
            page = store.list_history(project, task_id, **{**filters, "limit": MAX_LIMIT, "offset": len(entries)})
            entries += page.entries
            if not page.entries or len(entries) >= page.total:
                break
        entries.sort(key=lambda entry: int(entry["id"]))  # ids grow along the log: keep them so
        if not filters:  # the whole log: say how far its ids went, past entries expired, capped or removed
            reached = store.history_last_id(project, task_id)
            if reached > (entries[-1]["id"] if entries else 0):
                entries.append({"id": reached})
        for entry in entries:
            yield {"kind": "history", "project": project, "taskId": task_id, "document": entry}


def _csv(columns: tuple[str, ...], rows: Iterable[list[object]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180; it also quotes a cell holding a lone \r

    def take(row: Iterable[object]) -> bytes:
        writer.writerow([_cell(value) for value in row])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode()

    yield take(columns)
    for row in rows:
        yield take(row)


# A text cell starting with one of these is run as a formula by some spreadsheet (OWASP "CSV injection", plus
# the newline and NUL that LibreOffice skips before one): it is written with a leading ' (tests/test_transfer.py).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def _cell(value: object) -> str:
    """A CSV cell: a number as it is (``-1`` stays the number -1), a text that could start a formula after a
    ``'``, any other JSON value (an object, a list) as its JSON text, None empty."""
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return orjson.dumps(value).decode()  # a number literal, never a formula: -1, 1.5e-05
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _execution_row(record: JSONObject) -> list[object]:
    run = record["document"]
    usage = run.get("tokenUsage") or {}
    values: dict[str, object] = {
        **run,
        "inputTokens": usage.get("input"),
        "outputTokens": usage.get("output"),
        "totalTokens": usage.get("total"),
        "tags": ";".join(run.get("tags") or []),
    }
    return [values.get(column) for column in EXECUTION_COLUMNS]


def _task_row(record: JSONObject) -> list[object]:
    task = record["document"]
    values: dict[str, object] = {
        **task,
        "tags": ";".join(task.get("tags") or []),
        "dependencies": ";".join(f"{edge['taskId']}:{edge['type']}" for edge in task.get("dependencies") or []),
    }
    return [values.get(column) for column in TASK_COLUMNS]


def _history_row(record: JSONObject) -> list[object]:
    entry = {**record["document"], "taskId": record["taskId"]}
    return [entry.get(column) for column in HISTORY_COLUMNS]


# -- import ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    """What became of one line: ``created``, ``updated``, ``skipped`` or ``rejected``, and why."""

    line: int
    result: str
    kind: str | None = None
    project: str | None = None
    id: str | None = None
    reason: str | None = None

    def as_json(self) -> JSONObject:
        return {name: value for name, value in self.__dict__.items() if value is not None}


@dataclass
class ImportReport:
    """Every line's outcome, in line order."""

    outcomes: list[Outcome] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.result == result)

    def lines(self, result: str) -> list[int]:
        return [outcome.line for outcome in self.outcomes if outcome.result == result]

    def as_json(self) -> JSONObject:
        return {
            **{result: self.count(result) for result in RESULTS},
            "outcomes": [outcome.as_json() for outcome in self.outcomes],
        }


class _Skip(Exception):
    """Raised inside a write's builder: the stored document already is this one (or newer)."""


def import_lines(store: Storehouse, lines: Iterable[bytes | str], project: str | None = None) -> ImportReport:
    """Import the lines of an export (JSON Lines; blank lines are ignored). Never raises for a bad line: its
    outcome is ``rejected`` with the reason. History entries of one task in a row are appended in one write.

    With ``project``, every record goes into that project, whatever project it names (a copy under a new name).
    Documents of the original system and of other tools may lack ``version`` (taken as 1) and timestamps, which
    are filled in alike for runs and tasks (see ``_fill_timestamps``). InvalidParameter for a bad project id."""
    into = None if project is None else check_id(project, "project")
    now = now_timestamp()
    report = ImportReport()
    pending: list[tuple[int, str, str, JSONObject]] = []  # history lines of one task, not yet written

    def flush() -> None:
        if pending:
            report.outcomes.extend(_restore_history(store, pending))
            pending.clear()

    for number, raw in enumerate(lines, 1):
        record: JSONObject = {}
        try:
            text = raw.strip() if isinstance(raw, str) else _decode(raw.strip())
            if not text:
                continue
            record = _record(text)
            if into is not None:
                record["project"] = into
                record["document"].pop("projectId", None)  # the document's own project is the one named
            kind, project, document = record["kind"], record["project"], record["document"]
            filled = _fill_timestamps(kind, document, now) if kind in ("execution", "task") else ()
            check_depth(document, store.settings.max_json_depth, f"the {kind} document")
            if kind == "history":
                task_id = record["taskId"]
                if pending and (pending[0][1], pending[0][2]) != (project, task_id):
                    flush()
                entry = _entry(document, project, task_id, store)
                pending.append((number, project, task_id, entry))
                continue
            flush()
            if kind == "settings":
                report.outcomes.append(_import_settings(store, number, project, document))
            else:
                report.outcomes.append(_import_document(store, number, kind, project, document, filled))
        except StorehouseError as exc:
            flush()
            report.outcomes.append(Outcome(number, "rejected", *_names(record), reason=exc.message))
    flush()
    report.outcomes.sort(key=lambda outcome: outcome.line)
    return report


def _decode(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise InvalidBody(f"not UTF-8: {exc.reason} at byte {exc.start}") from None


def _names(record: JSONObject) -> tuple[str | None, str | None, str | None]:
    """(kind, project, id) of a checked record, for the report of a line rejected after its envelope passed."""
    if not record:
        return None, None, None
    item = record["document"].get("id")
    if record["kind"] == "history":
        item = f"{record['taskId']}#{item}"
    return record["kind"], record["project"], item if isinstance(item, str) else None


def _record(text: str) -> JSONObject:
    try:
        record = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"not JSON: {exc}") from None
    if not isinstance(record, dict):
        raise InvalidBody(f"a line must be a JSON object (a record of an export), got {type_name(record)}")
    kind = record.get("kind")
    if kind not in RECORD_KINDS:
        raise InvalidBody(f"kind must be one of {', '.join(RECORD_KINDS)}; got {kind!r}")
    allowed = {"kind", "project", "document", *(("taskId",) if kind == "history" else ())}
    unknown = sorted(set(record) - allowed)
    if unknown:
        raise InvalidBody(f"unknown field {unknown[0]!r} in {'an' if kind == 'execution' else 'a'} {kind} record")
    project = record.get("project")
    if not isinstance(project, str) or not is_valid_id(project):
        raise InvalidBody(f"project must be a project id, got {project!r}")
    if kind == "history" and not (isinstance(record.get("taskId"), str) and is_valid_id(record["taskId"])):
        raise InvalidBody(f"taskId must be a task id, got {record.get('taskId')!r}")
    if not isinstance(record.get("document"), dict):
        raise InvalidBody(f"document must be a JSON object, got {type_name(record.get('document'))}")
    return record


def _import_document(
    store: Storehouse, number: int, kind: str, project: str, given: JSONObject, filled: Iterable[str] = ()
) -> Outcome:
    item = given.get("id")
    if not isinstance(item, str) or not is_valid_id(item):
        raise InvalidBody(f"the {kind}'s id must be an id, got {item!r}")
    if given.get("projectId") not in (None, project):
        raise InvalidBody(f"projectId is {given['projectId']!r} in the document but the record is of {project!r}")
    if given.get("version") is None:
        given = {**given, "version": 1}  # the original system's files and other tools' have none: as it reads them
    if not isinstance(given["version"], int) or isinstance(given["version"], bool):
        raise InvalidBody(f"version must be a whole number (or absent: 1), got {given['version']!r}")
    if not 0 <= given["version"] <= MAX_VERSION:  # beyond it, the next write of the document could not be stored
        raise InvalidBody(f"version must be between 0 and {MAX_VERSION}, got {given['version']}")
    load = load_task if kind == "task" else load_execution
    document = load(orjson.dumps(given), project, item)
    done = Outcome(number, "created", kind, project, item)

    def build(current: JSONObject | None) -> JSONObject:
        nonlocal done
        if current is None:
            return document
        if filled and current["version"] == document["version"]:
            # the times the import filled in are those of the first import: the same document, imported again
            same = {**document, **{name: current.get(name) for name in filled}}
            if same == current:
                raise _Skip(f"version {current['version']} is stored already")
        if current["version"] > document["version"] or current == document:
            raise _Skip(f"version {current['version']} is stored" + (" already" if current == document else ""))
        if current["version"] == document["version"]:
            raise Conflict(f"another {kind} {item} is stored at the same version {current['version']}; not overwritten")
        done = Outcome(number, "updated", kind, project, item)
        return document

    try:
        if kind == "task":
            store.restore_task(project, item, build)
        else:
            store.restore_execution(project, item, build)
    except _Skip as skip:
        return Outcome(number, "skipped", kind, project, item, str(skip))
    return done


def _fill_timestamps(kind: str, document: JSONObject, now: str) -> tuple[str, ...]:
    """Give a document lacking them the timestamps a stored one has, alike for runs and tasks: ``createdAt``
    from ``startedAt`` (runs), else ``updatedAt``, else the import's time; ``updatedAt`` from ``completedAt``
    (runs), else ``createdAt``; a run's ``startedAt`` from ``createdAt``. Given values are kept as they are.
    Returns the names filled in."""

    def text(name: str) -> str | None:
        value = document.get(name)
        return value if isinstance(value, str) and value else None

    run = kind == "execution"
    created = text("createdAt") or (text("startedAt") if run else None) or text("updatedAt") or now
    updated = text("updatedAt") or (text("completedAt") if run else None) or created
    filled = []
    for name, value in (("createdAt", created), ("updatedAt", updated), *((("startedAt", created),) if run else ())):
        if document.get(name) is None:
            document[name] = value
            filled.append(name)
    return tuple(filled)


def _import_settings(store: Storehouse, number: int, project: str, given: JSONObject) -> Outcome:
    current = store.history_settings(project)
    for name, value in given.items():
        if name not in current:
            raise InvalidBody(f"unknown setting {name!r}; the settings are {', '.join(current)}")
        if value is None and name in RUN_SETTINGS:
            continue  # no limit on runs
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidBody(f"{name} must be a whole number, got {type_name(value)}")
    stored = store.has_history_settings(project)
    if stored and {**current, **given} == current:
        return Outcome(number, "skipped", "settings", project, reason="the same settings are stored")
    store.set_history_settings(project, given)
    return Outcome(number, "updated" if stored else "created", "settings", project)


def _entry(given: JSONObject, project: str, task_id: str, store: Storehouse) -> JSONObject:
    entry_id = given.get("id")
    if isinstance(entry_id, bool) or not isinstance(entry_id, int) or not 1 <= entry_id <= MAX_ID:
        raise InvalidBody(f"a history entry's id must be a whole number from 1 to {MAX_ID}, got {entry_id!r}")
    if len(given) == 1:
        return {"id": entry_id}  # a tombstone: the id the log had reached, past its visible entries
    if given.get("createdAt") is None:
        raise InvalidBody("an exported history entry has a createdAt")
    entry = validate_entry(given, task_id, "", store.retention(project))
    if given.get("expiresAt") is not None:
        entry["expiresAt"] = normalize_timestamp(given["expiresAt"])
    return {"id": entry_id, **entry}


def _restore_history(store: Storehouse, lines: list[tuple[int, str, str, JSONObject]]) -> list[Outcome]:
    _, project, task_id, _ = lines[0]
    outcomes: list[Outcome] = []
    ordered: list[tuple[int, JSONObject]] = []
    for number, _, _, entry in lines:
        if ordered and entry["id"] <= ordered[-1][1]["id"]:
            outcomes.append(
                Outcome(number, "rejected", "history", project, f"{task_id}#{entry['id']}", "ids must grow")
            )
        else:
            ordered.append((number, entry))
    try:
        added = {entry["id"] for entry in store.restore_history(project, task_id, [entry for _, entry in ordered])}
    except StorehouseError as exc:
        return outcomes + [
            Outcome(number, "rejected", "history", project, f"{task_id}#{entry['id']}", exc.message)
            for number, entry in ordered
        ]
    for number, entry in ordered:
        name = f"{task_id}#{entry['id']}"
        if entry["id"] in added:
            outcomes.append(Outcome(number, "created", "history", project, name))
        else:
            outcomes.append(Outcome(number, "skipped", "history", project, name, "the log has reached this id"))
    return outcomes
