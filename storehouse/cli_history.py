"""The ``storehouse history ...``, ``storehouse prune`` and ``storehouse events`` commands: task history and the
change feed from the command line (see ``cli.py`` for the rest)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from .changes import POLL_SECONDS, ChangeEvent
from .errors import InvalidBody, InvalidParameter
from .history import TYPES, Retention, validate_entry
from .models import JSONObject, now_timestamp
from .queries import DEFAULT_HISTORY_LIMIT
from .store import Storehouse
from .terminal import Column, open_store, out, print_table

Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]


def cmd_history_add(args: argparse.Namespace) -> int:
    if args.file is not None and any(getattr(args, name) is not None for name in _ENTRY_FLAGS.values()):
        args.usage_error(f"--file takes every field from its lines; leave out {', '.join(_ENTRY_FLAGS)}")  # exits 2
    entries = [_entry_from_flags(args)] if args.file is None else _entries_from_file(args.file, args.task)
    with open_store(args, create=True) as store:
        added = store.add_history(args.project, args.task, entries)
    if args.json:
        _print_json_lines(added)
    else:
        ids = f"id {added[0]['id']}" if len(added) == 1 else f"ids {added[0]['id']}-{added[-1]['id']}"
        out.print(f"added {_n_entries(len(added))} to {args.project}/{args.task}: {ids}", markup=False)
    return 0


def cmd_history_ls(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        page = store.list_history(
            args.project,
            args.task,
            type=args.type,
            workspace_id=args.workspace_id,
            session_id=args.session_id,
            execution_id=args.execution_id,
            since=args.since,
            until=args.until,
            limit=args.limit,
            offset=args.offset,
            order="desc" if args.desc else "asc",
        )
    if args.json:
        _print_json_lines(page.entries)
        return 0
    where = args.project if args.task is None else f"{args.project}/{args.task}"
    columns = [Column("id", right=True), Column("createdAt")]
    columns += [Column("task")] if args.task is None else []
    columns += [Column("type"), Column("role"), Column("content", flex=True)]
    rows = [
        [
            str(entry["id"]),
            str(entry["createdAt"]),
            *([str(entry["taskId"])] if args.task is None else []),
            str(entry["type"]),
            str(entry["role"] or ""),
            _shorten(entry["content"]) if out.is_terminal else " ".join(str(entry["content"] or "").split()),
        ]
        for entry in page.entries
    ]
    print_table(f"{where}: history", columns, rows, f"{len(page.entries)} of {page.total} entries")
    return 0


def cmd_history_count(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        out.print(str(store.count_history(args.project, args.task)))
    return 0


def cmd_history_rm(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        deleted = store.delete_history(args.project, args.task)
    out.print(f"deleted {_n_entries(deleted)} of {args.project}/{args.task}", markup=False)
    return 0


def cmd_history_settings(args: argparse.Namespace) -> int:
    changes: JSONObject = {}
    if args.ttl_days is not None:
        changes["historyTtlDays"] = args.ttl_days
    if args.max_entries is not None:
        changes["historyMaxEntriesPerTask"] = args.max_entries
    for flag, name in ((args.run_ttl_days, "runTtlDays"), (args.max_runs, "maxRuns")):
        if flag is not None:
            changes[name] = None if flag == "none" else _whole_number(flag, name)
    with open_store(args, create=bool(changes)) as store:
        settings = (
            store.set_history_settings(args.project, changes) if changes else store.history_settings(args.project)
        )
    if args.json:
        sys.stdout.write(orjson.dumps(settings).decode() + "\n")
        return 0
    for name, value in settings.items():
        out.print(f"{name} {'none' if value is None else value}", markup=False)
    return 0


def _whole_number(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidParameter(f"{name} must be a whole number or none (keep every run), got {text!r}") from None


def cmd_prune(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        projects = [args.project] if args.project else store.history_projects()
        removed = {project: store.prune_history(project) for project in projects}
        with_runs = [args.project] if args.project else _every_project(store)
        runs = {project: store.prune_runs(project) for project in with_runs if any(store.run_retention(project))}
    total = sum(removed.values())
    if args.json:
        body = {"projects": removed, "deleted": total, "runs": runs, "runsDeleted": sum(runs.values())}
        sys.stdout.write(orjson.dumps(body).decode() + "\n")
        return 0
    for project, count in removed.items():
        out.print(f"{project}: removed {_n_entries(count)}", markup=False)
    for project, count in runs.items():
        out.print(f"{project}: removed {count} run(s) past its run retention", markup=False)
    out.print(f"removed {_n_entries(total)} in all from {len(removed)} project(s)")
    if runs:
        out.print(f"removed {sum(runs.values())} run(s) in all from {len(runs)} project(s)")
    return 0


def _every_project(store: Storehouse) -> list[str]:
    names: list[str] = []
    while True:
        page = store.list_projects(offset=len(names))
        names += [info.id for info in page.items]
        if not page.items or len(names) >= page.total:
            return names


_ENTRY_FLAGS = {
    "--content": "content",
    "--role": "role",
    "--workspace-id": "workspace_id",
    "--session-id": "session_id",
    "--execution-id": "execution_id",
    "--metadata": "metadata",
    "--created-at": "created_at",
}


def _entry_from_flags(args: argparse.Namespace) -> JSONObject:
    """The one entry that ``history add``'s flags describe (the library validates it)."""
    entry: JSONObject = {"type": args.type}
    content = sys.stdin.read() if args.content == "-" else args.content
    for key, value in (
        ("content", content),
        ("role", args.role),
        ("workspaceId", args.workspace_id),
        ("sessionId", args.session_id),
        ("executionId", args.execution_id),
        ("createdAt", args.created_at),
    ):
        if value is not None:
            entry[key] = value
    if args.metadata is not None:
        try:
            entry["metadata"] = orjson.loads(args.metadata)
        except orjson.JSONDecodeError as exc:
            raise InvalidBody(f"--metadata must be a JSON object, got text that is not JSON ({exc})") from None
    return entry


def _entries_from_file(name: str, task: str) -> list[JSONObject]:
    """Every entry of a JSON Lines file (``-``: stdin), each validated, so that one bad line adds nothing.

    Blank lines are skipped; an error names the line. ``id``, ``taskId`` and ``expiresAt`` are left out: the
    output of ``history ls --json`` of any task goes into this one. Validation is the library's own
    (``validate_entry``), run here too because the library's error cannot say which line it came from.
    """
    source = "stdin" if name == "-" else name
    try:
        raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
    except OSError as exc:
        raise InvalidParameter(f"--file {name}: {exc.strerror or exc}") from None
    entries: list[JSONObject] = []
    now = now_timestamp()
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise InvalidBody(f"{source}, line {number}: not JSON ({exc})") from None
        if isinstance(entry, dict):
            # as 'history ls --json' prints them, of whichever task: the task named here takes them, with ids of
            # its own log and expiresAt from createdAt and its project's ttl (the store's fields, never copied)
            entry = {name: value for name, value in entry.items() if name not in ("id", "taskId", "expiresAt")}
        try:
            validate_entry(entry, task, now, Retention())
        except InvalidBody as exc:
            raise InvalidBody(f"{source}, line {number}: {exc.message}") from None
        entries.append(entry)
    if not entries:
        raise InvalidBody(f"{source} holds no entries: give one JSON object a line")
    return entries


def _print_json_lines(entries: list[JSONObject]) -> None:
    """One entry a line, written as is (rich would read ``:name:`` in a string as an emoji code)."""
    sys.stdout.write("".join(orjson.dumps(entry).decode() + "\n" for entry in entries))


def _shorten(content: object, width: int = 80) -> str:
    text = " ".join(str(content or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _n_entries(count: int) -> str:
    return f"{count} entry" if count == 1 else f"{count:,} entries"


def cmd_events(args: argparse.Namespace) -> int:
    """Print a project's changes as they happen (or, with --once, those after --after, then stop)."""
    with open_store(args) as store:
        batch = store.changes(args.project, args.after)
        while True:
            if batch.reset is not None:
                sys.stderr.write(f"reset: {batch.reset}\n")
            for event in batch.events:
                _print_event(event, args.json)
            sys.stdout.flush()
            if args.once and len(batch.events) < 500:
                return 0
            if not batch.events:
                time.sleep(POLL_SECONDS)
            batch = store.changes(args.project, batch.last_id)


def _print_event(event: ChangeEvent, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(f'{{"id":"{event.id}","type":"{event.type}","data":{event.raw.decode()}}}\n')
        return
    sys.stdout.write(f"{event.id}  {event.type:<18} {describe_event(event.type, event.data)}\n")


def describe_event(kind: str, data: JSONObject) -> str:
    """One readable line for a change of any type: ``execution.*`` and ``task.*`` (the document's id, status and
    name or title), ``history.appended`` (the task, the ids and the last entry), and, for a type this version
    does not know, its fields other than the project, as ``name=value``."""
    noun = kind.partition(".")[0]
    if kind == "history.appended":
        what = f"{data.get('taskId')} #{','.join(str(n) for n in data.get('ids') or [])}"
        entries = data.get("entries") or []
        if entries:
            what += f" {entries[-1].get('type')}: {_shorten(entries[-1].get('content'), 60)}"
        return what
    if noun in ("execution", "task") and f"{noun}Id" in data:
        document = data.get(noun) or {}
        label = document.get("name") if noun == "execution" else document.get("title")
        parts = [data[f"{noun}Id"], document.get("status"), _shorten(label, 60) if label else None]
        return " ".join(str(part) for part in parts if part)
    fields = {name: value for name, value in data.items() if name != "projectId"}
    return " ".join(f"{name}={_shorten(value, 40)}" for name, value in fields.items()) or "(no data)"


def add_history_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser, command: Command
) -> None:
    """Register ``history``, ``prune`` and ``events`` on the CLI's subcommands."""
    history = commands.add_parser(
        "history",
        parents=[common],
        help="a task's history: add, ls, count, rm, settings",
        description="add, list, count and delete the entries of task histories; show or change their retention",
    )
    history_commands = history.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def history_command(name: str, run: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = history_commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(run=run, usage_error=sub.error)
        sub.add_argument("project")
        return sub

    add = history_command("add", cmd_history_add, "add one entry (from flags) or many (from a JSON Lines file)")
    add.add_argument("task")
    source = add.add_mutually_exclusive_group(required=True)
    source.add_argument("--type", help=f"the entry's type: {', '.join(sorted(TYPES))}")
    source.add_argument(
        "--file", metavar="F", help="JSON Lines, one entry a line ('-': stdin); all are checked before any is added"
    )
    add.add_argument("--content", help="the text ('-': read stdin as is)")
    add.add_argument("--role", help="the agent role")
    add.add_argument("--workspace-id")
    add.add_argument("--session-id")
    add.add_argument("--execution-id")
    add.add_argument("--metadata", help="a JSON object")
    add.add_argument("--created-at", help="RFC 3339 timestamp (back-fill); default now")
    add.add_argument("--json", action="store_true", help="print the added entries as JSON Lines")

    history_ls = history_command(
        "ls", cmd_history_ls, "list a task's history (or every task's, without TASK), oldest first"
    )
    history_ls.add_argument("task", nargs="?")
    history_ls.add_argument("--type", help="only these types, comma-separated")
    history_ls.add_argument("--workspace-id")
    history_ls.add_argument("--session-id")
    history_ls.add_argument("--execution-id")
    history_ls.add_argument("--since", help="createdAt at or after this RFC 3339 timestamp")
    history_ls.add_argument("--until", help="createdAt before this RFC 3339 timestamp")
    history_ls.add_argument("--limit", type=int, default=DEFAULT_HISTORY_LIMIT)
    history_ls.add_argument("--offset", type=int, default=0)
    history_ls.add_argument("--desc", action="store_true", help="newest first")
    history_ls.add_argument("--json", action="store_true", help="print JSON Lines (input for add --file -)")

    history_command("count", cmd_history_count, "print how many entries a task's history shows").add_argument("task")
    history_command("rm", cmd_history_rm, "delete a task's history").add_argument("task")

    settings = history_command("settings", cmd_history_settings, "show a project's retention, or change it")
    settings.add_argument("--ttl-days", type=int, metavar="N", help="days an entry lives (historyTtlDays)")
    settings.add_argument(
        "--max-entries", type=int, metavar="N", help="entries a task keeps, oldest dropped (historyMaxEntriesPerTask)"
    )
    settings.add_argument(
        "--run-ttl-days", metavar="N|none", help="days a run is kept, from its startedAt (runTtlDays; none: no limit)"
    )
    settings.add_argument("--max-runs", metavar="N|none", help="runs the project keeps, newest (maxRuns; none: all)")
    settings.add_argument("--json", action="store_true", help="print JSON")

    prune = command(
        "prune", cmd_prune, "remove expired history entries (and those over the cap) and runs past their retention"
    )
    prune.add_argument("project", nargs="?", help="one project; default every project")
    prune.add_argument("--json", action="store_true", help="print JSON")

    events = command("events", cmd_events, "print a project's changes as they happen (Ctrl-C to stop)")
    events.add_argument("project")
    events.add_argument("--after", metavar="ID", help="start after this event id (default: from now on)")
    events.add_argument("--once", action="store_true", help="print the changes after --after, then stop")
    events.add_argument("--json", action="store_true", help="print JSON Lines: id, type, data")
