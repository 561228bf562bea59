"""The ``storehouse projects`` commands (list, delete), and the confirmation every delete of many things asks for
(``storehouse rm`` uses it too; see ``cli.py`` for the rest)."""

from __future__ import annotations

import argparse
import sys

import orjson
from rich.table import Table
from rich.text import Text

from .backends import ProjectInfo
from .errors import InvalidRequest
from .store import Storehouse
from .terminal import err, open_store, out


def confirm(args: argparse.Namespace, what: str, count: int) -> None:
    """Go on only if deleting ``count`` things (``what``: "3 executions of demo") is wanted: one thing or none goes
    without a question, and so does any number with ``--yes``; else a person at a terminal is asked, and without a
    terminal to ask on, InvalidRequest says to pass ``--yes`` (exit 1, nothing deleted)."""
    if count <= 1 or args.yes:
        return
    if not sys.stdin.isatty():
        raise InvalidRequest(f"this would delete {what}; pass --yes to confirm (there is no terminal to ask on)")
    err.print(f"delete {what}? [y/N] ", end="", markup=False)
    try:
        answer = input()
    except EOFError:
        answer = ""
    if answer.strip().lower() not in ("y", "yes"):
        raise InvalidRequest(f"not confirmed: nothing was deleted ({what} would have been)")


def cmd_projects_ls(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        projects = _every_project(store)
    if getattr(args, "json", False):
        items = [
            {
                "id": info.id,
                "executionCount": info.execution_count,
                "lastStartedAt": info.last_started_at,
                "costUSD": info.cost_usd,
                "taskCount": info.task_count,
            }
            for info in projects
        ]
        sys.stdout.write(orjson.dumps({"projects": items, "total": len(items)}).decode() + "\n")
        return 0
    table = Table(title=f"{len(projects)} project(s)", title_justify="left")
    table.add_column("project", no_wrap=True)
    for column in ("runs", "tasks", "cost USD"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("last run started", no_wrap=True)
    for info in projects:
        table.add_row(
            Text(info.id),
            f"{info.execution_count:,}",
            f"{info.task_count:,}",
            f"{info.cost_usd:.4f}",
            info.last_started_at or "",
        )
    out.print(table)
    return 0


def _every_project(store: Storehouse) -> list[ProjectInfo]:
    found: list[ProjectInfo] = []
    while True:
        page = store.list_projects(offset=len(found))
        found += page.items
        if not page.items or len(found) >= page.total:
            return found


def cmd_projects_rm(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        counts = _contents(store, args.project)
        what = _describe(counts, args.project)
        if args.dry_run:
            out.print(f"would delete {what}", markup=False)
            return 0
        if not any(counts.values()):
            raise InvalidRequest(f"project {args.project} has nothing to delete (no runs, tasks, history or settings)")
        confirm(args, what, sum(counts.values()))
        deleted = store.delete_project(args.project)
    out.print(f"deleted {_describe(deleted, args.project)}", markup=False)
    return 0


def _contents(store: Storehouse, project: str) -> dict[str, int]:
    """What a project delete would remove, counted as ``delete_project`` counts it."""
    history = sum(store.count_history(project, task) for task in store.history_tasks(project))
    return {
        "executions": store.list_executions(project, limit=1).total,
        "tasks": store.list_tasks(project, limit=1).total,
        "history": history,
        "settings": int(store.has_history_settings(project)),
    }


def _describe(counts: dict[str, int], project: str) -> str:
    settings = " and its settings" if counts["settings"] else ""
    return (
        f"project {project}: {counts['executions']} execution(s), {counts['tasks']} task(s), "
        f"{counts['history']} history entries{settings}"
    )


def add_project_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Register ``projects`` (ls, the default; rm) on the CLI's subcommands."""
    text = "projects: ls (the default: each with its runs, tasks and cost), rm"
    projects = commands.add_parser("projects", parents=[common], help=text, description=text)
    projects.set_defaults(run=cmd_projects_ls)
    projects.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub = projects.add_subparsers(title="commands", metavar="COMMAND")

    ls_text = "list the projects, each with its runs, tasks and total cost"
    ls = sub.add_parser("ls", parents=[common], help=ls_text, description=ls_text)
    ls.set_defaults(run=cmd_projects_ls)
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rm_text = "delete a project: its runs, tasks, history and settings (asks first unless --yes)"
    rm = sub.add_parser("rm", parents=[common], help=rm_text, description=rm_text)
    rm.set_defaults(run=cmd_projects_rm)
    rm.add_argument("project")
    rm.add_argument("--yes", action="store_true", help="do not ask: delete (needed when there is no terminal)")
    rm.add_argument("--dry-run", action="store_true", help="print how much would be deleted, and delete nothing")
