"""Simulated power loss: every acknowledged write survives a crash at every point of the I/O sequence.

kill -9 cannot find a missing fsync (the page cache outlives the process); a power loss drops every write
that was not made durable, and this harness simulates exactly that.

1. ``Journal``, a ``FileIO`` subclass, runs every primitive for real and records, in order, each one that
   changes the execution files or their directories: ``open_new`` (a temp file is created), ``write`` (bytes
   appended to a file, known by the number ``open_new`` gave it), ``fsync`` of a file, ``fsync_dir`` (the
   fsync of a directory's fd inside ``FileIO.fsync_dir``), ``replace`` (rename), ``unlink`` and ``mkdir``
   (the ``os.mkdir`` inside ``FileIO.make_dirs``, noted just before the fsync of its parent that follows it).
2. ``Model`` replays the first k recorded operations and tells what a power loss at that point leaves,
   assuming the worst the file system may do:

   - ``entries[d]``: the live entries of directory d (name -> file number, or the path of a subdirectory);
     ``synced_entries[d]``: a copy of ``entries[d]`` taken at d's last fsync (empty if never fsynced).
     A create (``open_new``, ``mkdir``, the target of ``replace``), a rename or an unlink is durable only
     once its directory is fsynced afterwards; until then the directory keeps its entries as of its last fsync.
   - ``content[n]``: the bytes written to file n; ``synced_content[n]``: ``content[n]`` as of file n's last
     fsync (empty if never fsynced). Whatever directory names a file, it holds its synced content.

   The durable tree is what ``synced_entries`` reaches from the directory above the data directory (which
   existed before the run), each file holding its ``synced_content``.
3. A realistic workload (creates, PUT creates and replacements, PATCHes with If-Match, deletes, a re-create of
   a deleted id, a delete of a whole project, in three projects) goes through ``Storehouse`` on a journaled
   ``FileBackend``; each call's span of operations and its acknowledged effect (id -> document, or deleted)
   are kept. For every crash point k (every prefix of the operations), the durable ``projects/`` tree is
   written into a fresh data directory (the SQLite index is derived data and left out: it is rebuilt from
   the files on open), a ``Storehouse`` is opened on it, and the harness checks that: it opens; no file
   under a final name is unparsable (torn or empty); ``check()`` reports no problem; each write acknowledged
   before k is there as acknowledged (a newer document is allowed only from the one call in flight at k, and
   an acknowledged delete is absent unless that call re-creates it); nothing never acknowledged appears
   except from the call in flight; and listing each project returns exactly the files present.

The fast tier runs 2 seeded workloads of 80 calls (~750 crash points, ~10 s on a 2-core machine);
``STOREHOUSE_SOAK=N`` or ``--trials N`` runs that many workloads (other seeds). Two planted bugs show the
harness going red: a journal that skips the fsync of the executions directory (acknowledged creates vanish)
and one that skips the temp file's fsync before the rename (empty files under final names).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from storehouse import Settings, Storehouse
from storehouse.backends import FileBackend
from storehouse.errors import InvalidBody, NotFound
from storehouse.fsio import FileIO
from storehouse.models import JSONObject, load_execution
from tests.conftest import at, soak

PROJECTS = ("alpha", "beta", "gamma")
WORKLOADS = 2  # seeded workloads of the fast tier; soak runs (STOREHOUSE_SOAK) and --trials multiply them
FAST_CALLS = 80  # library calls per workload (~370 operations: each is a crash point)
Key = tuple[str, str]  # (projectId, executionId)
State = JSONObject | None  # an execution's document, or None when it does not exist


# -- 1. the journal of the I/O layer -------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One mutating primitive, as the store performed it."""

    kind: str  # mkdir | open_new | write | fsync | fsync_dir | replace | unlink
    path: str = ""  # the file or directory (for replace: the source)
    target: str = ""  # replace: the new name
    file: int = -1  # open_new, write, fsync: the file's number (its index in the journal)
    data: bytes = b""  # write: the bytes written


class Journal(FileIO):
    """A durable FileIO that does everything for real and records every operation that changes the files.

    Single-threaded use only (the workload below is); ``syncing_dir`` tells ``fsync`` that the fd it is given
    is the directory ``fsync_dir`` opened, which may reuse the number of a closed temp file's fd.
    """

    def __init__(self) -> None:
        super().__init__(durable=True)
        self.ops: list[Op] = []
        self.syncing_dir: str | None = None
        self._files: dict[int, int] = {}  # open fd -> file number
        self._new_dirs: list[Path] = []  # what the make_dirs in progress is about to create
        self._made: set[Path] = set()

    def open_new(self, path: str, dir_fd: int | None = None) -> int:
        fd = super().open_new(path, dir_fd)
        self._files[fd] = len(self.ops)
        self.ops.append(Op("open_new", path=os.path.normpath(at(path, dir_fd)), file=len(self.ops)))
        return fd

    def write(self, fd: int, data: memoryview) -> int:
        written = super().write(fd, data)
        self.ops.append(Op("write", file=self._files[fd], data=bytes(data[:written])))
        return written

    def fsync(self, fd: int) -> None:
        super().fsync(fd)
        if self.syncing_dir is not None:
            self.ops.append(Op("fsync_dir", path=self.syncing_dir))
        else:
            self.ops.append(Op("fsync", file=self._files[fd]))

    def replace(self, source: str, target: str, dir_fd: int | None = None) -> None:
        super().replace(source, target, dir_fd)
        self.ops.append(
            Op("replace", path=os.path.normpath(at(source, dir_fd)), target=os.path.normpath(at(target, dir_fd)))
        )

    def unlink(self, path: str, dir_fd: int | None = None) -> None:
        super().unlink(path, dir_fd)
        self.ops.append(Op("unlink", path=os.path.normpath(at(path, dir_fd))))

    def fsync_dir(self, directory: Path) -> None:
        self._note_new_dirs(directory)
        self.syncing_dir = os.path.normpath(directory)
        try:
            super().fsync_dir(directory)
        finally:
            self.syncing_dir = None

    def make_dirs(self, directory: Path) -> None:
        current = directory
        while not current.is_dir():
            self._new_dirs.append(current)
            current = current.parent
        try:
            super().make_dirs(directory)
        finally:
            self._note_new_dirs(None)  # any the base class made without syncing their parent: noted late
            self._new_dirs = []

    def _note_new_dirs(self, parent: Path | None) -> None:
        for new in reversed(self._new_dirs):  # outermost first, the order make_dirs creates them in
            if new not in self._made and (parent is None or new.parent == parent) and new.is_dir():
                self._made.add(new)
                self.ops.append(Op("mkdir", path=os.path.normpath(new)))


# -- 2. what survives a power loss ----------------------------------------------------------------------------

Entry = int | str  # a file's number, or a subdirectory's path


@dataclass
class Model:
    """The file system as the journal changed it, and the part of it that a power loss would leave."""

    root: str  # the directory above the data directory: it existed before, and its entries start empty
    entries: dict[str, dict[str, Entry]] = field(default_factory=dict)
    synced_entries: dict[str, dict[str, Entry]] = field(default_factory=dict)
    content: dict[int, bytes] = field(default_factory=dict)
    synced_content: dict[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.entries[self.root] = {}
        self.synced_entries[self.root] = {}

    def apply(self, op: Op) -> None:
        parent, name = os.path.split(op.path)
        if op.kind == "mkdir":
            self.entries[parent][name] = op.path
            self.entries[op.path] = {}
            self.synced_entries[op.path] = {}
        elif op.kind == "open_new":
            self.entries[parent][name] = op.file
            self.content[op.file] = self.synced_content[op.file] = b""
        elif op.kind == "write":
            self.content[op.file] += op.data
        elif op.kind == "fsync":
            self.synced_content[op.file] = self.content[op.file]
        elif op.kind == "fsync_dir":
            if op.path in self.entries:  # else a directory the model does not track (none in this workload)
                self.synced_entries[op.path] = dict(self.entries[op.path])
        elif op.kind == "replace":
            moved = self.entries[parent].pop(name)
            target_parent, target_name = os.path.split(op.target)
            self.entries[target_parent][target_name] = moved
        elif op.kind == "unlink":
            del self.entries[parent][name]
        else:
            raise AssertionError(f"unknown operation {op}")

    def tree(self, durable: bool, top: str) -> dict[str, bytes | None] | None:
        """Every path under top (relative to it) with its content (None for a directory): what a power loss
        leaves if durable, else what is there now. None when top itself would not be there."""
        listing = self.synced_entries if durable else self.entries
        found: dict[str, bytes | None] = {}

        def walk(directory: str, relative: str) -> None:
            for name, entry in sorted(listing[directory].items()):
                path = f"{relative}/{name}" if relative else name
                if isinstance(entry, str):
                    found[path] = None
                    walk(entry, path)
                else:
                    found[path] = (self.synced_content if durable else self.content)[entry]

        walk(self.root, "")
        prefix = os.path.relpath(top, self.root)
        if prefix not in found:
            return None
        return {path[len(prefix) + 1 :]: data for path, data in found.items() if path.startswith(prefix + "/")}


def disk_tree(top: Path) -> dict[str, bytes | None] | None:
    """The real tree under top, in the form of ``Model.tree``."""
    if not top.is_dir():
        return None
    found: dict[str, bytes | None] = {}
    for path in sorted(top.rglob("*")):
        found[str(path.relative_to(top))] = None if path.is_dir() else path.read_bytes()
    return found


# -- 3. the workload ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One library call: the span of operations it performed, and what it changed once acknowledged."""

    label: str
    start: int  # len(journal.ops) when the call began
    end: int  # ... and when it returned: a crash at k >= end comes after its acknowledgement
    effects: dict[Key, State]


def _document(rng: random.Random, status: str) -> JSONObject:
    steps = [
        {"name": f"step-{n}", "agent": rng.choice(["planner", "coder", "critic"]), "status": "completed"}
        for n in range(rng.randint(0, 4))
    ]
    return {
        "name": rng.choice(["triage", "summarize", "review", "plan"]),
        "status": status,
        "taskId": f"T-{rng.randint(1, 9)}",
        "tokenUsage": {"input": rng.randint(0, 5000), "output": rng.randint(0, 900)},
        "costUSD": round(rng.uniform(0, 0.2), 4),
        "tags": rng.sample(["nightly", "ci", "prod", "eval"], rng.randint(0, 2)),
        "input": {"prompt": "x" * rng.randint(0, 3000)},
        "steps": steps,
    }


def run_workload(data_dir: Path, journal: Journal, calls: int, seed: int) -> list[Call]:
    """Drive ``calls`` library calls through a store on data_dir that does its I/O through journal."""
    rng = random.Random(seed)
    done: list[Call] = []
    live: dict[Key, JSONObject] = {}
    gone: list[Key] = []
    store = Storehouse(settings=Settings(data_dir=data_dir), backend=FileBackend(data_dir, journal))
    try:
        for n in range(calls):
            start = len(journal.ops)
            label, effects = _step(store, rng, n, calls, live, gone)
            done.append(Call(label, start, len(journal.ops), effects))
            for key, state in effects.items():
                if state is None:
                    del live[key]
                    gone.append(key)
                else:
                    live[key] = state
    finally:
        store.close()
    return done


def _step(
    store: Storehouse, rng: random.Random, n: int, calls: int, live: dict[Key, JSONObject], gone: list[Key]
) -> tuple[str, dict[Key, State]]:
    """Make call number n of the workload; return its label and its effects, as acknowledged."""
    if n == calls * 2 // 3 and any(key[0] == "gamma" for key in live):
        cleared = {key: None for key in live if key[0] == "gamma"}
        assert store.delete_executions("gamma") == len(cleared)
        return "delete every execution of gamma", dict(cleared)
    project = rng.choice(PROJECTS)
    mine = sorted(key for key in live if key[0] == project)
    kind = rng.choices(["create", "put-new", "put", "patch", "delete", "re-put"], [4, 1, 2, 4, 2, 1])[0]
    if kind == "create" or not mine:
        created = store.create_execution(project, _document(rng, "running"))
        return f"create {project}/{created['id']}", {(project, created["id"]): created}
    if kind == "put-new":
        key = (project, f"run-{n}")
    elif kind == "re-put":
        key = rng.choice([key for key in gone if key not in live] or mine)
    else:
        key = rng.choice(mine)
    if kind == "patch":
        changes: JSONObject = {"status": rng.choice(["completed", "failed", "running"]), "tags": [f"patch-{n}"]}
        return f"patch {key[0]}/{key[1]}", {key: store.patch_execution(*key, changes, if_match=live[key]["version"])}
    if kind == "delete":
        store.delete_execution(*key, if_match=live[key]["version"])
        return f"delete {key[0]}/{key[1]}", {key: None}
    return f"{kind} {key[0]}/{key[1]}", {key: store.put_execution(*key, _document(rng, "pending"))}


# -- 4. every crash point -------------------------------------------------------------------------------------


@dataclass
class PowerLoss:
    """What the power-loss harness saw over every crash point."""

    crash_points: int = 0
    acked: int = 0  # acknowledged calls of the workload
    checked: int = 0  # acknowledged states (document or deletion) checked, summed over the crash points
    lost: list[str] = field(default_factory=list)  # an acknowledged write or delete not as acknowledged
    phantoms: list[str] = field(default_factory=list)  # a document never acknowledged, from no call in flight
    unopenable: list[str] = field(default_factory=list)
    unparsable: list[str] = field(default_factory=list)  # a file under a final name that does not load
    listing_mismatches: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what check() reported

    @property
    def line(self) -> str:
        return (
            f"power-loss: {self.crash_points:,} crash points, {self.acked:,} acked writes, "
            f"{self.checked:,} acked states checked, {len(self.lost)} lost, {len(self.phantoms)} phantom, "
            f"{len(self.unopenable)} unopenable, {len(self.unparsable)} unparsable, "
            f"{len(self.listing_mismatches)} listing mismatches, {len(self.problems)} check problems"
        )

    @property
    def clean(self) -> bool:
        return not (
            self.lost or self.phantoms or self.unopenable or self.unparsable or self.listing_mismatches or self.problems
        )


def power_loss(journal: Journal, calls: list[Call], data_dir: Path, scratch: Path, seen: PowerLoss) -> None:
    """Crash after every prefix of journal.ops, k = 0 .. len(ops), and check what the durable state holds."""
    data_dir = data_dir.absolute()
    model = Model(os.path.normpath(data_dir.parent))
    top = os.path.normpath(data_dir / "projects")
    seen.acked += len(calls)
    expected: dict[Key, State] = {}
    acked = 0
    for k in range(len(journal.ops) + 1):
        if k:
            model.apply(journal.ops[k - 1])
        while acked < len(calls) and calls[acked].end <= k:
            expected.update(calls[acked].effects)
            acked += 1
        in_flight = calls[acked] if acked < len(calls) and calls[acked].start < k else None
        seen.crash_points += 1
        seen.checked += len(expected)
        where = f"{data_dir.parent.name}, k={k}" + (f" (during: {in_flight.label})" if in_flight else "")
        check_crash_point(where, model.tree(durable=True, top=top), expected, in_flight, scratch / "data", seen)
    # the journal saw every change: replaying it all gives exactly the files the store left
    assert model.tree(durable=False, top=top) == disk_tree(data_dir / "projects"), "the journal missed a change"


def check_crash_point(
    where: str,
    durable: dict[str, bytes | None] | None,
    expected: dict[Key, State],
    in_flight: Call | None,
    crashed: Path,
    seen: PowerLoss,
) -> None:
    """Write the durable projects/ tree into crashed (a fresh data directory), open it, and check it."""
    if crashed.exists():
        shutil.rmtree(crashed)
    present: dict[str, set[str]] = {project: set() for project in PROJECTS}
    if durable is not None:
        (crashed / "projects").mkdir(parents=True)
        for relative, data in durable.items():  # sorted: a directory comes before what it holds
            path = crashed / "projects" / relative
            if data is None:
                path.mkdir()
                continue
            path.write_bytes(data)
            project, _, name = relative.partition("/executions/")
            if project not in present or not name.endswith(".json") or name.startswith("."):
                continue  # not an execution file; a temp file is swept when its project is opened
            try:
                load_execution(data, project, name[:-5])
            except InvalidBody as exc:
                seen.unparsable.append(f"{where}: {relative} ({len(data)} bytes): {exc.message}")
                continue
            present[project].add(name[:-5])
    try:  # durable=False: the checking store's own fsyncs are not under test, and they are slow
        store = Storehouse(settings=Settings(data_dir=crashed, durable=False))
    except Exception as exc:
        seen.unopenable.append(f"{where}: {exc!r}")
        return
    with store:
        try:
            seen.problems += [f"{where}: {problem}" for problem in store.check().problems]
            for project, files in present.items():
                listed = set(_listed(store, project))
                if listed != files:
                    seen.listing_mismatches.append(f"{where}: {project} lists {sorted(listed)}, holds {sorted(files)}")
            keys = (
                set(expected)
                | set(in_flight.effects if in_flight else ())
                | {(project, item) for project, items in present.items() for item in items}
            )
            for key in sorted(keys):
                _check_document(where, store, key, expected, in_flight, seen)
        except Exception as exc:
            seen.unopenable.append(f"{where}: {exc!r}")


def _listed(store: Storehouse, project: str) -> Iterator[str]:
    cursor = None
    while True:
        page = store.list_executions(project, limit=1000, cursor=cursor)
        yield from (item["id"] for item in page.items)
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _check_document(
    where: str, store: Storehouse, key: Key, expected: dict[Key, State], in_flight: Call | None, seen: PowerLoss
) -> None:
    """The document must be as acknowledged, or as the call in flight at the crash left it."""
    try:
        found: State = store.get_execution(*key)
    except NotFound:
        found = None
    allowed = [expected.get(key)]
    if in_flight is not None and key in in_flight.effects:
        allowed.append(in_flight.effects[key])
    if found in allowed:
        return
    name = f"{where}: {key[0]}/{key[1]}"
    got = "it is not found" if found is None else f"version {found['version']} is stored"
    acknowledged = expected.get(key)
    if key not in expected:
        seen.phantoms.append(f"{name}: never acknowledged, yet {got}")
    elif acknowledged is None:
        seen.lost.append(f"{name}: deleted (acknowledged), yet {got}")
    elif found is not None and found["version"] == acknowledged["version"]:
        seen.lost.append(f"{name}: version {acknowledged['version']} acknowledged, a different one is stored")
    else:
        seen.lost.append(f"{name}: version {acknowledged['version']} acknowledged, but {got}")


def run_harness(base: Path, scratch: Path, journal_type: type[Journal], workloads: int, calls: int) -> PowerLoss:
    """Run workloads (seeds 0, 1 ...) of calls library calls each, journaled by journal_type, and crash each
    one at every point."""
    seen = PowerLoss()
    for seed in range(workloads):
        data_dir = base / f"workload-{seed}" / "data"
        data_dir.parent.mkdir(parents=True)
        journal = journal_type()
        done = run_workload(data_dir, journal, calls, seed)
        power_loss(journal, done, data_dir, scratch, seen)
    return seen


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """Where each crashed data directory is written, opened and checked: tmpfs when there is one, where the
    checking store's own fsyncs (SQLite's) cost nothing; their durability is not what is under test."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path / "scratch"
        return
    with tempfile.TemporaryDirectory(dir=shm, prefix="storehouse-power-loss-") as directory:
        yield Path(directory)


# -- the model and the journal, on their own ------------------------------------------------------------------


def test_the_model_keeps_only_what_was_fsynced(tmp_path: Path) -> None:
    root = os.path.normpath(tmp_path)
    d, f = f"{root}/d", f"{root}/d/a.json"
    model = Model(root)
    for op in [Op("mkdir", path=d), Op("fsync_dir", path=root), Op("open_new", path=f"{d}/.t", file=2)]:
        model.apply(op)
    model.apply(Op("write", file=2, data=b"new"))
    model.apply(Op("replace", path=f"{d}/.t", target=f))
    assert model.tree(durable=True, top=d) == {}  # renamed, but the directory was not fsynced since
    assert model.tree(durable=False, top=d) == {"a.json": b"new"}
    model.apply(Op("fsync_dir", path=d))
    assert model.tree(durable=True, top=d) == {"a.json": b""}  # the name is durable, the content never fsynced
    model.apply(Op("fsync", file=2))
    assert model.tree(durable=True, top=d) == {"a.json": b"new"}
    model.apply(Op("unlink", path=f))
    assert model.tree(durable=True, top=d) == {"a.json": b"new"}  # the unlink is not durable yet
    model.apply(Op("fsync_dir", path=d))
    assert model.tree(durable=True, top=d) == {}
    assert Model(root).tree(durable=True, top=d) is None  # a directory never created (or not yet durable)


def test_the_journal_records_each_primitive_of_a_durable_write(data_dir: Path) -> None:
    journal = Journal()
    with Storehouse(settings=Settings(data_dir=data_dir), backend=FileBackend(data_dir, journal)) as store:
        assert [(op.kind, Path(op.path).name) for op in journal.ops] == [
            ("mkdir", "data"),
            ("fsync_dir", data_dir.parent.name),
            ("mkdir", "projects"),
            ("fsync_dir", "data"),
        ]
        del journal.ops[:]
        store.put_execution("demo", "run-1", {"status": "running"})
        store.patch_execution("demo", "run-1", {"status": "completed"})
        store.delete_execution("demo", "run-1")
    kinds = [op.kind for op in journal.ops]
    write = ["open_new", "write", "fsync", "replace", "fsync_dir"]
    assert kinds == ["mkdir", "fsync_dir", "mkdir", "fsync_dir", *write, *write, "unlink", "fsync_dir"]
    assert [Path(op.path).name for op in journal.ops[:4]] == ["demo", "projects", "executions", "demo"]
    assert journal.ops[6].file == journal.ops[4].file  # the write and fsync are of the temp file just created


# -- the harness ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_acknowledged_write_is_lost_at_any_power_loss_point(
    tmp_path: Path, scratch: Path, trials: int | None, scorecard: Callable[[str], None]
) -> None:
    started = time.perf_counter()
    seen = run_harness(tmp_path, scratch, Journal, trials or soak(WORKLOADS), FAST_CALLS)
    scorecard(f"{seen.line} ({time.perf_counter() - started:.1f} s)")
    assert seen.lost == []
    assert seen.phantoms == []
    assert seen.unopenable == []
    assert seen.unparsable == []
    assert seen.listing_mismatches == []
    assert seen.problems == []
    assert seen.crash_points > 4 * seen.acked  # every write costs several crash points
    assert seen.checked > seen.crash_points  # most crash points had acknowledged writes to check


class SkipsDirectoryFsync(Journal):
    """The planted bug: the rename is not made durable (no fsync of the executions directory)."""

    def fsync_dir(self, directory: Path) -> None:
        if directory.name != "executions":
            super().fsync_dir(directory)


class SkipsFileFsync(Journal):
    """The planted bug: the temp file is renamed into place without being fsynced first."""

    def fsync(self, fd: int) -> None:
        if self.syncing_dir is not None:
            super().fsync(fd)


def test_the_harness_goes_red_without_the_directory_fsync(tmp_path: Path, scratch: Path) -> None:
    assert run_harness(tmp_path / "real", scratch, Journal, 1, 12).clean  # the same workload, correct I/O
    seen = run_harness(tmp_path / "planted", scratch, SkipsDirectoryFsync, 1, 12)
    assert not seen.clean
    assert any("version 1 acknowledged, but it is not found" in lost for lost in seen.lost)  # a create is gone
    assert seen.unparsable == []  # the renames that do survive are of fsynced files


def test_the_harness_goes_red_without_the_file_fsync(tmp_path: Path, scratch: Path) -> None:
    assert run_harness(tmp_path / "real", scratch, Journal, 1, 12).clean  # the same workload, correct I/O
    seen = run_harness(tmp_path / "planted", scratch, SkipsFileFsync, 1, 12)
    assert not seen.clean
    assert any("(0 bytes): not JSON" in file for file in seen.unparsable)  # a durable name, content never synced
    assert any("acknowledged, but it is not found" in lost for lost in seen.lost)
    assert any("not JSON" in problem for problem in seen.problems)  # and check() names the empty file
