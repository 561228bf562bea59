"""Fault matrix: every I/O step of every mutating operation fails (ENOSPC or EIO, once or for good) in turn.

Each mutating operation of the library is first run once with a recording ``FileIO`` to list the primitive
calls it makes (``open_new``, ``write``, ``fsync`` of the file and of the directory, ``replace``, ``unlink``).
Then, on a fresh copy of a prepared data directory, the n-th call of each primitive is made to fail, with
either errno, either once (the next call succeeds) or persistently (every later call fails until cleared),
and the harness checks what a failing disk may never do to a caller:

- the call raises ``StorageFull`` (ENOSPC) or ``StorageError`` (EIO) and never reports success;
- no file is corrupt (every ``*.json`` parses and validates) and no temp file is left behind;
- each document is exactly in the state its completed renames and unlinks imply: the old one, or the new
  one when the fault hit after the point of no return (the documented exception of
  ``FileIO.replace_durably``: a failed final directory fsync leaves the new file in place);
- the index agrees with the files (list, get, stats, projects), before and after reopening, and ``check``
  is clean after reopening;
- a failed fsync is never followed by another fsync of the same file nor by a rename (Linux may have
  marked the lost pages clean, so a retried fsync "succeeds" over data that is gone);
- once the fault clears, the next write succeeds.

The same injections go through the HTTP API (507 ``storage_full`` for ENOSPC, 500 ``storage_error`` for
EIO, nothing changed before the point of no return). Two planted bugs (an fsync retried and followed by a
rename; a temp file not removed on error) show the matrix going red.
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import stat
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from storehouse import AsyncStorehouse, Settings, Storehouse
from storehouse.backends import FileBackend
from storehouse.errors import InvalidBody, StorageError, StorageFull
from storehouse.fsio import TEMP_SUFFIX, FileIO, storage_error
from storehouse.http import create_app
from storehouse.models import JSONObject, load_execution, summarize
from tests.conftest import at, soak

PROJECT = "p"
PRIMITIVES = ("open_new", "write", "fsync", "replace", "unlink")
ERRNOS = (errno.ENOSPC, errno.EIO)
MUTATIONS = ("replace", "unlink")  # the primitives after which a document is changed on disk
OLD = "old"  # a document state: byte for byte what was there before the call

State = str | dict[str, Any] | None  # OLD, the fields the new document must have, or None for absent


# -- the fault-injecting FileIO --------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """Fail the ``nth`` call (1-based) of ``primitive`` with ``error``; with ``persistent``, every later one too."""

    primitive: str
    nth: int
    error: int
    persistent: bool

    def __str__(self) -> str:
        how = "persistent" if self.persistent else "once"
        return f"{self.primitive}#{self.nth} {errno.errorcode[self.error]} {how}"


@dataclass(frozen=True)
class Call:
    """One primitive call: its target path (the final path for ``replace``), the inode of the fd it used
    (``write``, ``fsync``), and the errno it was made to fail with (None if it ran)."""

    primitive: str
    path: str
    node: int | None = None
    is_dir: bool = False
    failed: int | None = None


class FaultIO(FileIO):
    """A FileIO that records every primitive call in order and fails the one its armed ``Fault`` names.

    With ``chunk`` it writes at most that many bytes per ``write`` call, so that a document takes several
    writes and a fault can land in the middle of one.
    """

    def __init__(self, chunk: int | None = None) -> None:
        super().__init__(durable=True)
        self.chunk = chunk
        self.calls: list[Call] = []
        self.fault: Fault | None = None
        self._counts: Counter[str] = Counter()
        self._temps: dict[int, str] = {}  # inode of an open temp file -> its path

    def arm(self, fault: Fault | None) -> None:
        self.fault = fault
        self._counts.clear()

    def _enter(self, primitive: str, path: str, fd: int | None = None) -> None:
        node, is_dir = None, False
        if fd is not None:
            info = os.fstat(fd)
            node, is_dir = info.st_ino, stat.S_ISDIR(info.st_mode)
            path = self._temps.get(node, path) if not is_dir else path
        self._counts[primitive] += 1
        count = self._counts[primitive]
        fault = self.fault
        failing = (
            fault is not None
            and fault.primitive == primitive
            and (count == fault.nth or (fault.persistent and count > fault.nth))
        )
        self.calls.append(Call(primitive, path, node, is_dir, fault.error if failing and fault else None))
        if failing and fault is not None:
            raise OSError(fault.error, os.strerror(fault.error))

    def open_new(self, path: str, dir_fd: int | None = None) -> int:
        self._enter("open_new", at(path, dir_fd))
        fd = super().open_new(path, dir_fd)
        self._temps[os.fstat(fd).st_ino] = at(path, dir_fd)
        return fd

    def write(self, fd: int, data: memoryview) -> int:
        self._enter("write", "", fd)
        return super().write(fd, data if self.chunk is None else data[: self.chunk])

    def fsync(self, fd: int) -> None:
        self._enter("fsync", "<directory>", fd)
        super().fsync(fd)

    def replace(self, source: str, target: str, dir_fd: int | None = None) -> None:
        self._enter("replace", at(target, dir_fd))
        super().replace(source, target, dir_fd)

    def unlink(self, path: str, dir_fd: int | None = None) -> None:
        self._enter("unlink", at(path, dir_fd))
        super().unlink(path, dir_fd)


# -- the operations under test ---------------------------------------------------------------------------
def _record(store: Storehouse) -> None:
    with store.record(PROJECT, "rec", id="rec") as run:
        run.add_tokens(input=10, output=5)
        run.output = {"answer": 42}


@dataclass(frozen=True)
class Operation:
    """A mutating operation, and for each document it touches the states it goes through: ``states[k]`` is
    the document after ``k`` completed renames or unlinks of its file (documents not named stay OLD)."""

    name: str
    run: Callable[[Storehouse], object]
    states: dict[str, tuple[State, ...]]
    request: tuple[str, str, JSONObject | None, dict[str, str]] | None = None  # method, path, body, headers


URL = f"/api/projects/{PROJECT}/executions"
OPERATIONS = (
    Operation(
        "create_execution",
        lambda s: s.create_execution(PROJECT, {"id": "fresh", "name": "fresh", "status": "running"}),
        {"fresh": (None, {"version": 1, "name": "fresh", "status": "running"})},
        ("POST", URL, {"id": "fresh", "name": "fresh", "status": "running"}, {}),
    ),
    Operation(
        "put_execution (create)",
        lambda s: s.put_execution(PROJECT, "fresh", {"name": "put", "status": "pending", "tags": ["x"]}),
        {"fresh": (None, {"version": 1, "name": "put", "status": "pending", "tags": ["x"]})},
        ("PUT", f"{URL}/fresh", {"name": "put", "status": "pending", "tags": ["x"]}, {}),
    ),
    Operation(
        "put_execution (replace)",
        lambda s: s.put_execution(PROJECT, "target", {"name": "replaced", "status": "completed", "tags": ["b"]}),
        {"target": (OLD, {"version": 2, "name": "replaced", "status": "completed", "tags": ["b"]})},
        ("PUT", f"{URL}/target", {"name": "replaced", "status": "completed", "tags": ["b"]}, {}),
    ),
    Operation(
        "patch_execution",
        lambda s: s.patch_execution(PROJECT, "target", {"status": "failed", "error": "boom"}, if_match=1),
        {"target": (OLD, {"version": 2, "name": "target", "status": "failed", "error": "boom", "tags": ["a"]})},
        ("PATCH", f"{URL}/target", {"status": "failed", "error": "boom"}, {"If-Match": '"1"'}),
    ),
    Operation(
        "delete_execution",
        lambda s: s.delete_execution(PROJECT, "target"),
        {"target": (OLD, None)},
        ("DELETE", f"{URL}/target", None, {}),
    ),
    Operation(
        "delete_executions",
        lambda s: s.delete_executions(PROJECT),
        {"keep": (OLD, None), "other": (OLD, None), "target": (OLD, None)},
        ("DELETE", URL, None, {}),
    ),
    Operation(
        "record()",
        _record,
        {
            "rec": (
                None,
                {"version": 1, "name": "rec", "status": "running"},
                {
                    "version": 2,
                    "name": "rec",
                    "status": "completed",
                    "tokenUsage": {"input": 10, "output": 5, "total": 15},
                    "output": {"answer": 42},
                },
            )
        },
    ),
)


def prepare_template(directory: Path) -> None:
    """The data directory every injection starts from: three executions of one project."""
    with Storehouse(settings=Settings(data_dir=directory, durable=False)) as store:
        store.put_execution(PROJECT, "keep", {"name": "keep", "status": "completed", "costUSD": 0.5})
        store.put_execution(PROJECT, "target", {"name": "target", "status": "running", "tags": ["a"]})
        store.put_execution(PROJECT, "other", {"name": "other", "status": "failed", "error": "x"})


def executions_dir(data_dir: Path) -> Path:
    return data_dir / "projects" / PROJECT / "executions"


def snapshot(data_dir: Path) -> dict[str, bytes]:
    return {path.stem: path.read_bytes() for path in executions_dir(data_dir).glob("*.json")}


# -- what the harness checks after each injection ---------------------------------------------------------
def corrupt_files(data_dir: Path) -> list[str]:
    """Execution files that do not parse or validate."""
    bad = []
    for path in sorted((data_dir / "projects").glob("*/executions/*.json")):
        try:
            load_execution(path.read_bytes(), path.parent.parent.name, path.stem)
        except InvalidBody as exc:
            bad.append(f"{path.name}: {exc.message}")
    return bad


def leaked_temp_files(data_dir: Path) -> list[str]:
    return sorted(path.name for path in data_dir.rglob(f".*{TEMP_SUFFIX}"))


def wrong_states(data_dir: Path, before: dict[str, bytes], operation: Operation, calls: list[Call]) -> list[str]:
    """Documents not in the state that the renames and unlinks which completed during the call imply."""
    done = Counter(Path(c.path).stem for c in calls if c.primitive in MUTATIONS and c.failed is None)
    after = snapshot(data_dir)
    problems = []
    for item in sorted(set(before) | set(after) | set(operation.states)):
        states = operation.states.get(item, (OLD,))
        if done[item] >= len(states):
            problems.append(f"{item}: {done[item]} renames/unlinks completed, the operation makes {len(states) - 1}")
            continue
        expected = states[done[item]]
        raw = after.get(item)
        if expected is None:
            if raw is not None:
                problems.append(f"{item}: present, expected absent")
        elif expected == OLD:
            if raw != before.get(item):
                problems.append(f"{item}: changed, expected the old document")
        elif raw is None:
            problems.append(f"{item}: absent, expected the new document")
        else:
            assert isinstance(expected, dict)
            try:
                document = load_execution(raw, PROJECT, item)
            except InvalidBody:
                continue  # counted as corrupt
            mismatched = {key: document.get(key) for key, value in expected.items() if document.get(key) != value}
            if mismatched:
                problems.append(f"{item}: has {mismatched}, expected {expected}")
    return problems


def index_mismatches(store: Storehouse, data_dir: Path) -> list[str]:
    """Where list, get, stats and projects disagree with a scan of the files."""
    documents = {item: load_execution(raw, PROJECT, item) for item, raw in snapshot(data_dir).items()}
    problems = []
    page = store.list_executions(PROJECT, limit=1000)
    listed = {summary["id"]: summary for summary in page.items}
    if listed != {item: summarize(document) for item, document in documents.items()} or page.total != len(documents):
        problems.append(f"list: {sorted(listed)} (total {page.total}), files: {sorted(documents)}")
    for item, document in documents.items():
        if store.get_execution(PROJECT, item) != document:
            problems.append(f"get {item}: not the file's document")
    stats = store.execution_stats(PROJECT)
    expected: dict[str, object] = {
        "totalExecutions": len(documents),
        "totalTokens": sum(d["tokenUsage"]["total"] for d in documents.values()),
        "inputTokens": sum(d["tokenUsage"]["input"] for d in documents.values()),
        "outputTokens": sum(d["tokenUsage"]["output"] for d in documents.values()),
    }
    for status in ("pending", "running", "completed", "failed", "cancelled"):
        expected[status] = sum(d["status"] == status for d in documents.values())
    got = {key: stats[key] for key in expected}
    if got != expected or abs(stats["totalCostUSD"] - sum(d["costUSD"] for d in documents.values())) > 1e-9:
        problems.append(f"stats: {stats}, files say {expected}")
    counts = {info.id: info.execution_count for info in store.list_projects().items}
    if counts.get(PROJECT, 0) != len(documents):
        problems.append(f"projects: {counts}, files: {len(documents)}")
    return problems


def fsync_misuse(calls: list[Call]) -> tuple[list[str], list[str]]:
    """(fsync retries, renames after a failed fsync) within one operation's calls."""
    retries, renames = [], []
    for position, call in enumerate(calls):
        if call.primitive != "fsync" or call.failed is None:
            continue
        for later in calls[position + 1 :]:
            if later.primitive == "fsync" and later.node == call.node:
                retries.append(f"fsync of {Path(call.path).name} failed and was called again")
            if later.primitive == "replace":
                renames.append(f"fsync of {Path(call.path).name} failed, then {Path(later.path).name} was renamed")
    return retries, renames


def expected_error(error: int) -> type[StorageError]:
    return StorageFull if error == errno.ENOSPC else StorageError


# -- the matrix ------------------------------------------------------------------------------------------
@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """Scratch space for the matrix's data directories: a tmpfs when there is one. The matrix checks what
    the code does at each step, not what a disk keeps across a power loss, and on tmpfs its hundreds of
    data directories cost ~4 s instead of 6-18 s of fsyncs and SQLite checkpoints on a shared disk."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="storehouse-faults-") as name:
            yield Path(name)
    else:
        yield tmp_path


@dataclass
class FaultMatrix:
    """What the fault matrix saw."""

    operations: int = 0
    steps: int = 0
    injections: int = 0
    corrupt: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    false_successes: list[str] = field(default_factory=list)
    wrong_errors: list[str] = field(default_factory=list)
    wrong_states: list[str] = field(default_factory=list)
    index_mismatches: list[str] = field(default_factory=list)
    fsync_retries: list[str] = field(default_factory=list)
    renames_after_failed_fsync: list[str] = field(default_factory=list)
    unrecovered: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        return (
            f"faults: {self.operations} operations, {self.steps} I/O steps, {self.injections:,} injections "
            f"(ENOSPC, EIO; once, persistent), {len(self.corrupt)} corrupt, {len(self.leaked)} leaked temp files, "
            f"{len(self.false_successes)} false successes, {len(self.wrong_errors)} wrong errors, "
            f"{len(self.wrong_states)} documents half-changed or in the wrong state, "
            f"{len(self.index_mismatches)} index mismatches, {len(self.fsync_retries)} fsync retries, "
            f"{len(self.renames_after_failed_fsync)} renames after a failed fsync, "
            f"{len(self.unrecovered)} failed writes after the fault cleared"
        )

    @property
    def problems(self) -> list[str]:
        return [
            *self.corrupt,
            *self.leaked,
            *self.false_successes,
            *self.wrong_errors,
            *self.wrong_states,
            *self.index_mismatches,
            *self.fsync_retries,
            *self.renames_after_failed_fsync,
            *self.unrecovered,
        ]


def _fresh_copy(template: Path, workdir: Path, counter: Iterator[int]) -> Path:
    data_dir = workdir / f"run-{next(counter)}"
    shutil.copytree(template, data_dir)
    return data_dir


def _open(data_dir: Path, io: FaultIO) -> Storehouse:
    store = Storehouse(backend=FileBackend(data_dir, io=io))
    store.execution_stats(PROJECT)  # open (reconcile) the project before any fault is armed
    return store


def steps_of(
    operation: Operation, template: Path, workdir: Path, counter: Iterator[int], chunk: int | None
) -> Counter[str]:
    """How many calls of each primitive the operation makes, from one run without faults."""
    data_dir = _fresh_copy(template, workdir, counter)
    io = FaultIO(chunk)
    with _open(data_dir, io) as store:
        start = len(io.calls)
        operation.run(store)
        counts = Counter(call.primitive for call in io.calls[start:])
    assert set(counts) <= set(PRIMITIVES)
    shutil.rmtree(data_dir)
    return counts


def faults_of(counts: Counter[str]) -> Iterator[Fault]:
    for primitive in PRIMITIVES:
        for nth in range(1, counts[primitive] + 1):
            for error in ERRNOS:
                for persistent in (False, True):
                    yield Fault(primitive, nth, error, persistent)


def inject(
    seen: FaultMatrix, operation: Operation, fault: Fault, data_dir: Path, io: FaultIO
) -> None:  # one cell of the matrix
    where = f"{operation.name} at {fault}"
    before = snapshot(data_dir)
    store = _open(data_dir, io)
    try:
        start = len(io.calls)
        io.arm(fault)
        try:
            operation.run(store)
        except StorageError as exc:
            if type(exc) is not expected_error(fault.error):
                seen.wrong_errors.append(f"{where}: {type(exc).__name__}: {exc}")
        except Exception as exc:
            seen.wrong_errors.append(f"{where}: {type(exc).__name__}: {exc}")
        else:
            seen.false_successes.append(f"{where}: reported success")
        calls = io.calls[start:]
        assert any(call.failed for call in calls), f"{where}: the fault was never reached"
        seen.leaked += [f"{where}: {name}" for name in leaked_temp_files(data_dir)]
        corrupt = corrupt_files(data_dir)
        seen.corrupt += [f"{where}: {problem}" for problem in corrupt]
        seen.wrong_states += [f"{where}: {problem}" for problem in wrong_states(data_dir, before, operation, calls)]
        retries, renames = fsync_misuse(calls)
        seen.fsync_retries += [f"{where}: {problem}" for problem in retries]
        seen.renames_after_failed_fsync += [f"{where}: {problem}" for problem in renames]
        if not corrupt:
            seen.index_mismatches += [f"{where}: {problem}" for problem in index_mismatches(store, data_dir)]
        io.arm(None)
        try:
            store.put_execution(PROJECT, "after-fault", {"status": "completed"})
        except Exception as exc:
            seen.unrecovered.append(f"{where}: {type(exc).__name__}: {exc}")
        if "after-fault" not in snapshot(data_dir):
            seen.unrecovered.append(f"{where}: the write after the fault is not on disk")
    finally:
        store.close()
    if not corrupt:
        with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as reopened:
            seen.index_mismatches += [f"{where}, reopened: {p}" for p in index_mismatches(reopened, data_dir)]
            seen.index_mismatches += [f"{where}, check: {p}" for p in reopened.check().problems]


def fault_matrix(
    workdir: Path,
    io_class: type[FaultIO] = FaultIO,
    operations: tuple[Operation, ...] = OPERATIONS,
    chunks: tuple[int | None, ...] = (None,),
) -> FaultMatrix:
    """Run every operation with every fault at every step it takes (for each write chunk size)."""
    template = workdir / "template"
    prepare_template(template)
    counter = iter(range(1_000_000))
    seen = FaultMatrix(operations=len(operations))
    for chunk in chunks:
        for operation in operations:
            counts = steps_of(operation, template, workdir, counter, chunk)
            seen.steps += sum(counts.values())
            for fault in faults_of(counts):
                data_dir = _fresh_copy(template, workdir, counter)
                inject(seen, operation, fault, data_dir, io_class(chunk))
                seen.injections += 1
                shutil.rmtree(data_dir)
    return seen


def chunk_sizes() -> tuple[int | None, ...]:
    """Whole writes, and writes cut into pieces so that a fault lands between two writes of one file;
    soak runs add more cuts."""
    extra = (97, 31, 509, 13, 1024, 7)
    rounds = soak(2)
    return (None, 256, *(extra[i % len(extra)] for i in range(rounds - 2)))


def test_every_fault_at_every_step_of_every_write_is_reported_and_harmless(
    workdir: Path, scorecard: Callable[[str], None]
) -> None:
    seen = fault_matrix(workdir, chunks=chunk_sizes())
    scorecard(seen.line)
    assert seen.problems == []
    assert seen.operations == 7
    assert seen.injections >= 4 * seen.steps  # both errnos, once and persistent, at every step


def test_the_steps_enumerated_are_every_primitive_a_durable_write_uses(tmp_path: Path) -> None:
    template = tmp_path / "template"
    prepare_template(template)
    counter = iter(range(100))
    steps = {op.name: steps_of(op, template, tmp_path, counter, None) for op in OPERATIONS}
    one_write = Counter({"open_new": 1, "write": 1, "fsync": 2, "replace": 1})  # file fsync, then directory fsync
    assert steps["create_execution"] == one_write
    assert steps["patch_execution"] == one_write
    assert steps["record()"] == one_write + one_write
    assert steps["delete_execution"] == Counter({"unlink": 1, "fsync": 1})
    assert steps["delete_executions"] == Counter({"unlink": 3, "fsync": 1})  # one directory fsync for all
    assert steps_of(OPERATIONS[0], template, tmp_path, counter, 256)["write"] >= 2


def test_a_fault_after_the_rename_leaves_the_new_file_in_place_as_documented(tmp_path: Path) -> None:
    """FileIO.replace_durably: when only the final directory fsync fails, the new file is in place (and
    the call still raises); the failure of the file's own fsync leaves the old one."""
    template = tmp_path / "template"
    prepare_template(template)
    counter = iter(range(100))
    patch = OPERATIONS[3]
    for nth, expected_status in ((1, "running"), (2, "failed")):  # fsync #1: the file; #2: the directory
        data_dir = _fresh_copy(template, tmp_path, counter)
        io = FaultIO()
        with _open(data_dir, io) as store:
            io.arm(Fault("fsync", nth, errno.EIO, persistent=False))
            with pytest.raises(StorageError):
                patch.run(store)
            assert store.get_execution(PROJECT, "target")["status"] == expected_status
            listed = store.list_executions(PROJECT, status=expected_status).items
            assert "target" in {summary["id"] for summary in listed}
        assert leaked_temp_files(data_dir) == []


@pytest.mark.parametrize("error", ERRNOS, ids=["ENOSPC", "EIO"])
@pytest.mark.parametrize("name", ["patch_execution", "delete_execution"])
def test_an_error_after_the_point_of_no_return_says_the_change_is_in_place(
    tmp_path: Path, name: str, error: int
) -> None:
    template = tmp_path / "template"
    prepare_template(template)
    operation = next(op for op in OPERATIONS if op.name == name)
    data_dir = _fresh_copy(template, tmp_path, iter(range(1)))
    io = FaultIO()
    with _open(data_dir, io) as store:
        directory_fsync = 2 if name == "patch_execution" else 1
        io.arm(Fault("fsync", directory_fsync, error, persistent=False))
        with pytest.raises(StorageError) as caught:
            operation.run(store)
    assert snapshot(data_dir).get("target") != snapshot(template).get("target")  # the change is in place
    message = caught.value.message
    assert "nothing was changed" not in message
    assert "power loss" in message


def test_a_delete_of_every_execution_cut_short_does_not_say_nothing_was_changed(tmp_path: Path) -> None:
    template = tmp_path / "template"
    prepare_template(template)
    data_dir = _fresh_copy(template, tmp_path, iter(range(1)))
    io = FaultIO()
    with _open(data_dir, io) as store:
        io.arm(Fault("unlink", 2, errno.ENOSPC, persistent=True))
        with pytest.raises(StorageFull) as caught:
            store.delete_executions(PROJECT)
    assert len(snapshot(data_dir)) == 2  # "keep" went, "other" and "target" stay
    assert "nothing was changed" not in caught.value.message


# -- over HTTP ----------------------------------------------------------------------------------------------
@dataclass
class HttpFaults:
    """What the fault matrix over HTTP saw."""

    routes: int = 0
    injections: int = 0
    answered: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        statuses = ", ".join(f"{count} x {status}" for status, count in sorted(self.answered.items()))
        return (
            f"faults over HTTP: {self.routes} routes, {self.injections} injections (ENOSPC, EIO; once), "
            f"answered {statuses}, {len(self.problems)} problems"
        )


async def http_fault_matrix(
    workdir: Path,
    io_class: type[FaultIO] = FaultIO,
    operations: tuple[Operation, ...] = OPERATIONS,
    chunks: tuple[int | None, ...] = (None,),
) -> HttpFaults:
    """Every route that writes, with a fault (either errno, once) at every I/O step it takes."""
    template = workdir / "template"
    prepare_template(template)
    counter = iter(range(1_000_000))
    operations = tuple(op for op in operations if op.request is not None)
    seen = HttpFaults(routes=len(operations))
    for chunk, operation in itertools.product(chunks, operations):
        assert operation.request is not None
        method, url, body, headers = operation.request
        counts = steps_of(operation, template, workdir, counter, chunk)
        for fault in (f for f in faults_of(counts) if not f.persistent):
            where = f"{method} {url} at {fault}"
            data_dir = _fresh_copy(template, workdir, counter)
            before = snapshot(data_dir)
            io = io_class(chunk)
            store = _open(data_dir, io)
            async_store = AsyncStorehouse(store=store)
            app = create_app(async_store, Settings(data_dir=data_dir))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
                start = len(io.calls)
                io.arm(fault)
                answer = await client.request(method, url, json=body, headers=headers)
                calls = io.calls[start:]
                io.arm(None)
                seen.injections += 1
                seen.answered[answer.status_code] += 1
                want = expected_error(fault.error)
                if answer.status_code != want.status or answer.headers.get("content-type") != "application/json":
                    seen.problems.append(f"{where}: answered {answer.status_code} {answer.text[:200]}")
                elif answer.json()["error"]["code"] != want.code or not answer.json()["error"]["message"]:
                    seen.problems.append(f"{where}: error body {answer.text[:200]}")
                if (
                    not any(c.primitive in MUTATIONS and c.failed is None for c in calls)
                    and snapshot(data_dir) != before
                ):
                    seen.problems.append(f"{where}: a file changed although no rename or unlink completed")
                seen.problems += [f"{where}: {p}" for p in wrong_states(data_dir, before, operation, calls)]
                seen.problems += [f"{where}: leaked {name}" for name in leaked_temp_files(data_dir)]
                listed = (await client.get(URL, params={"limit": 1000})).json()
                if sorted(e["id"] for e in listed["executions"]) != sorted(snapshot(data_dir)):
                    seen.problems.append(f"{where}: the list over HTTP is not the files")
                retried = await client.request(method, url, json=body, headers=headers)
                if retried.status_code >= 500:
                    seen.problems.append(f"{where}: the request after the fault cleared answered {retried.status_code}")
            await async_store.close()
            shutil.rmtree(data_dir)
    return seen


async def test_faults_over_http_are_507_or_500_with_a_json_error(
    workdir: Path, scorecard: Callable[[str], None]
) -> None:
    seen = await http_fault_matrix(workdir, chunks=chunk_sizes()[: soak(1)])
    scorecard(seen.line)
    assert seen.problems == []
    assert seen.routes == 6
    assert set(seen.answered) == {507, 500}
    assert seen.answered[507] == seen.answered[500] == seen.injections // 2


# -- planted bugs: the matrix goes red ----------------------------------------------------------------------
class RetryingFsyncIO(FaultIO):
    """PLANTED BUG: replace_durably retries a failed fsync and then renames (Linux may have dropped the
    pages the first fsync failed to write, and report the retry as a success)."""

    def replace_durably(self, path: Path, data: bytes, dir_fd: int | None = None) -> os.stat_result:
        if dir_fd is not None:  # the bug is planted in document writes (WRITES_ONLY)
            return super().replace_durably(path, data, dir_fd)
        temp = f"{path.parent}/.{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
        try:
            fd = self.open_new(temp)
        except OSError as exc:
            raise storage_error(exc, "create a temp file for", path) from exc
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[self.write(fd, view) :]
                try:
                    self.fsync(fd)
                except OSError:
                    self.fsync(fd)  # the forbidden retry
                info = os.fstat(fd)
            finally:
                os.close(fd)
            self.replace(temp, str(path))
        except OSError as exc:
            self._discard(temp)
            raise storage_error(exc, "write", path) from exc
        self.fsync_dir(path.parent)
        return info


class LeakyIO(FaultIO):
    """PLANTED BUG: replace_durably forgets to remove its temp file when a step fails."""

    def replace_durably(self, path: Path, data: bytes, dir_fd: int | None = None) -> os.stat_result:
        if dir_fd is not None:  # the bug is planted in document writes (WRITES_ONLY)
            return super().replace_durably(path, data, dir_fd)
        temp = f"{path.parent}/.{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
        try:
            fd = self.open_new(temp)
            try:
                view = memoryview(data)
                while view:
                    view = view[self.write(fd, view) :]
                self.fsync(fd)
                info = os.fstat(fd)
            finally:
                os.close(fd)
            self.replace(temp, str(path))
        except OSError as exc:
            raise storage_error(exc, "write", path) from exc  # the temp file stays behind
        self.fsync_dir(path.parent)
        return info


WRITES_ONLY = tuple(op for op in OPERATIONS if op.name in ("create_execution", "patch_execution"))


def test_the_matrix_goes_red_when_a_failed_fsync_is_retried_and_renamed(workdir: Path) -> None:
    seen = fault_matrix(workdir, RetryingFsyncIO, WRITES_ONLY)
    assert seen.fsync_retries
    assert seen.renames_after_failed_fsync
    assert seen.false_successes  # once: the retry "succeeds" and the write is reported done


def test_the_matrix_goes_red_when_a_temp_file_is_left_behind(workdir: Path) -> None:
    seen = fault_matrix(workdir, LeakyIO, WRITES_ONLY)
    assert seen.leaked
    assert (seen.fsync_retries, seen.false_successes) == ([], [])  # only the planted bug shows


def test_the_matrix_goes_red_when_the_index_is_not_repaired_after_a_failed_write(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(FileBackend, "_repair", lambda *_: None)  # planted: the index keeps the old row
    seen = fault_matrix(workdir, operations=WRITES_ONLY)
    assert seen.index_mismatches
    assert all("reopened" not in problem for problem in seen.index_mismatches)  # the next open repairs it


async def test_the_http_matrix_goes_red_when_a_temp_file_is_left_behind(workdir: Path) -> None:
    seen = await http_fault_matrix(workdir, LeakyIO, WRITES_ONLY)
    assert any("leaked" in problem for problem in seen.problems)
