"""The ``storehouse`` command: parse arguments, call Storehouse, print. ``main()`` maps errors to exit codes once."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from . import __version__
from .config import DEFAULT_MAX_CONNECTIONS, DEFAULT_PORT, DEFAULT_REQUEST_TIMEOUT, Settings, is_loopback
from .errors import InvalidBody, InvalidParameter, StorehouseError
from .history import TYPES, Retention, validate_entry
from .index import SORTS, STATUSES
from .models import JSONObject, now_timestamp
from .queries import DEFAULT_HISTORY_LIMIT, DEFAULT_LIMIT
from .store import Storehouse

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 error or problems found, 2 bad usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        result: int = args.run(args)
        return result
    except StorehouseError as exc:
        err.print(f"error: {exc.message}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(
        data_dir=args.data_dir,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        token=getattr(args, "token", None),
        allowed_hosts=getattr(args, "allowed_hosts", None),
        max_body_bytes=getattr(args, "max_body_bytes", None),
        request_timeout=getattr(args, "request_timeout", None),
        max_connections=getattr(args, "max_connections", None),
    )


def _open(args: argparse.Namespace) -> Storehouse:
    return Storehouse(settings=_settings(args))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .http import create_app
    from .http.protocol import deadline_protocol

    settings = _settings(args)
    if not is_loopback(settings.host) and not settings.token:
        raise InvalidParameter(
            f"refusing to serve on {settings.host} without a token: anyone who can reach it could read and delete "
            "the history. Set --token (or STOREHOUSE_TOKEN), or bind to 127.0.0.1"
        )
    with Storehouse(settings=settings) as store:
        url_host = f"[{settings.host}]" if ":" in settings.host else settings.host
        err.print(f"storehouse {__version__}: serving {settings.data_dir} at http://{url_host}:{settings.port}/")
        uvicorn.run(
            create_app(store, settings),
            host=settings.host,
            port=settings.port,
            log_level=args.log_level,
            access_log=args.log_level == "debug",
            server_header=False,
            # httptools (a C parser; uvloop too when installed): ~3x the requests/s of the pure-Python h11,
            # with a deadline for receiving each request, so slow or stalled clients cannot hold the server
            http=deadline_protocol(settings.request_timeout),
            limit_concurrency=settings.max_connections,
        )
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    with _open(args) as store:
        page = store.list_executions(
            args.project,
            status=args.status,
            limit=args.limit,
            offset=args.offset,
            sort=args.sort,
            task_id=args.task,
            tag=args.tag,
        )
    if args.json:
        _write_json({"executions": page.items, "total": page.total})
        return 0
    table = Table(title=f"{args.project}: {len(page.items)} of {page.total} executions", title_justify="left")
    table.add_column("id", no_wrap=True, min_width=26)
    table.add_column("name", min_width=12)
    table.add_column("status", min_width=9)
    table.add_column("started", no_wrap=True, min_width=24)
    for column in ("duration", "tokens", "cost USD"):
        table.add_column(column, justify="right")
    colors = {"completed": "green", "failed": "red", "running": "yellow", "cancelled": "dim"}
    for item in page.items:
        status = item["status"]
        table.add_row(
            item["id"],
            Text(item["name"] or ""),  # user data is never read as markup
            Text(status, style=colors.get(status, "default")),
            item["startedAt"] or "",
            _duration(item["duration"]),
            f"{item['tokenUsage']['total']:,}",
            f"{item['costUSD']:.4f}",
        )
    out.print(table)
    return 0


def _write_json(value: object, indent: bool = False) -> None:
    """JSON to stdout as it is: rich would turn ``:smile:`` in a value into an emoji."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode() + "\n")
    sys.stdout.flush()


def cmd_show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        document = store.get_execution(args.project, args.execution)
    _write_json(document, indent=True)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with _open(args) as store:
        stats = store.execution_stats(args.project)
    if args.json:
        _write_json(stats)
        return 0
    table = Table(title=f"{args.project}: stats", title_justify="left", show_header=False)
    table.add_column("name")
    table.add_column("value", justify="right")
    for name, value in stats.items():
        table.add_row(name, "" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.6g}")
    out.print(table)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if bool(args.execution) == bool(args.all):
        raise InvalidParameter("give either an execution id or --all")
    with _open(args) as store:
        if args.all:
            out.print(f"deleted {store.delete_executions(args.project)} executions of {args.project}")
        else:
            store.delete_execution(args.project, args.execution)
            out.print(f"deleted {args.execution}")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    with _open(args) as store, _progress("reindexing") as update:
        report = store.reindex(args.project, update)
    out.print(
        f"reindexed {report.projects} project(s): {report.indexed} executions indexed, "
        f"{report.invalid} invalid file(s) skipped"
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    with _open(args) as store, _progress("checking") as update:
        report = store.check(update)
    for problem in report.problems:
        out.print(f"problem: {problem}", markup=False)
    verdict = "ok" if not report.problems else f"{len(report.problems)} problem(s)"
    out.print(f"checked {report.files} files in {report.projects} project(s): {verdict}")
    return 1 if report.problems else 0


def cmd_backup(args: argparse.Namespace) -> int:
    with _open(args) as store, _progress("copying") as update:
        report = store.backup(args.dest, update)
    out.print(
        f"backed up {report.projects} project(s) to {args.dest}: {report.files:,} execution files, "
        f"{report.bytes:,} bytes in {report.seconds:.2f} s",
        markup=False,
    )
    return 0


def cmd_history_add(args: argparse.Namespace) -> int:
    if args.file is not None and any(getattr(args, name) is not None for name in _ENTRY_FLAGS.values()):
        args.usage_error(f"--file takes every field from its lines; leave out {', '.join(_ENTRY_FLAGS)}")  # exits 2
    entries = [_entry_from_flags(args)] if args.file is None else _entries_from_file(args.file, args.task)
    with _open(args) as store:
        added = store.add_history(args.project, args.task, entries)
    if args.json:
        _print_json_lines(added)
    else:
        ids = f"id {added[0]['id']}" if len(added) == 1 else f"ids {added[0]['id']}-{added[-1]['id']}"
        out.print(f"added {_n_entries(len(added))} to {args.project}/{args.task}: {ids}", markup=False)
    return 0


def cmd_history_ls(args: argparse.Namespace) -> int:
    with _open(args) as store:
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
    table = Table(title=f"{where}: history", title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("createdAt", no_wrap=True, min_width=24)
    if args.task is None:
        table.add_column("task", no_wrap=True)
    for column in ("type", "role"):
        table.add_column(column, no_wrap=True)
    # content is the one column that gives way when the terminal is narrow: one line, cut with an ellipsis
    table.add_column("content", min_width=10)
    for entry in page.entries:
        task = [str(entry["taskId"])] if args.task is None else []
        cells = [str(entry["id"]), str(entry["createdAt"]), *task, str(entry["type"]), str(entry["role"] or "")]
        content = Text(_shorten(entry["content"]), no_wrap=True, overflow="ellipsis")
        table.add_row(*(Text(cell) for cell in cells), content)  # Text: user data is never read as markup
    out.print(table)
    out.print(f"{len(page.entries)} of {page.total} entries", markup=False)
    return 0


def cmd_history_count(args: argparse.Namespace) -> int:
    with _open(args) as store:
        out.print(str(store.count_history(args.project, args.task)))
    return 0


def cmd_history_rm(args: argparse.Namespace) -> int:
    with _open(args) as store:
        deleted = store.delete_history(args.project, args.task)
    out.print(f"deleted {_n_entries(deleted)} of {args.project}/{args.task}", markup=False)
    return 0


def cmd_history_settings(args: argparse.Namespace) -> int:
    changes: JSONObject = {}
    if args.ttl_days is not None:
        changes["historyTtlDays"] = args.ttl_days
    if args.max_entries is not None:
        changes["historyMaxEntriesPerTask"] = args.max_entries
    with _open(args) as store:
        settings = (
            store.set_history_settings(args.project, changes) if changes else store.history_settings(args.project)
        )
    if args.json:
        sys.stdout.write(orjson.dumps(settings).decode() + "\n")
        return 0
    for name, value in settings.items():
        out.print(f"{name} {value}", markup=False)
    return 0


def cmd_prune(args: argparse.Namespace) -> int:
    with _open(args) as store:
        # every project with a history directory; Storehouse has no public listing of them yet
        projects = [args.project] if args.project else store.history_projects()
        removed = {project: store.prune_history(project) for project in projects}
    total = sum(removed.values())
    if args.json:
        sys.stdout.write(orjson.dumps({"projects": removed, "deleted": total}).decode() + "\n")
        return 0
    for project, count in removed.items():
        out.print(f"{project}: removed {_n_entries(count)}", markup=False)
    out.print(f"removed {_n_entries(total)} in all from {len(removed)} project(s)")
    return 0


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

    Blank lines are skipped; an error names the line. Validation is the library's own (``validate_entry``),
    run here too because the library's error cannot say which line it came from.
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


class _progress:
    """A progress bar on stderr, shown only where a person watches (a terminal)."""

    def __init__(self, what: str) -> None:
        self.bar = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self.task = self.bar.add_task(what, total=None)

    def __enter__(self) -> Callable[[int, int], None]:
        self.bar.start()
        return lambda done, total: self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *_: object) -> None:
        self.bar.stop()


def _duration(ms: int | None) -> str:
    if ms is None:
        return ""
    return f"{ms} ms" if ms < 10_000 else f"{ms / 1000:.1f} s"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help="the data directory (env STOREHOUSE_DATA_DIR; default ./data)", type=Path)
    parser = argparse.ArgumentParser(
        prog="storehouse",
        description="Keeps the history of AI-agent and workflow runs as plain JSON files, and serves it over HTTP.",
    )
    parser.add_argument("--version", action="version", version=f"storehouse {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(run=run)
        return sub

    serve = command("serve", cmd_serve, "serve the HTTP API and the web page")
    serve.add_argument("--host", help="address to bind (env STOREHOUSE_HOST; default 127.0.0.1)")
    serve.add_argument("--port", type=int, help=f"port (env STOREHOUSE_PORT; default {DEFAULT_PORT})")
    serve.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on /api (env STOREHOUSE_TOKEN)")
    serve.add_argument(
        "--allowed-hosts", help="more Host names to accept, comma-separated (env STOREHOUSE_ALLOWED_HOSTS)"
    )
    serve.add_argument("--max-body-bytes", type=int, help="largest request body (env STOREHOUSE_MAX_BODY_BYTES)")
    serve.add_argument(
        "--request-timeout",
        type=int,
        help="seconds for a request to arrive in full, else 408 "
        f"(env STOREHOUSE_REQUEST_TIMEOUT; default {DEFAULT_REQUEST_TIMEOUT})",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        help="connections and requests at once, beyond which 503 "
        f"(env STOREHOUSE_MAX_CONNECTIONS; default {DEFAULT_MAX_CONNECTIONS})",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    ls = command("ls", cmd_ls, "list a project's executions, newest first")
    ls.add_argument("project")
    ls.add_argument("--status", help=f"only these statuses, comma-separated: {', '.join(STATUSES)}")
    ls.add_argument("--task", help="only runs of this task id")
    ls.add_argument("--tag", help="only runs with this tag")
    ls.add_argument("--sort", default="-startedAt", choices=list(SORTS))
    ls.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    ls.add_argument("--offset", type=int, default=0)
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    show = command("show", cmd_show, "print one execution as JSON")
    show.add_argument("project")
    show.add_argument("execution")

    stats = command("stats", cmd_stats, "counts, cost, tokens and durations of a project")
    stats.add_argument("project")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rm = command("rm", cmd_rm, "delete one execution, or every execution of a project with --all")
    rm.add_argument("project")
    rm.add_argument("execution", nargs="?")
    rm.add_argument("--all", action="store_true", help="delete every execution of the project")

    reindex = command("reindex", cmd_reindex, "rebuild the index from the files (one project, or all)")
    reindex.add_argument("project", nargs="?")

    command("check", cmd_check, "verify every file parses and matches the index; exit 1 if not")

    backup = command(
        "backup", cmd_backup, "copy the data directory into DEST (new or empty) while servers keep writing to it"
    )
    backup.add_argument("dest", metavar="DEST", type=Path)

    history = commands.add_parser(
        "history",
        help="a task's history: add, ls, count, rm, settings",
        description="add, list, count and delete the entries of task histories; show or change their retention",
    )
    history_commands = history.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def history_command(name: str, run: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        sub = history_commands.add_parser(name, parents=[common], help=text, description=text)
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
    settings.add_argument("--json", action="store_true", help="print JSON")

    prune = command("prune", cmd_prune, "remove expired history entries (and those over the cap) from the files")
    prune.add_argument("project", nargs="?", help="one project; default every project")
    prune.add_argument("--json", action="store_true", help="print JSON")
    return parser


if __name__ == "__main__":  # pragma: no cover - python -m storehouse.cli
    sys.exit(main())
