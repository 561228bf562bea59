"""What every ``storehouse`` command shares: the consoles it prints on, how it opens the store, and how it
prints a table (whole rows, tab-separated, when stdout is not a terminal)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from .config import Settings
from .errors import NotFound
from .queries import MAX_LIMIT
from .store import Storehouse

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

MIN_FLEX = 12  # a wrapping column (name, title) is never narrower than this on one-line rows
Cell = str | Text


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings a command runs with: its flags, else STOREHOUSE_* variables, else the defaults."""
    return Settings.load(
        data_dir=getattr(args, "data_dir", None),
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        token=getattr(args, "token", None),
        allowed_hosts=getattr(args, "allowed_hosts", None),
        max_body_bytes=getattr(args, "max_body_bytes", None),
        request_timeout=getattr(args, "request_timeout", None),
        max_connections=getattr(args, "max_connections", None),
        max_connections_per_peer=getattr(args, "max_connections_per_peer", None),
        max_streams=getattr(args, "max_streams", None),
        max_streams_per_peer=getattr(args, "max_streams_per_peer", None),
        idle_timeout=getattr(args, "idle_timeout", None),
    )


def open_store(args: argparse.Namespace, *, create: bool = False) -> Storehouse:
    """The store of the command's data directory. Unless ``create`` (a command that adds something), a data
    directory that does not exist is NotFound, and nothing is made: reading where there is nothing must not
    leave an empty ``./data`` and index behind, nor print an empty answer as if it were one."""
    settings = settings_from(args)
    if not create and not settings.data_dir.is_dir():
        where = settings.data_dir
        shown = str(where) if where.is_absolute() or str(where).startswith(".") else f"./{where}"
        raise NotFound(
            f"data directory {shown} does not exist (give the right one with --data-dir or STOREHOUSE_DATA_DIR)"
        )
    return Storehouse(settings=settings)


def joined(values: Sequence[str] | None) -> list[str] | None:
    """The values of a repeatable filter (``--status failed --status cancelled``, each maybe comma-separated)
    as one list: the union, as the API takes it; None when the flag was not given."""
    if not values:
        return None
    return [part.strip() for value in values for part in value.split(",")]


def note_unknown_project(store: Storehouse, project: str) -> None:
    """On stderr, when a project that answered nothing does not exist at all (a typo, or the wrong data
    directory): the answer stays the empty one (projects appear with their first write), but a person learns
    why it is empty and which projects there are."""
    page = store.list_projects(limit=MAX_LIMIT)
    names = [info.id for info in page.items]
    if project in names or page.total > len(names):
        return
    known = f"; its projects: {', '.join(names[:10])}{', ...' if len(names) > 10 else ''}" if names else ""
    err.print(f"note: there is no project {project} in {store.settings.data_dir} yet{known}", markup=False)


@dataclass(frozen=True)
class Column:
    """A column of a table: ``flex`` columns (a name, a title) wrap; the others are always shown whole."""

    header: str
    right: bool = False
    flex: bool = False


def print_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[Cell]], footer: str = "") -> None:
    """Print rows for a person on a terminal, or for a program when stdout is not one.

    Not a terminal (``| grep``, a file, CI logs): a header line, then one row a line, tab-separated, every value
    whole (tabs and line breaks in a value become spaces); the title and footer go to stderr. On a terminal:
    a table whose narrow columns never shorten; the flex columns share what is left and wrap. When that leaves
    them less than ``MIN_FLEX`` (an 80-column terminal and a 26-character id), each row takes two lines: the
    first column and the flex ones, then the narrow columns, aligned under each other.
    """
    if not out.is_terminal:
        _print_plain(title, columns, rows, footer)
        return
    texts = [[cell if isinstance(cell, Text) else Text(cell) for cell in row] for row in rows]
    widths = [max([len(column.header), *(len(row[n].plain) for row in texts)]) for n, column in enumerate(columns)]
    fixed = sum(width for width, column in zip(widths, columns, strict=True) if not column.flex)
    flexible = sum(1 for column in columns if column.flex)
    overhead = 3 * len(columns) + 1  # a rule and a space either side of every cell
    if not flexible or fixed + flexible * MIN_FLEX + overhead <= out.width:
        table = Table(title=title or None, title_justify="left")
        for column, width in zip(columns, widths, strict=True):
            justify: JustifyMethod = "right" if column.right else "left"
            if column.flex:
                table.add_column(column.header, justify=justify, overflow="fold", min_width=MIN_FLEX)
            else:
                table.add_column(column.header, justify=justify, no_wrap=True, min_width=width)
        for row in texts:
            table.add_row(*row)
        out.print(table)
    else:
        _print_stacked(title, columns, widths, texts)
    if footer:
        out.print(footer, markup=False)


def _print_plain(title: str, columns: Sequence[Column], rows: Sequence[Sequence[Cell]], footer: str) -> None:
    if title:
        err.print(title, markup=False)
    lines = ["\t".join(column.header for column in columns)]
    for row in rows:
        lines.append("\t".join(_one_line(cell.plain if isinstance(cell, Text) else cell) for cell in row))
    out.file.write("".join(line + "\n" for line in lines))
    out.file.flush()
    if footer:
        err.print(footer, markup=False)


def _one_line(value: str) -> str:
    return " ".join(value.replace("\t", " ").splitlines()) if "\t" in value or "\n" in value or "\r" in value else value


def _print_stacked(title: str, columns: Sequence[Column], widths: list[int], rows: list[list[Text]]) -> None:
    """Two lines a row: the first column and the flex ones (wrapped), then the rest, indented and aligned."""
    first = [0, *(n for n, column in enumerate(columns) if column.flex and n)]
    rest = [n for n in range(len(columns)) if n not in first]

    def narrow_line(cells: Sequence[Text], style: str = "") -> Text:
        line = Text("  ", style=style)
        for position, n in enumerate(rest):
            cell = cells[n].copy()
            pad = widths[n] - len(cell.plain)
            line.append_text(Text(" " * pad) + cell if columns[n].right else cell + Text(" " * pad))
            if position < len(rest) - 1:
                line.append("  ")
        line.rstrip()
        return line

    if title:
        out.print(title, markup=False, style="italic")
    out.print(Text(" / ".join(columns[n].header for n in first), style="bold"))
    out.print(narrow_line([Text(column.header, style="bold") for column in columns]))
    out.print(Text("─" * min(out.width, max(widths[0], len(narrow_line(rows[0]).plain) if rows else 0))))
    for row in rows:
        head = row[0].copy()
        for n in first[1:]:
            head.append("  ")
            head.append_text(row[n])
        for line in head.wrap(out, out.width, overflow="fold"):
            out.print(line, soft_wrap=True)
        out.print(narrow_line(row), soft_wrap=True)
