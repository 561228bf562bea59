"""Every example in the README runs as written, against a temporary data directory and a real server.

The README's fenced blocks are read in order:

- ```python blocks run as one program per section (the blocks under one heading, in order, sharing their names),
  in a new directory (so ``Storehouse("./data")`` is a temporary data directory), with ``-W error``; a section
  whose code talks to ``127.0.0.1:8420`` gets a real ``storehouse serve`` on a free port instead. The program
  keeps the README's line numbers, so a traceback points at the README line.
- ```console blocks: each ``$ storehouse ...`` and ``$ curl ...`` command runs, all blocks in README order in one
  directory (the quick start goes on from the first screen), against one real server on ``./data``
  (``localhost:8420`` is rewritten to its address, and an id the README shows in an answer is rewritten to the
  id the server gave). Each must exit 0, and where the README shows output, the output must have its shape: the
  same JSON keys, or for text the same words (ids, times and numbers differ).
- ```text blocks do not run: each is listed in ``SKIPPED`` with the reason
  (``test_every_fenced_block_runs_or_says_why_not``).

The indented blocks are the install and test commands (``tests/test_docs.py`` and ``.ci/run`` hold the first two)
and the benchmark commands of ``docs/performance.md`` (``tests/test_docs.py`` runs each one's ``--help``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import Server

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_ADDRESSES = ("http://127.0.0.1:8420", "http://localhost:8420", "localhost:8420", "127.0.0.1:8420")
RUNNABLE = {"python", "console"}

SKIPPED = {  # the first line of each ```text block of the README -> why it does not run
    "$ curl -N localhost:8420/api/projects/demo/events": (
        "an event stream follows forever, and shows changes other writers make meanwhile; "
        "tests/http/test_events.py checks the stream and its event types"
    ),
    "# Task T-7: Fix the login bug": (
        "output only: what the context of a task looks like; tests/test_context.py checks the format"
    ),
    "data/": "a directory layout, not a command",
}


@dataclass
class Block:
    language: str
    heading: str  # the nearest heading above it
    line: int  # the README line of its first line (after the fence)
    text: str


@dataclass
class Command:
    line: int  # the README line of the "$ "
    text: str  # without the "$ "
    shown: list[str] = field(default_factory=list)  # the output the README shows under it


def blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with its language and the heading it is under."""
    found: list[Block] = []
    heading = ""
    fence: tuple[str, int, list[str]] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if fence is None:
            if line.startswith("```"):
                fence = (line[3:].strip(), number + 1, [])
            elif line.startswith("#"):
                heading = line.lstrip("#").strip()
        elif line.startswith("```"):
            language, start, lines = fence
            found.append(Block(language, heading, start, "\n".join(lines) + "\n"))
            fence = None
        else:
            fence[2].append(line)
    assert fence is None, f"README line {fence[1] - 1}: a fence is never closed"
    return found


def commands(block: Block) -> list[Command]:
    """The ``$ `` commands of a console block (a command goes on while a line ends with ``\\`` or a quote is
    open), each with the output lines shown under it."""
    found: list[Command] = []
    lines = block.text.splitlines()
    position = 0
    while position < len(lines):
        line = lines[position]
        if not line.startswith("$ "):
            assert found, f"README line {block.line + position}: output before any command"
            found[-1].shown.append(line)
            position += 1
            continue
        start, text = position, line[2:]
        while text.endswith("\\") or not _complete(text):
            position += 1
            assert position < len(lines), f"README line {block.line + start}: the command never ends"
            text += "\n" + lines[position]
        found.append(Command(block.line + start, text))
        position += 1
    return found


def _complete(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def shape_problems(shown: list[str], actual: str) -> list[str]:
    """What of the shown output's shape is missing from the actual output: the JSON keys if it shows JSON, else
    its words (ids, times and figures differ from run to run, the words and keys do not)."""
    text = "\n".join(shown)
    keys = sorted(set(re.findall(r'"([A-Za-z_]\w*)":', text)))
    if keys:
        return [f"key {key!r}" for key in keys if f'"{key}":' not in actual]
    words = sorted(set(re.findall(r"\b[a-z][a-z_]{2,}\b", text)))
    return [f"word {word!r}" for word in words if not re.search(rf"\b{word}\b", actual)]


def _readme_blocks() -> list[Block]:
    return blocks(README.read_text())


def _python_sections() -> dict[str, list[Block]]:
    sections: dict[str, list[Block]] = {}
    for block in _readme_blocks():
        if block.language == "python":
            sections.setdefault(block.heading, []).append(block)
    return sections


def _environment(tmp_path: Path) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("STOREHOUSE_")}
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["COLUMNS"] = "160"  # a terminal wide enough for the tables the README shows
    environment["HOME"] = str(tmp_path)
    return environment


def test_every_fenced_block_runs_or_says_why_not() -> None:
    found = _readme_blocks()
    unknown = [f"README line {b.line - 1}: ```{b.language}" for b in found if b.language not in {*RUNNABLE, "text"}]
    assert not unknown, f"fences must be python, console or text (not runnable, listed in SKIPPED): {unknown}"
    texts = [block.text.splitlines()[0] for block in found if block.language == "text"]
    assert sorted(texts) == sorted(SKIPPED), "each ```text block needs its reason in SKIPPED, and only those"
    assert sum(block.language in RUNNABLE for block in found) >= 6


@pytest.mark.parametrize("heading", sorted(_python_sections()))
def test_python_section_runs(heading: str, tmp_path: Path) -> None:
    program: list[str] = []
    for block in _python_sections()[heading]:
        program += [""] * (block.line - 1 - len(program))  # each line where it is in the README
        program += block.text.splitlines()
    code = "\n".join(program) + "\n"
    server = Server(tmp_path / "data") if any(address in code for address in README_ADDRESSES) else None
    try:
        if server is not None:
            for address in README_ADDRESSES[:2]:
                code = code.replace(address, server.url)
        script = tmp_path / "README_md.py"  # its line numbers are README.md's
        script.write_text(code)
        ran = subprocess.run(
            [sys.executable, "-W", "error", str(script)],
            cwd=tmp_path,
            env=_environment(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        if server is not None:
            server.stop()
    assert ran.returncode == 0, f"README section {heading!r} failed (line numbers are README.md's):\n{ran.stderr}"
    assert "Warning" not in ran.stderr, ran.stderr


def test_console_examples_run_and_answer_as_shown(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    server = Server(work / "data")
    replacements = {address: server.url.removeprefix("http://") for address in README_ADDRESSES[2:]}
    problems: list[str] = []
    ran = 0
    try:
        for block in _readme_blocks():
            if block.language != "console":
                continue
            for command in commands(block):
                assert command.text.startswith(("storehouse ", "curl ")), (
                    f"README line {command.line}: a console example runs storehouse or curl: {command.text!r}"
                )
                assert not command.text.startswith("storehouse serve"), (
                    f"README line {command.line}: a server never ends; show it indented or in a text block"
                )
                text = command.text
                for old, new in replacements.items():
                    text = text.replace(old, new)
                done = subprocess.run(
                    ["bash", "-c", text],
                    cwd=work,
                    env=_environment(tmp_path),
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                ran += 1
                where = f"README line {command.line} ({command.text.splitlines()[0]!r})"
                if done.returncode != 0:
                    problems.append(f"{where}: exit {done.returncode}: {done.stderr.strip()}")
                    continue
                output = done.stdout + done.stderr
                missing = shape_problems(command.shown, output)
                if missing:
                    problems.append(f"{where}: the output lacks {', '.join(missing)}; it was:\n{output}")
                shown_id = re.search(r'"id":"([^"]+)"', "\n".join(command.shown))
                actual_id = re.search(r'"id":"([^"]+)"', output)
                if shown_id and actual_id and shown_id[1] not in replacements:
                    replacements[shown_id[1]] = actual_id[1]  # later examples use the id this one was given
    finally:
        server.stop()
    assert ran >= 10
    assert not problems, "\n".join(problems)


def test_shape_check_sees_a_missing_key_or_word() -> None:
    """The shape check itself: what it accepts and what it refuses."""
    shown = ['{"execution":{"id":"01M844KG6A9Y1DYNKDSTZACD6H", ... "version":2, ...}}']
    assert shape_problems(shown, '{"execution":{"id":"x","status":"running","version":1}}') == []
    assert shape_problems(shown, '{"execution":{"id":"x"}}') == ["key 'version'"]
    assert shape_problems(["demo: 1 of 1 executions"], "demo: 3 of 3 executions\n") == []
    assert shape_problems(["demo: 1 of 1 executions"], "demo: 3 of 3 tasks\n") == ["word 'executions'"]


def test_commands_go_on_over_backslashes_and_open_quotes() -> None:
    block = Block(
        "console",
        "x",
        10,
        '$ curl -s a \\\n    -d \'{"a": 1,\n     "b": 2}\'\n{"ok":true}\n$ storehouse ls demo\n',
    )
    found = commands(block)
    assert [(c.line, c.shown) for c in found] == [(10, ['{"ok":true}']), (14, [])]
    assert found[0].text.endswith('"b": 2}\'')
