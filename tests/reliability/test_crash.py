"""kill -9 loop: a writer killed at random instants (creating, replacing, patching, deleting executions, appending
to its task's history, and creating tasks, moving them through transitions and adding and removing dependencies
between them) loses no acknowledged write and leaves no partial file, no index out of step, and no cycle."""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import pytest

from storehouse import Storehouse
from storehouse.history import read_entries
from storehouse.models import JSONObject
from tests.conftest import soak
from tests.reliability import workers

DEFAULT_TRIALS = 500
_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["tests.reliability.workers"])
TASK_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")

Ack = tuple[str, str, str, int]  # kind, id, detail ("" if none), number (a version, an entry id, 0)


def _run_and_kill(data_dir: Path, prefix: str, rng: random.Random, planted: str = "") -> list[Ack]:
    """Start a writer (forked from a pre-imported server process: ~10 ms), let it work for a random instant
    of up to 60 ms, kill -9 it, and return what it acknowledged."""
    acks_file = data_dir.parent / f"{prefix}.acks"
    writer = _FORKS.Process(target=workers.crash_writer, args=(str(data_dir), prefix, str(acks_file), planted))
    writer.start()
    deadline = time.monotonic() + 30
    while not (acks_file.exists() and acks_file.read_bytes().startswith(b"ready\n")):
        assert time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.001)
    time.sleep(rng.uniform(0, 0.06))
    writer.kill()
    writer.join()
    acks: list[Ack] = []
    for line in acks_file.read_bytes().decode().splitlines()[1:]:
        parts = line.split()
        if len(parts) in (3, 4) and parts[-1].isdigit():  # a line cut by the kill was not acknowledged
            acks.append((parts[0], parts[1], parts[2] if len(parts) == 4 else "", int(parts[-1])))
    acks_file.unlink()
    return acks


@dataclass
class TaskAcks:
    """What the writer acknowledged of one task, in order."""

    version: int = 0
    moves: list[str] = field(default_factory=list)  # the statuses it was moved to
    edges: set[str] = field(default_factory=set)  # the tasks it depends on


def _lost_writes(directory: Path, prefix: str, acks: list[Ack]) -> tuple[list[str], dict[str, TaskAcks]]:
    """Acknowledged writes that are not on disk, and what was acknowledged of each task. The one operation in
    flight at the kill may or may not have happened, so its effect (a newer version, a new file, a missing
    file, one more transition, an edge more or less) is allowed."""
    operations = workers.crash_operations(prefix)
    expected: dict[str, int] = {}
    history: list[int] = []
    tasks: dict[str, TaskAcks] = {}
    lost = []
    for kind, item, detail, number in acks:
        operation = next(operations)
        if operation[:2] != (kind, item) or (detail and operation[2] != detail):
            raise AssertionError(f"the writer acknowledged {kind} {item} {detail}, its sequence says {operation}")
        if kind == "h":
            history.append(number)
        elif kind in ("c", "u", "d"):
            expected[item] = -1 if kind == "d" else number
        elif kind == "tx" and number != 0:
            lost.append(f"{item}: the edge to {detail} closes a cycle, and was acknowledged (version {number})")
        elif kind != "tx":
            task = tasks.setdefault(item, TaskAcks())
            task.version = number
            if kind == "tc":  # created depending on the task before, if any
                task.edges |= {operation[2]} if operation[2] else set()
            elif kind == "tt":
                task.moves.append(detail)
            elif kind == "ta":
                task.edges.add(detail)
            else:
                task.edges.discard(detail)
    in_flight = next(operations)
    stored_ids = {entry["id"] for entry in read_entries(directory.parent / "history" / f"{prefix}.jsonl")}
    for entry_id in history:  # every acknowledged append is there (the cap of 100 may have dropped older ones)
        if entry_id not in stored_ids and entry_id > max(history) - 100:
            lost.append(f"history {prefix}: entry {entry_id} acknowledged but not in the file")
    for item, version in expected.items():
        path = directory / f"{item}.json"
        if version == -1:
            if path.exists():
                lost.append(f"{item}: deleted (acknowledged) but present")
        elif not path.exists():
            if in_flight[:2] != ("d", item):
                lost.append(f"{item}: version {version} acknowledged but the file is gone")
        elif (stored := _stored_version(path)) < version:
            lost.append(f"{item}: version {version} acknowledged but {stored} is stored")
    for item, task in tasks.items():
        lost += _lost_task_writes(directory.parent / "tasks", directory.parent / "history", item, task, in_flight)
    return lost, tasks


def _lost_task_writes(
    tasks: Path, history: Path, item: str, acked: TaskAcks, in_flight: tuple[str, str, str]
) -> list[str]:
    """Where a task's file is older than acknowledged: a lower version, acknowledged transitions that are not
    the first of its ``transitions`` (or one more than the operation in flight may add), a status that is not
    the last acknowledged, edges that are not the acknowledged ones, or an acknowledged transition missing from
    its history's ``status_change`` entries. (The transition in flight may be in the file without its entry yet:
    the next process to use the project adds it, from the mark the write left; test_a_transition_cut_by_a_kill_...
    below checks that.)"""
    try:
        stored = orjson.loads((tasks / f"{item}.json").read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        return [f"task {item}: version {acked.version} acknowledged but the file is unreadable: {exc}"]
    moving = in_flight[:2] == ("tt", item)
    moves = [transition["to"] for transition in stored["transitions"]]
    lost = []
    if stored["version"] < acked.version:
        lost.append(f"task {item}: version {acked.version} acknowledged but {stored['version']} is stored")
    if moves[: len(acked.moves)] != acked.moves or len(moves) > len(acked.moves) + moving:
        lost.append(f"task {item}: transitions {acked.moves} acknowledged but {moves} are stored")
    last = acked.moves[-1] if acked.moves else "pending"
    if stored["status"] != last and not (moving and stored["status"] == in_flight[2]):
        lost.append(f"task {item}: status {stored['status']} stored, {last} acknowledged")
    edges = {edge["taskId"] for edge in stored["dependencies"]}
    changing = in_flight[2] if in_flight[0] in ("ta", "tr") and in_flight[1] == item else ""
    if edges - {changing} != acked.edges - {changing}:
        lost.append(f"task {item}: depends on {sorted(edges)}, {sorted(acked.edges)} acknowledged")
    entries = read_entries(history / f"{item}.jsonl")
    logged = [entry["metadata"]["to"] for entry in entries if entry["type"] == "status_change"]
    if logged[: len(acked.moves)] != acked.moves:
        lost.append(f"task {item}: transitions {acked.moves} acknowledged, its history has {logged}")
    return lost


def _stored_version(path: Path) -> int:
    try:
        version: int = orjson.loads(path.read_bytes())["version"]
    except orjson.JSONDecodeError:
        return -1  # torn: whatever was acknowledged for it is lost
    return version


@dataclass
class ParsedFiles:
    """The files of one directory as the harness last parsed them (never through storehouse), re-read only when
    a file's inode, size or times change, so that checking every file after every kill stays cheap as they
    accumulate. A file that does not parse (or, for JSON Lines, a whole line that does not) is counted; a
    document file that does not parse is then removed, so the next trials go on from a clean state."""

    suffix: str
    lines: bool = False  # JSON Lines (history): every whole line parses; else the file is one JSON document
    seen: dict[str, tuple[tuple[int, ...], list[JSONObject]]] = field(default_factory=dict)

    def scan(self, directory: Path, unreadable: list[str]) -> dict[str, list[JSONObject]]:
        """Every file of directory with the suffix: its id -> what it holds (its lines, or its one document)."""
        current: dict[str, tuple[tuple[int, ...], list[JSONObject]]] = {}
        with os.scandir(directory) as entries:
            for entry in entries:
                if not entry.name.endswith(self.suffix):
                    continue
                stat = entry.stat(follow_symlinks=False)
                key = (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
                known = self.seen.get(entry.name)
                if known is not None and known[0] == key:
                    current[entry.name] = known
                    continue
                raw = Path(entry.path).read_bytes()
                parsed = []
                for line in raw.split(b"\n")[:-1] if self.lines else [raw]:
                    try:
                        parsed.append(orjson.loads(line))
                    except orjson.JSONDecodeError:
                        unreadable.append(f"{entry.name}: {line[:40]!r}" if self.lines else entry.name)
                        if not self.lines:
                            os.unlink(entry.path)
                if parsed or self.lines:
                    current[entry.name] = (key, parsed)
        self.seen = current
        return {name[: -len(self.suffix)]: held for name, (_, held) in current.items()}


def _cycle(documents: dict[str, JSONObject]) -> list[str] | None:
    """A cycle in the graph the task files hold (each edge: a task -> one it depends on), or None."""
    following = {item: [edge["taskId"] for edge in document["dependencies"]] for item, document in documents.items()}
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done
    for start in following:
        if start in state:
            continue
        path, stack = [start], [iter(following[start])]
        state[start] = 1
        while stack:
            target = next(stack[-1], None)
            if target is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(target) == 1:
                return [*path[path.index(target) :], target]
            elif target not in state and target in following:
                state[target] = 1
                path.append(target)
                stack.append(iter(following[target]))
    return None


@dataclass
class CrashLoop:
    """What a crash loop saw."""

    trials: int = 0
    acked: int = 0
    task_acks: int = 0
    tasks: int = 0
    lost: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    index_mismatches: int = 0
    cycles: list[list[str]] = field(default_factory=list)
    temp_files_left: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        return (
            f"crash-loop: {self.trials:,} trials, {self.acked:,} acked ({self.task_acks:,} task creates, "
            f"transitions and edges, {self.tasks:,} tasks), {len(self.lost)} lost, {len(self.unreadable)} "
            f"unparsable files, {self.index_mismatches} index mismatches, {len(self.cycles)} cycles, "
            f"{self.temp_files_left} temp files left, check problems {len(self.problems)}"
        )

    @property
    def clean(self) -> bool:
        return (
            not (self.lost or self.unreadable or self.index_mismatches or self.cycles or self.temp_files_left)
            and not self.problems
        )


def _task_index_mismatches(store: Storehouse, documents: dict[str, JSONObject], every_task: bool) -> int:
    """How far the task index, as a process opening the project sees it, is from the files: totals by status
    that differ; with ``every_task``, also tasks listed that no file holds, or not listed, or listed with
    another status."""
    files = {item: document["status"] for item, document in documents.items()}
    mismatches = 0
    for status in TASK_STATUSES:
        if store.list_tasks("crash", status=status, limit=1).total != sum(s == status for s in files.values()):
            mismatches += 1
    listed: dict[str, object] = {}
    while every_task:
        page = store.list_tasks("crash", limit=1000, offset=len(listed))
        listed |= {summary["id"]: summary["status"] for summary in page.items}
        if not page.items or len(listed) >= page.total:
            break
    return mismatches + (len(set(listed.items()) ^ set(files.items())) if every_task else 0)


CHECK_EVERY = 5  # trials between two full checks (check, and the task index task by task), and after the last


def crash_loop(data_dir: Path, count: int, planted: str = "") -> CrashLoop:
    """Run ``count`` kill -9 trials of the writer (with a bug planted in it, for the harness's own test).

    After every kill: the acknowledged writes, every file parsing, the index of executions and the task totals
    by status against the files (as a process opening the project sees them), temp files, and no cycle. Every
    ``CHECK_EVERY`` trials and after the last, also ``check()`` and the task index task by task: those read
    every file of the store (~0.15 s at the end of the loop), and what they would find after one trial stays
    until the next (the loop's opens sweep temp files and reconcile the index, before check too).
    """
    rng = random.Random(1234)
    Storehouse(data_dir).close()
    project = data_dir / "projects" / "crash"
    directory = project / "executions"
    executions, history, task_files = ParsedFiles(".json"), ParsedFiles(".jsonl", lines=True), ParsedFiles(".json")
    seen = CrashLoop(trials=count)
    for trial in range(count):
        acks = _run_and_kill(data_dir, f"t{trial}", rng, planted)
        seen.acked += len(acks)
        seen.task_acks += sum(kind.startswith("t") for kind, *_ in acks)
        lost, tasks = _lost_writes(directory, f"t{trial}", acks)
        seen.lost += lost
        seen.tasks += len(tasks)
        history.scan(project / "history", seen.unreadable)  # every whole line parses
        files = executions.scan(directory, seen.unreadable)  # every visible file parses: no partial write
        documents = {item: held[0] for item, held in task_files.scan(project / "tasks", seen.unreadable).items()}
        if (cycle := _cycle(documents)) is not None:
            seen.cycles.append(cycle)
        full = (trial + 1) % CHECK_EVERY == 0 or trial == count - 1
        with Storehouse(data_dir) as store:  # opening repairs the index: it must equal the files
            listed, cursor = set(), None
            while True:
                page = store.list_executions("crash", limit=1000, cursor=cursor)
                listed |= {item["id"] for item in page.items}
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            seen.index_mismatches += len(listed ^ set(files))
            seen.index_mismatches += _task_index_mismatches(store, documents, every_task=full)
            if full:
                seen.problems += [f"after trial {trial}: {problem}" for problem in store.check().problems]
        for folder in ("executions", "tasks"):  # the open sweeps a killed writer's temp files
            seen.temp_files_left += len(list((project / folder).glob(".*.tmp")))
    return seen


@pytest.mark.slow
def test_kill9_loop_loses_no_acknowledged_write(
    data_dir: Path, trials: int | None, scorecard: Callable[[str], None]
) -> None:
    seen = crash_loop(data_dir, trials or soak(DEFAULT_TRIALS))
    scorecard(seen.line)
    assert seen.lost == []
    assert seen.unreadable == []
    assert seen.cycles == []
    assert (seen.index_mismatches, seen.temp_files_left, seen.problems) == (0, 0, [])
    assert seen.acked > seen.trials  # the writer got real work done between kills
    assert seen.task_acks > seen.trials // 2


def test_the_crash_loop_goes_red_when_writes_are_made_in_place(data_dir: Path) -> None:
    seen = crash_loop(data_dir, 40, planted="in-place")  # the bug it exists to catch: no temp file and rename
    assert not seen.clean
    assert seen.unreadable


def test_a_transition_cut_by_a_kill_is_in_the_history_if_it_is_in_the_task(data_dir: Path) -> None:
    writer = _FORKS.Process(target=workers.killed_between_a_transition_and_its_history, args=(str(data_dir),))
    writer.start()
    writer.join()
    assert writer.exitcode == -signal.SIGKILL
    with Storehouse(data_dir) as store:  # a process opening the store afterwards: it may repair what it finds
        moves = [transition["to"] for transition in store.get_task("crash", "a")["transitions"]]
        logged = store.list_history("crash", "a", type="status_change").entries
    assert [entry["metadata"]["to"] for entry in logged] == moves  # both, or neither


def test_the_crash_loop_goes_red_when_an_edge_closing_a_cycle_is_accepted(data_dir: Path) -> None:
    seen = crash_loop(data_dir, 20, planted="no-cycle-check")  # a writer that lives 2 turns tries one
    assert not seen.clean
    assert seen.cycles
    assert any("closes a cycle, and was acknowledged" in problem for problem in seen.lost)
