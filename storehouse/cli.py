"""The ``storehouse`` command: parse arguments, call Storehouse, print. ``main()`` maps errors to exit codes once."""

from __future__ import annotations

import argparse
import errno
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from . import __version__
from .cli_history import add_history_commands
from .cli_projects import add_project_commands, confirm
from .cli_runs import add_run_commands, add_run_filters
from .cli_tasks import add_task_commands
from .cli_transfer import add_transfer_commands
from .config import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_STREAMS,
    DEFAULT_PORT,
    DEFAULT_REQUEST_TIMEOUT,
    check_token,
    is_loopback,
)
from .errors import InvalidParameter, StorehouseError
from .index import SORTS
from .queries import DEFAULT_LIMIT
from .store import Storehouse
from .terminal import Column, err, joined, note_unknown_project, open_store, out, print_table, settings_from


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 error or problems found, 2 bad usage)."""
    parser = _parser()
    words, command = _split_command(_attach_dash_values(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(words)
    if command is not None:
        args.command = command
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    if args.json and not getattr(args, "takes_json", False):
        args.usage_error("--json: this command prints no JSON")  # exits 2
    try:
        result: int = args.run(args)
        return result
    except StorehouseError as exc:
        err.print(f"error: {exc.message}", markup=False)
        return 1
    except KeyboardInterrupt:
        return 130


DASH_VALUES = ("--sort",)  # flags whose value may start with '-' (a descending sort key)


def _split_command(words: list[str]) -> tuple[list[str], list[str] | None]:
    """For ``storehouse record ... -- COMMAND ARGS``: (the words before ``--``, the command after it); for any
    other command (or without ``--``), (every word, None)."""
    position = 0
    while position < len(words) and words[position].startswith("-"):  # flags of the main parser
        position += 2 if words[position] == "--data-dir" else 1
    if words[position : position + 1] != ["record"] or "--" not in words:
        return words, None
    cut = words.index("--")
    return words[:cut], words[cut + 1 :]


def _attach_dash_values(argv: Sequence[str]) -> list[str]:
    """``--sort -costUSD`` as ``--sort=-costUSD``: argparse takes a word that starts with '-' for a flag, so it
    would answer "expected one argument". A word starting with '--' stays a flag (``--sort --json`` is an error),
    and nothing after ``--`` (the command of ``storehouse record``) is touched."""
    words: list[str] = []
    rest = list(argv)
    while rest:
        word = rest.pop(0)
        if word == "--":
            return [*words, word, *rest]
        if word in DASH_VALUES and rest and rest[0].startswith("-") and not rest[0].startswith("--") and rest[0] != "-":
            word = f"{word}={rest.pop(0)}"
        words.append(word)
    return words


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .http import create_app
    from .http.protocol import Limits, guarded_protocol

    settings = settings_from(args)
    check_token(settings.token)
    if not is_loopback(settings.host) and not settings.token:
        raise InvalidParameter(
            f"refusing to serve on {settings.host} without a token: anyone who can reach it could read and delete "
            "the history. Set --token (or STOREHOUSE_TOKEN), or bind to 127.0.0.1"
        )
    listening = _bind(settings.host, settings.port)  # before anything says "serving": the port may be taken
    with listening, Storehouse(settings=settings) as store:
        port = listening.getsockname()[1]
        url_host = f"[{settings.host}]" if ":" in settings.host else settings.host
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(store, settings),
                host=settings.host,
                port=port,
                log_level=args.log_level,
                access_log=args.log_level == "debug",
                server_header=False,
                # httptools (a C parser; uvloop too when installed): ~3x the requests/s of the pure-Python h11,
                # with a deadline for receiving each request, so slow or stalled clients cannot hold the server,
                # and with per-peer caps on connections and event streams (instead of uvicorn's
                # limit_concurrency, one cap that one peer's idle sockets could fill before any had sent a token)
                http=guarded_protocol(Limits.from_settings(settings)),
            )
        )
        err.print(f"storehouse {__version__}: serving {settings.data_dir} at http://{url_host}:{port}/", markup=False)
        server.run(sockets=[listening])
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """A socket listening on host:port for uvicorn to serve, or InvalidParameter in one line that
    says why not and what to do, instead of uvicorn's log lines after a "serving" that was not true."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise InvalidParameter(f"cannot serve on {host}: {exc.strerror} (--host)") from None
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: restart over TIME_WAIT
        listening.bind(address)
    except OSError as exc:
        listening.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidParameter(f"port {port} on {host} is in use; pick another with --port") from None
        if exc.errno == errno.EACCES:
            raise InvalidParameter(f"port {port} on {host} needs privileges; pick one above 1023 with --port") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise InvalidParameter(f"{host} is not an address of this machine; pick another with --host") from None
        raise InvalidParameter(f"cannot serve on {host} port {port}: {exc.strerror or exc}") from None
    listening.listen(2048)  # uvicorn's backlog; from here a client that connects waits for the server, not refused
    return listening


def cmd_ls(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        page = store.list_executions(
            args.project,
            status=joined(args.status),
            task_id=args.task,
            tag=args.tag,
            started_after=args.started_after,
            started_before=args.started_before,
            q=args.q,
            sort=args.sort,
            limit=args.limit,
            offset=args.offset,
            cursor=args.cursor,
        )
        if not page.total:
            note_unknown_project(store, args.project)
    if args.json:
        _write_json({"executions": page.items, "total": page.total, "nextCursor": page.next_cursor})
        return 0
    columns = [Column("id"), Column("name", flex=True), Column("status"), Column("started")]
    columns += [Column(name, right=True) for name in ("duration", "tokens", "cost USD")]
    colors = {"completed": "green", "failed": "red", "running": "yellow", "cancelled": "dim"}
    rows = [
        [
            item["id"],
            item["name"] or "",
            Text(item["status"], style=colors.get(item["status"], "default")),
            item["startedAt"] or "",
            _duration(item["duration"]),
            f"{item['tokenUsage']['total']:,}",
            f"{item['costUSD']:.4f}",
        ]
        for item in page.items
    ]
    more = f"; the next page: --cursor {page.next_cursor}" if page.next_cursor else ""
    print_table(f"{args.project}: {len(page.items)} of {page.total} executions{more}", columns, rows)
    return 0


def _write_json(value: object, indent: bool = False) -> None:
    """JSON to stdout as it is: rich would turn ``:smile:`` in a value into an emoji."""
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode() + "\n")
    sys.stdout.flush()


def cmd_show(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        document = store.get_execution(args.project, args.execution)
    _write_json(document, indent=True)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    with open_store(args) as store:
        stats = store.execution_stats(args.project)
        if not stats.get("totalExecutions"):
            note_unknown_project(store, args.project)
    if args.json:
        _write_json(stats)
        return 0
    rows = [
        [name, "" if value is None else f"{value:,}" if isinstance(value, int) else f"{value:.6g}"]
        for name, value in stats.items()
    ]
    print_table(f"{args.project}: stats", [Column("name"), Column("value", right=True)], rows)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    filters = {
        "status": ",".join(args.status) if args.status else None,
        "task_id": args.task,
        "tag": args.tag,
        "started_after": args.started_after,
        "started_before": args.started_before,
        "q": args.q,
    }
    given = [f"--{name.replace('_', '-')}" for name, value in filters.items() if value is not None]
    if sum((bool(args.execution), bool(args.all), bool(given))) != 1:
        raise InvalidParameter("give an execution id, --all, or filters (--status, --started-before ...): one of them")
    with open_store(args) as store:
        if args.execution:
            if args.dry_run:
                store.get_execution(args.project, args.execution)  # NotFound if it is not there
                out.print(f"would delete {args.execution}", markup=False)
                return 0
            store.delete_execution(args.project, args.execution)
            out.print(f"deleted {args.execution}", markup=False)
            return 0
        listed = {name: value for name, value in filters.items() if value is not None}
        count = store.list_executions(args.project, limit=1, **listed).total
        what = f"{count} execution(s) of {args.project}"
        if args.dry_run:
            out.print(f"would delete {what}", markup=False)
            return 0
        confirm(args, what, count)
        deleted = store.delete_executions(args.project, **listed)
    out.print(f"deleted {deleted} execution(s) of {args.project}", markup=False)
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    with open_store(args) as store, _progress("reindexing") as update:
        report = store.reindex(args.project, update)
    counts = ", ".join(f"{count:,} {noun}" for noun, count in report.counts().items())
    out.print(
        f"reindexed {report.projects} project(s): {counts} indexed, {report.invalid} invalid file(s) skipped",
        markup=False,
    )
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    with open_store(args) as store, _progress("checking") as update:
        report = store.check(update)
    for problem in report.problems:
        out.print(f"problem: {problem}", markup=False)
    for note in report.notes:  # worth knowing, not damage: the verdict stays ok
        out.print(f"note: {note}", markup=False)
    verdict = "ok" if not report.problems else f"{len(report.problems)} problem(s)"
    out.print(f"checked {report.files} files in {report.projects} project(s): {verdict}")
    return 1 if report.problems else 0


def cmd_backup(args: argparse.Namespace) -> int:
    with open_store(args) as store, _progress("copying") as update:
        report = store.backup(args.dest, update)
    counts = ", ".join(f"{count:,} {noun}" for noun, count in report.counts().items())
    out.print(
        f"backed up {report.projects} project(s) to {args.dest}: {counts} ({report.files:,} files, "
        f"{report.bytes:,} bytes) in {report.seconds:.2f} s",
        markup=False,
    )
    return 0


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
    # The common flags go before the command or after it (``storehouse --data-dir X ls P`` as in git and docker).
    # The copies after the command default to SUPPRESS, so that a flag not given there leaves the value given
    # before it (argparse copies every default of a subcommand over what the main parser set); one given on
    # both sides: the one after the command wins.
    parser = argparse.ArgumentParser(
        prog="storehouse",
        description="Keeps the history of AI-agent and workflow runs as plain JSON files, and serves it over HTTP.",
        epilog="--data-dir and --json may also come before the command: storehouse --data-dir /srv/data ls demo",
    )
    parser.add_argument("--version", action="version", version=f"storehouse {__version__}")
    parser.add_argument("--data-dir", help=DATA_DIR_HELP, type=Path)
    parser.add_argument("--json", action="store_true", help="print JSON (for the commands that can)")
    parser.set_defaults(usage_error=parser.error)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", help=DATA_DIR_HELP, type=Path, default=argparse.SUPPRESS)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, run: Callable[[argparse.Namespace], int], text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=text, description=text)
        sub.set_defaults(run=run, usage_error=sub.error)
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
        help="connections at once (event streams count apart, see --max-streams), beyond which 503 "
        f"(env STOREHOUSE_MAX_CONNECTIONS; default {DEFAULT_MAX_CONNECTIONS})",
    )
    serve.add_argument(
        "--max-connections-per-peer",
        metavar="N",
        help="connections from one address (an IPv6 /64) at once, beyond which 503 "
        "(env STOREHOUSE_MAX_CONNECTIONS_PER_PEER; default a quarter of --max-connections)",
    )
    serve.add_argument(
        "--max-streams",
        metavar="N",
        help="event streams at once, counted apart from --max-connections, beyond which 503 "
        f"(env STOREHOUSE_MAX_STREAMS; default {DEFAULT_MAX_STREAMS})",
    )
    serve.add_argument(
        "--max-streams-per-peer",
        metavar="N",
        help="event streams from one address at once (env STOREHOUSE_MAX_STREAMS_PER_PEER; "
        "default a quarter of --max-streams)",
    )
    serve.add_argument(
        "--idle-timeout",
        metavar="SECONDS",
        help="seconds for a new connection to send its first byte, else 408 "
        f"(env STOREHOUSE_IDLE_TIMEOUT; default {DEFAULT_IDLE_TIMEOUT})",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    ls = command("ls", cmd_ls, "list a project's executions, newest first")
    ls.add_argument("project")
    add_run_filters(ls)
    ls.add_argument(
        "--sort", default="-startedAt", choices=list(SORTS), help="order ('-': descending; default -startedAt)"
    )
    ls.add_argument("--limit", type=int, default=DEFAULT_LIMIT)
    ls.add_argument("--offset", type=int, default=0)
    ls.add_argument("--cursor", help="the nextCursor of the previous page (--json prints it): stable deep paging")
    ls.add_argument("--json", action="store_true", help="print JSON instead of a table")

    show = command("show", cmd_show, "print one execution as JSON")
    show.add_argument("project")
    show.add_argument("execution")

    stats = command("stats", cmd_stats, "counts, cost, tokens and durations of a project")
    stats.add_argument("project")
    stats.add_argument("--json", action="store_true", help="print JSON instead of a table")

    rm = command("rm", cmd_rm, "delete one execution, those the filters match, or every one with --all")
    rm.add_argument("project")
    rm.add_argument("execution", nargs="?")
    rm.add_argument("--all", action="store_true", help="delete every execution of the project")
    rm.add_argument("--status", action="append", help="only these statuses (comma-separated or repeated)")
    rm.add_argument("--task", help="only runs of this task id")
    rm.add_argument("--tag", help="only runs with this tag")
    rm.add_argument("--started-after", metavar="TIME", help="only runs started at or after TIME (RFC 3339)")
    rm.add_argument("--started-before", metavar="TIME", help="only runs started before TIME (RFC 3339)")
    rm.add_argument("--q", metavar="TEXT", help="only runs whose id starts with TEXT or whose name contains it")
    rm.add_argument("--yes", action="store_true", help="do not ask before deleting more than one (no terminal)")
    rm.add_argument("--dry-run", action="store_true", help="print how many would be deleted, and delete nothing")

    reindex = command("reindex", cmd_reindex, "rebuild the index from the files (one project, or all)")
    reindex.add_argument("project", nargs="?")

    command("check", cmd_check, "verify every file parses and matches the index; exit 1 if not")

    backup = command(
        "backup", cmd_backup, "copy the data directory into DEST (new or empty) while servers keep writing to it"
    )
    backup.add_argument("dest", metavar="DEST", type=Path)

    add_history_commands(commands, common, command)
    add_project_commands(commands, common)
    add_task_commands(commands, common, command)
    add_transfer_commands(command)
    add_run_commands(command)
    _json_on_both_sides(parser)
    return parser


DATA_DIR_HELP = "the data directory (env STOREHOUSE_DATA_DIR; default ./data)"


def _json_on_both_sides(parser: argparse.ArgumentParser) -> None:
    """Let every command's --json leave a --json given before the command, and mark the commands that have one
    (``storehouse --json check`` is a usage error, not a flag ignored)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                for own in sub._actions:
                    if own.dest == "json" and own.option_strings:
                        own.default = argparse.SUPPRESS
                        sub.set_defaults(takes_json=True)
                _json_on_both_sides(sub)


if __name__ == "__main__":  # pragma: no cover - python -m storehouse.cli
    sys.exit(main())
