"""The ``storehouse tasks ...`` and ``storehouse context`` commands (see ``cli.py`` for the rest)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import orjson
from rich.text import Text

from .context import DEFAULT_MAX_CHARS, FORMATS
from .errors import InvalidParameter
from .models import JSONObject
from .queries import DEFAULT_LIMIT
from .tasks import PRIORITIES, STATUSES
from .terminal import Column, joined, note_unknown_project, open_store, out, print_table

Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]
_COLORS = {"succeeded": "green", "failed": "red", "running": "yellow", "cancelled": "dim"}


def cmd_tasks_ls(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        page = store.list_tasks(
            args.project,
            status=joined(args.status),
            priority=joined(args.priority),
            tag=args.tag,
            assigned_to=args.assigned_to,
            ready=True if args.ready else None,
            limit=args.limit,
            offset=args.offset,
        )
        if not page.total:
            note_unknown_project(store, args.project)
    if args.json:
        _write_json({"tasks": page.items, "total": page.total})
        return 0
    what = "ready tasks" if args.ready else "tasks"
    _print_tasks(f"{args.project}: {len(page.items)} of {page.total} {what}", page.items)
    return 0


def cmd_tasks_order(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        ordered = store.task_order(args.project)
    if args.json:
        _write_json({"tasks": ordered})
        return 0
    _print_tasks(f"{args.project}: {len(ordered)} tasks, each after what it depends on", ordered)
    return 0


def cmd_tasks_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        _write_json(store.get_task(args.project, args.task), indent=True)
    return 0


def cmd_tasks_add(args: argparse.Namespace) -> int:
    fields: JSONObject = {"title": args.title, "priority": args.priority}
    if args.id:
        fields["id"] = args.id
    if args.description is not None:
        fields["description"] = sys.stdin.read() if args.description == "-" else args.description
    if args.complexity is not None:
        fields["complexityScore"] = args.complexity
    if args.assigned_to:
        fields["assignedTo"] = args.assigned_to
    if args.tag:
        fields["tags"] = args.tag
    fields["dependencies"] = [_edge(given) for given in args.depends_on or ()]
    with open_store(args, create=True) as store:
        task = store.create_task(args.project, fields)
    if args.json:
        _write_json(task)
    else:
        out.print(f"created task {task['id']} in {args.project}", markup=False)
    return 0


def cmd_tasks_move(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        before = store.get_task(args.project, args.task)["status"]
        task = store.transition_task(args.project, args.task, args.status, reason=args.reason, actor=args.actor)
    out.print(f"{args.project}/{args.task}: {before} -> {task['status']}", markup=False)
    return 0


def cmd_tasks_rm(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        store.delete_task(args.project, args.task)
    out.print(f"deleted task {args.task} of {args.project} (its history and edges too; its runs stay)", markup=False)
    return 0


def cmd_tasks_deps(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        for given in args.add or ():
            edge = _edge(given)
            store.add_dependency(args.project, args.task, edge["taskId"], edge["type"])
        for other in args.remove or ():
            store.remove_dependency(args.project, args.task, other)
        found = (store.task_dependents if args.dependents else store.task_dependencies)(args.project, args.task)
    if args.json:
        _write_json({"dependents" if args.dependents else "dependencies": found})
        return 0
    title = f"{args.project}/{args.task}: " + ("what depends on it" if args.dependents else "what it depends on")
    rows = []
    for edge in found:
        other = edge["task"] or {}
        status = str(other.get("status", "missing"))
        rows.append([edge["taskId"], edge["type"], Text(status, style=_COLORS.get(status, "")), other.get("title", "")])
    columns = [Column("task"), Column("type"), Column("status"), Column("title", flex=True)]
    print_table(title, columns, rows)
    return 0


def cmd_context(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        text = store.task_context(args.project, args.task, format=args.format, max_chars=args.max_chars)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def _edge(given: str) -> JSONObject:
    """``ID`` or ``ID:type`` (blocks, requires, related) as a dependency."""
    task, _, kind = given.partition(":")
    if kind and kind not in ("blocks", "requires", "related"):
        raise InvalidParameter(f"a dependency is ID or ID:blocks|requires|related, got {given!r}")
    return {"taskId": task, "type": kind or "blocks"}


def _print_tasks(title: str, tasks: list[JSONObject]) -> None:
    columns = [Column("id"), Column("title", flex=True)]
    columns += [Column(name) for name in ("status", "priority", "cx", "assigned", "deps")]
    rows = [
        [
            task["id"],
            task["title"],
            Text(task["status"], style=_COLORS.get(task["status"], "")),
            task["priority"],
            "" if task["complexityScore"] is None else str(task["complexityScore"]),
            task["assignedTo"] or "",
            ", ".join(edge["taskId"] for edge in task["dependencies"]),
        ]
        for task in tasks
    ]
    print_table(title, columns, rows)


def _write_json(value: object, indent: bool = False) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode() + "\n")
    sys.stdout.flush()


def add_task_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    command: Command,
) -> None:
    """Register ``tasks`` (ls, order, show, add, move, rm, deps) and ``context`` on the CLI's subcommands."""
    tasks = commands.add_parser(
        "tasks",
        parents=[common],
        help="tasks: ls, order, show, add, move, rm, deps",
        description="list, show, create, move and delete tasks, and change what they depend on",
    )
    task_commands = tasks.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def task_command(name: str, run: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = task_commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(run=run, usage_error=sub.error)
        sub.add_argument("project")
        return sub

    ls = task_command("ls", cmd_tasks_ls, "list a project's tasks, critical first, then oldest first")
    ls.add_argument(
        "--status", action="append", help=f"only these statuses (comma-separated or repeated): {', '.join(STATUSES)}"
    )
    ls.add_argument(
        "--priority",
        action="append",
        help=f"only these priorities (comma-separated or repeated): {', '.join(PRIORITIES)}",
    )
    ls.add_argument("--tag")
    ls.add_argument("--assigned-to")
    ls.add_argument("--ready", action="store_true", help="only pending tasks whose blockers have all succeeded")
    ls.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    ls.add_argument("--offset", type=int, default=0)
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    order = task_command("order", cmd_tasks_order, "every task, each after what it depends on")
    order.add_argument("--json", action="store_true", help="print JSON instead of a table")

    task_command("show", cmd_tasks_show, "print one task as JSON").add_argument("task")

    add = task_command("add", cmd_tasks_add, "create a task")
    add.add_argument("--title", required=True)
    add.add_argument("--id", help="default: a new time-sortable id")
    add.add_argument("--description", help="the input prompt ('-': read stdin)")
    add.add_argument("--priority", choices=PRIORITIES[::-1], default="medium")
    add.add_argument("--complexity", type=int, metavar="1-10")
    add.add_argument("--assigned-to")
    add.add_argument("--tag", action="append", help="a tag (repeat for more)")
    add.add_argument("--depends-on", action="append", metavar="ID[:TYPE]", help="a dependency (repeat for more)")
    add.add_argument("--json", action="store_true", help="print the task as JSON")

    move = task_command("move", cmd_tasks_move, "move a task to another status (allowed moves only)")
    move.add_argument("task")
    move.add_argument("status", choices=STATUSES)
    move.add_argument("--reason")
    move.add_argument("--actor")

    task_command("rm", cmd_tasks_rm, "delete a task, its history and its edges").add_argument("task")

    deps = task_command("deps", cmd_tasks_deps, "show (and change) what a task depends on")
    deps.add_argument("task")
    deps.add_argument("--add", action="append", metavar="ID[:TYPE]", help="add a dependency (repeat for more)")
    deps.add_argument("--remove", action="append", metavar="ID", help="remove a dependency (repeat for more)")
    deps.add_argument("--dependents", action="store_true", help="show what depends on the task instead")
    deps.add_argument("--json", action="store_true", help="print JSON instead of a table")

    context = command("context", cmd_context, "print what an agent needs to continue a task (for a prompt)")
    context.add_argument("project")
    context.add_argument("task")
    context.add_argument("--format", choices=FORMATS, default="markdown")
    context.add_argument("--max-chars", type=int, default=DEFAULT_MAX_CHARS, metavar="N")
