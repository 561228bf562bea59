"""``storehouse add``, ``storehouse patch`` and ``storehouse record``: create and change runs from the command
line, and keep any command's run as one (see ``cli.py`` for ``ls``, ``show``, ``stats`` and ``rm``)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import IO

import orjson

from .errors import InvalidBody, PreconditionFailed
from .models import ExecutionStatus, JSONObject, JSONValue
from .store import Storehouse
from .terminal import err, open_store, out

STATUSES = tuple(status.value for status in ExecutionStatus)  # from the domain, not the SQLite index

Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]
ERROR_TAIL = 2000  # characters of a failed command's stderr kept in the run's error


def cmd_add(args: argparse.Namespace) -> int:
    fields: JSONObject = {"status": args.status}
    for key, value in (("id", args.id), ("name", args.name), ("taskId", args.task)):
        if value is not None:
            fields[key] = value
    if args.tag:
        fields["tags"] = args.tag
    for key, text in (("input", args.input), ("output", args.output), ("metadata", args.metadata)):
        if text is not None:
            fields[key] = _json(text, f"--{key}")
    with open_store(args, create=True) as store:
        run = store.create_execution(args.project, fields)
    _print_run(run, "created", args.json)
    return 0


def cmd_patch(args: argparse.Namespace) -> int:
    changes: JSONObject = {}
    if args.merge_patch is not None:
        given = _json(args.merge_patch, "--merge-patch")
        if not isinstance(given, dict):
            raise InvalidBody("--merge-patch must be a JSON object (a merge patch), such as '{\"output\": 1}'")
        changes.update(given)
    for key, value in (("status", args.status), ("name", args.name), ("error", args.error), ("costUSD", args.cost)):
        if value is not None:
            changes[key] = value
    if args.output is not None:
        changes["output"] = _json(args.output, "--output")
    usage = {key: value for key, value in (("input", args.tokens_in), ("output", args.tokens_out)) if value is not None}
    if usage:
        given_usage = changes.get("tokenUsage")
        changes["tokenUsage"] = {**(given_usage if isinstance(given_usage, dict) else {}), **usage}
    if not changes:
        args.usage_error("nothing to change: give --status, --name, --error, --tokens-in ... or --merge-patch")
    with open_store(args) as store:
        run = store.patch_execution(args.project, args.execution, changes, if_match=args.if_match)
    _print_run(run, "patched", args.json)
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    """Run a command as a run: ``running`` while it runs, then ``completed``, ``failed`` (exit code and the end
    of stderr in ``error``) or ``cancelled`` (Ctrl-C). Exits with the command's exit code."""
    command = args.command
    if not command:
        args.usage_error("give the command to run after --: storehouse record PROJECT -- python train.py")
    fields: JSONObject = {"name": args.name or os.path.basename(command[0]), "status": "running"}
    fields["input"] = {"command": list(command)}
    if args.task is not None:
        fields["taskId"] = args.task
    if args.tag:
        fields["tags"] = args.tag
    with open_store(args, create=True) as store:
        run = store.create_execution(args.project, fields)
        err.print(f"recording {args.project}/{run['id']}: {' '.join(command)}", markup=False)
        try:
            code, tail = _run(command)
        except KeyboardInterrupt:
            _end(store, args.project, run, "cancelled", "interrupted (Ctrl-C)", None)
            return 130
        except OSError as exc:
            _end(store, args.project, run, "failed", f"could not start {command[0]}: {exc.strerror or exc}", None)
            return 127 if isinstance(exc, FileNotFoundError) else 126
        if code == 0:
            ended = _end(store, args.project, run, "completed", None, code)
        else:
            ended = _end(store, args.project, run, "failed", _failure(code, tail), code)
    duration = ended["duration"]
    err.print(f"recorded {args.project}/{run['id']}: {ended['status']} in {duration} ms", markup=False)
    return code if code >= 0 else 128 - code


def _run(command: list[str]) -> tuple[int, str]:
    """Run command (no shell) with stdin and stdout as ours, stderr copied to ours as it comes; return its
    exit code (negative: the signal that ended it) and the last ``ERROR_TAIL`` characters of its stderr.

    Ctrl-C reaches the command too (same terminal, same process group); we wait for it to end, then let the
    KeyboardInterrupt through, so the run is marked cancelled whatever the command did with the signal."""
    process = subprocess.Popen(command, stderr=subprocess.PIPE)
    assert process.stderr is not None
    kept = bytearray()
    copier = threading.Thread(target=_tee, args=(process.stderr, kept), daemon=True)
    copier.start()
    try:
        code = process.wait()
    except KeyboardInterrupt:
        try:
            process.wait(5)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            process.kill()
            process.wait()
        raise
    finally:
        copier.join(5)
    return code, bytes(kept).decode(errors="replace")[-ERROR_TAIL:]


def _tee(source: IO[bytes], kept: bytearray) -> None:
    """Copy source to our stderr as it comes, keeping its last bytes (4 per character: enough for the tail)."""
    while chunk := source.read1(65536) if hasattr(source, "read1") else source.read(65536):
        sys.stderr.buffer.write(chunk)
        sys.stderr.buffer.flush()
        kept += chunk
        del kept[: max(0, len(kept) - 4 * ERROR_TAIL)]
    source.close()


def _failure(code: int, tail: str) -> str:
    if code < 0:
        try:
            what = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            what = f"killed by signal {-code}"
    else:
        what = f"exit code {code}"
    return f"{what}; stderr ends:\n{tail}" if tail.strip() else what


def _end(
    store: Storehouse, project: str, run: JSONObject, status: str, error: str | None, code: int | None
) -> JSONObject:
    """The run's final write: its status, error and exit code. A final status someone else set meanwhile (say
    ``cancelled`` from the page) is kept: the write is a compare-and-swap on the version read, retried."""
    while True:
        current = store.get_execution(project, run["id"])
        ended = current["status"] in ("completed", "failed", "cancelled")
        changes: JSONObject = {} if ended else {"status": status, **({"error": error} if error is not None else {})}
        if code is not None:
            changes["metadata"] = {"exitCode": code}
        if not changes:
            return current
        try:
            return store.patch_execution(project, run["id"], changes, if_match=current["version"])
        except PreconditionFailed:
            continue  # written meanwhile: read it again


def _json(text: str, flag: str) -> JSONValue:
    try:
        value: JSONValue = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"{flag} must be JSON, got {text[:40]!r} ({exc})") from None
    return value


def _print_run(run: JSONObject, what: str, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(orjson.dumps(run).decode() + "\n")
        return
    name = f" {run['name']}" if run.get("name") else ""
    out.print(f"{what} {run['projectId']}/{run['id']}{name}: {run['status']}, version {run['version']}", markup=False)


def add_run_filters(parser: argparse.ArgumentParser) -> None:
    """The filters of a list of runs, as the API and ``export`` have them (``--status`` repeatable)."""
    parser.add_argument(
        "--status", action="append", help=f"only these statuses (comma-separated or repeated): {', '.join(STATUSES)}"
    )
    parser.add_argument("--task", help="only runs of this task id")
    parser.add_argument("--tag", help="only runs with this tag")
    parser.add_argument("--started-after", metavar="TS", help="only runs started at or after this RFC 3339 time")
    parser.add_argument("--started-before", metavar="TS", help="only runs started before this RFC 3339 time")
    parser.add_argument("--q", metavar="TEXT", help="only runs whose id starts with this or whose name contains it")


def add_run_commands(command: Command) -> None:
    """Register ``add``, ``patch`` and ``record`` on the CLI's subcommands."""
    add = command("add", cmd_add, "create a run (default status completed) and print it")
    add.add_argument("project")
    add.add_argument("--name")
    add.add_argument("--status", choices=STATUSES, default="completed")
    add.add_argument("--task", help="the task id the run belongs to")
    add.add_argument("--tag", action="append", help="a tag (repeat for more)")
    add.add_argument("--input", metavar="JSON", help="the run's input, as JSON")
    add.add_argument("--output", metavar="JSON", help="the run's output, as JSON")
    add.add_argument("--metadata", metavar="JSON", help="a JSON object")
    add.add_argument("--id", help="default: a new time-sortable id")
    add.add_argument("--json", action="store_true", help="print the run as JSON")

    patch = command("patch", cmd_patch, "change a run (a merge patch of the flags given) and print it")
    patch.add_argument("project")
    patch.add_argument("execution", metavar="ID")
    patch.add_argument("--status", choices=STATUSES)
    patch.add_argument("--name")
    patch.add_argument("--error", metavar="TEXT")
    patch.add_argument("--tokens-in", type=int, metavar="N", help="input tokens (tokenUsage.input)")
    patch.add_argument("--tokens-out", type=int, metavar="N", help="output tokens (tokenUsage.output)")
    patch.add_argument("--cost", type=float, metavar="USD", help="the cost in USD (costUSD)")
    patch.add_argument("--output", metavar="JSON", help="the run's output, as JSON")
    patch.add_argument(
        "--merge-patch", metavar="JSON", help="a JSON merge patch (RFC 7396) of any fields; the flags apply over it"
    )
    patch.add_argument("--if-match", type=int, metavar="V", help="only if the run is at this version")
    patch.add_argument("--json", action="store_true", help="print the run as JSON")

    record = command(
        "record",
        cmd_record,
        "run a command as a run: running, then completed, or failed with its exit code and the end of its stderr",
    )
    record.add_argument("project")
    record.add_argument("--name", help="default: the command's name")
    record.add_argument("--task", help="the task id the run belongs to")
    record.add_argument("--tag", action="append", help="a tag (repeat for more)")
    record.usage = "storehouse record [-h] [--data-dir D] [--name N] [--task T] [--tag T] PROJECT -- COMMAND [ARGS ...]"
    record.epilog = "Everything after -- is the command and its arguments, run as they are (no shell)."
    # The command is what follows "--", split off by cli.main before parsing: argparse has no clean way to take
    # "the rest" (REMAINDER would take the flags between PROJECT and "--" as well, nargs="*" takes nothing)
    record.set_defaults(command=None)
