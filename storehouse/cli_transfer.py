"""``storehouse export`` and ``storehouse import``: a project out as JSON Lines (or CSV), and back in."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from .errors import InvalidParameter
from .index import STATUSES
from .terminal import err, joined, open_store, out
from .transfer import FORMATS, KINDS, RESULTS, ImportReport

Command = Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser]
SHOWN_LINES = 20  # line numbers listed per result before "and N more"


def cmd_export(args: argparse.Namespace) -> int:
    filters: dict[str, Any] = {
        name: value
        for name, value in (
            ("status", ",".join(joined(args.status) or []) or None),
            ("tag", args.tag),
            ("task_id", args.task),
            ("started_after", args.started_after),
            ("started_before", args.started_before),
            ("q", args.q),
        )
        if value is not None
    }
    if filters and args.kind == "project":
        raise InvalidParameter("filters need --kind executions, tasks or history (a project export takes none)")
    if args.kind == "tasks":
        unknown = sorted(set(filters) - {"status", "tag"})
        if unknown:
            raise InvalidParameter(f"--kind tasks filters by --status and --tag only, not {unknown[0]}")
    if args.kind == "history":
        unknown = sorted(set(filters) - {"task_id"})
        if unknown:
            raise InvalidParameter(f"--kind history filters by --task only, not {unknown[0]}")
    with open_store(args) as store:
        lines = store.export(args.project, args.kind, args.format, **filters)
        if args.output is None:
            try:
                _write(lines, sys.stdout.buffer)
            except BrokenPipeError:  # the reader stopped early (| head): not an error of ours
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        else:
            with args.output.open("wb") as target:
                count = _write(lines, target)
            err.print(f"exported {count} line(s) to {args.output}", markup=False)
    return 0


def _write(lines: Iterator[bytes], target: BinaryIO) -> int:
    count = 0
    for line in lines:
        target.write(line)
        count += 1
    target.flush()
    return count


def cmd_import(args: argparse.Namespace) -> int:
    with open_store(args, create=True) as store:
        if str(args.file) == "-":
            report = store.import_lines(sys.stdin.buffer, args.project)
        else:
            try:
                source = args.file.open("rb")
            except OSError as exc:
                raise InvalidParameter(f"cannot read {args.file}: {exc.strerror or exc}") from None
            with source:
                if args.file.suffix.lower() == ".csv" or source.read(1) not in (b"{", b"\n", b" ", b""):
                    raise InvalidParameter(
                        f"{args.file} is not JSON Lines: import reads what 'storehouse export' writes as jsonl "
                        "(CSV is a view for spreadsheets and is not imported)"
                    )
                source.seek(0)
                report = store.import_lines(source, args.project)
    if args.json:
        out.print_json(orjson.dumps(report.as_json()).decode())
    else:
        _print_report(report)
    return 1 if report.count("rejected") else 0


def _print_report(report: ImportReport) -> None:
    out.print(", ".join(f"{report.count(result)} {result}" for result in RESULTS), markup=False)
    for result in ("updated", "skipped", "rejected"):
        shown = [outcome for outcome in report.outcomes if outcome.result == result][:SHOWN_LINES]
        for outcome in shown:
            what = "".join(f" {part}" for part in (outcome.kind, outcome.project, outcome.id) if part)
            reason = f": {outcome.reason}" if outcome.reason else ""
            out.print(f"line {outcome.line}: {result}{what}{reason}", markup=False)
        more = report.count(result) - len(shown)
        if more > 0:
            out.print(f"... and {more} more {result} line(s) (--json lists every line)", markup=False)


def add_transfer_commands(command: Command) -> None:
    export = command("export", cmd_export, "write a project (or its executions, tasks or history) as JSON Lines or CSV")
    export.add_argument("project")
    export.add_argument("--kind", default="project", choices=KINDS, help="what to export (default: the project)")
    export.add_argument("--format", default="jsonl", choices=FORMATS, help="jsonl (importable, default) or csv")
    export.add_argument("--output", "-o", type=Path, help="write to this file instead of standard output")
    export.add_argument(
        "--status",
        action="append",
        help=f"executions: comma-separated or repeated, of {', '.join(STATUSES)}; tasks: theirs",
    )
    export.add_argument("--tag", help="only executions or tasks with this tag")
    export.add_argument("--task", help="only executions (or history) of this task id")
    export.add_argument("--started-after", help="only executions started at or after this RFC 3339 time")
    export.add_argument("--started-before", help="only executions started before this RFC 3339 time")
    export.add_argument("--q", help="only executions whose id starts with this or whose name contains it")

    imported = command(
        "import", cmd_import, "read an export (JSON Lines) into the data directory; idempotent by id and version"
    )
    imported.add_argument("file", type=Path, metavar="FILE", help="the export file, or - for standard input")
    imported.add_argument("--project", metavar="NEW", help="import every record into project NEW (a copy, renamed)")
    imported.add_argument("--json", action="store_true", help="print every line's outcome as JSON")
