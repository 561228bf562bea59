"""Backup under load: copies taken with ``cp -a``, ``tar`` and ``storehouse backup`` while a real server and a
library writer keep creating and patching executions. Each copy must open, be clean by ``check`` once its
open has reconciled it, and hold every write acknowledged before the copy began, at that version or later.

Also the ``storehouse backup`` command itself: what it refuses, what it prints, and what its copy re-reads.
"""

from __future__ import annotations

import errno
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from storehouse import (
    AsyncStorehouse,
    NotFound,
    Settings,
    StorageError,
    StorageFull,
    Storehouse,
    StorehouseError,
)
from storehouse.backends import FileBackend
from storehouse.backends import files as files_backend
from storehouse.cli import main
from storehouse.fsio import FileIO, is_temp_name
from storehouse.index import IndexRow
from tests.conftest import Server, soak

ROUNDS = 5  # rounds of one copy by each method; scaled by STOREHOUSE_SOAK
POOL = 120  # executions each writer creates before it only patches them (keeps each copy quick to verify)
PAD = "x" * 1500  # so that a copy moves a few MB, not a few KB
HTTP_PROJECT = "web"
LIBRARY_PROJECTS = ("lib-a", "lib-b")

Copier = Callable[[Path, Path], list[str]]
"""Copy the data directory (first argument) to a new path (second); return what the tool said that it
should not have (an empty list when all is well)."""


# -- the writers ---------------------------------------------------------------------------------------
DELETED = 0  # the version recorded for an execution whose deletion was acknowledged


class Acks:
    """Every write acknowledged so far: (project, id) -> the highest version acknowledged, or DELETED."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._latest: dict[tuple[str, str], int] = {}
        self._deleting: set[tuple[str, str]] = set()
        self.count = 0
        self.errors: list[str] = []

    def record(self, document: dict[str, object]) -> None:
        """Record a create or patch whose answer (the stored document) the writer has received."""
        key = (str(document["projectId"]), str(document["id"]))
        version = document["version"]
        assert isinstance(version, int)
        with self._guard:
            self._latest[key] = max(version, self._latest.get(key, 0))
            self.count += 1

    def deleting(self, project: str, item: str) -> None:
        """Note that a delete is about to be sent: from now on the execution may be gone."""
        with self._guard:
            self._deleting.add((project, item))

    def deleted(self, project: str, item: str) -> None:
        with self._guard:
            self._latest[(project, item)] = DELETED
            self.count += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._guard:
            return dict(self._latest)

    def deletes_sent(self) -> set[tuple[str, str]]:
        with self._guard:
            return set(self._deleting)


class Window:
    """What one writer does next: create (always while it has fewer than POOL live executions, and now and
    then after), patch a random live one, and once over POOL delete its oldest, so the data stays bounded
    while creates, patches and deletes go on."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.live: list[str] = []

    def next(self) -> tuple[str, str | None]:
        if len(self.live) > POOL:
            return "delete", self.live.pop(0)
        if len(self.live) < POOL or self.rng.random() < 0.2:
            return "create", None
        return "patch", self.rng.choice(self.live)


def _http_writer(url: str, acks: Acks, stop: threading.Event, seed: int) -> None:
    """Create, patch and delete executions through the server until stopped."""
    window = Window(seed)
    base = f"/api/projects/{HTTP_PROJECT}/executions"
    with httpx.Client(base_url=url, timeout=60) as client:
        n = 0
        while not stop.is_set():
            n += 1
            action, item = window.next()
            if action == "create":
                answer = client.post(base, json={"status": "running", "input": {"pad": PAD}, "tags": ["load"]})
            elif action == "patch":
                changes = {"metadata": {"n": n}, "status": window.rng.choice(["running", "completed", "failed"])}
                answer = client.patch(f"{base}/{item}", json=changes)
            else:
                assert item is not None
                acks.deleting(HTTP_PROJECT, item)
                answer = client.delete(f"{base}/{item}")
            expected = {"create": 201, "patch": 200, "delete": 204}[action]
            if answer.status_code != expected:
                raise AssertionError(f"{answer.request.method} answered {answer.status_code}: {answer.text}")
            if action == "delete":
                assert item is not None
                acks.deleted(HTTP_PROJECT, item)
                continue
            document = answer.json()["execution"]
            if action == "create":
                window.live.append(document["id"])
            acks.record(document)


def _library_writer(data_dir: Path, acks: Acks, stop: threading.Event, seed: int) -> None:
    """Create, patch and delete executions of two projects through the library until stopped."""
    windows = {project: Window(seed * 10 + n) for n, project in enumerate(LIBRARY_PROJECTS)}
    with Storehouse(data_dir) as store:
        n = 0
        while not stop.is_set():
            n += 1
            project = LIBRARY_PROJECTS[n % len(LIBRARY_PROJECTS)]
            action, item = windows[project].next()
            if action == "create":
                document = store.create_execution(project, {"id": f"lib-{n}", "status": "running", "input": PAD})
                windows[project].live.append(document["id"])
            elif action == "patch":
                assert item is not None
                document = store.patch_execution(project, item, {"costUSD": n / 1000, "output": n})
            else:
                assert item is not None
                acks.deleting(project, item)
                store.delete_execution(project, item)
                acks.deleted(project, item)
                continue
            acks.record(document)


@contextmanager
def writers(data_dir: Path) -> Iterator[Acks]:
    """A real server with two HTTP writers, and a library writer in this process, writing until the block ends."""
    Storehouse(data_dir).close()
    server = Server(data_dir)
    acks = Acks()
    stop = threading.Event()

    def guarded(target: Callable[..., None], where: object, seed: int) -> None:
        try:
            target(where, acks, stop, seed)
        except Exception as exc:  # the harness reports it; a writer that dies must not pass silently
            acks.errors.append(f"{target.__name__}: {type(exc).__name__}: {exc}")

    jobs: list[tuple[Callable[..., None], object]] = [
        (_http_writer, server.url),
        (_http_writer, server.url),
        (_library_writer, data_dir),
    ]
    threads = [threading.Thread(target=guarded, args=(*job, seed), daemon=True) for seed, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 30
        while acks.count < 100 and not acks.errors:  # some history before the first copy
            assert time.monotonic() < deadline, "the writers did not get going"
            time.sleep(0.02)
        yield acks
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
        server.stop()


# -- the copiers ---------------------------------------------------------------------------------------
_EXECUTIONS = r"\S*/projects/[^/\s]+/executions/[^/\s]+"  # a file of an executions directory
_CP_ALLOWED = [
    # listed, then gone before cp reached it: a writer's temp file renamed over its target, or a deleted run
    re.compile(rf"^cp: cannot (stat|open) '{_EXECUTIONS}'.*: No such file or directory$"),
]
_TAR_ALLOWED = [
    re.compile(
        rf"^tar: {_EXECUTIONS}: (File removed before we read it|Cannot (stat|open): No such file or directory)$"
    ),
    # a directory gained entries, or a file we read whole was renamed over (its old inode's ctime moved):
    # the copy of that file is still one complete version
    re.compile(r"^tar: \S+: file changed as we read it$"),
]


def _complaints(
    done: subprocess.CompletedProcess[str], allowed: list[re.Pattern[str]], ok: tuple[int, ...]
) -> list[str]:
    said = [line for line in done.stderr.splitlines() if not any(pattern.match(line) for pattern in allowed)]
    if done.returncode not in ok:
        said.append(f"{done.args[0]} exited {done.returncode}")
    return said


def copy_with_cp(data_dir: Path, dest: Path) -> list[str]:
    """cp -a, as the README suggests. Exit 1 with only vanished temp files named is a success."""
    done = subprocess.run(["cp", "-a", str(data_dir), str(dest)], capture_output=True, text=True, timeout=300)
    return _complaints(done, _CP_ALLOWED, (0, 1))


def copy_with_tar(data_dir: Path, dest: Path) -> list[str]:
    """tar -c, then tar -x into a new directory. GNU tar exits 1 when files changed or vanished meanwhile.

    The default archive format keeps whole seconds of mtime only, so every extracted file differs from what
    the copied index saw and the copy's first open re-reads them all: slower, but not wrong.
    """
    archive = dest.with_name(f"{dest.name}.tar")
    done = subprocess.run(
        ["tar", "-C", str(data_dir), "-cf", str(archive), "."], capture_output=True, text=True, timeout=300
    )
    said = _complaints(done, _TAR_ALLOWED, (0, 1))
    dest.mkdir()
    extracted = subprocess.run(
        ["tar", "-C", str(dest), "-xf", str(archive)], capture_output=True, text=True, timeout=300
    )
    archive.unlink()
    return said + _complaints(extracted, [], (0,))


def copy_with_storehouse(data_dir: Path, dest: Path) -> list[str]:
    """storehouse backup DEST, as its own process."""
    command = [sys.executable, "-m", "storehouse", "backup", str(dest), "--data-dir", str(data_dir)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    said = _complaints(done, [], (0,))
    if not re.search(r"^backed up \d+ project\(s\) to .*: [\d,]+ runs, [\d,]+ tasks", done.stdout, re.MULTILINE):
        said.append(f"storehouse backup did not print its report: {done.stdout!r}")
    return said


COPIERS: dict[str, Copier] = {
    "cp -a": copy_with_cp,
    "tar": copy_with_tar,
    "storehouse backup": copy_with_storehouse,
}


# -- the harness ---------------------------------------------------------------------------------------
@dataclass
class BackupLoad:
    """What the backup-under-load harness saw."""

    copies: dict[str, int] = field(default_factory=dict)
    acked_checked: int = 0
    written_during_copies: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unopenable: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    complaints: list[str] = field(default_factory=list)
    writer_errors: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        total = sum(self.copies.values())
        methods = ", ".join(f"{count} {name}" for name, count in self.copies.items())
        return (
            f"backup: {total} copies ({methods}) under load, {self.acked_checked:,} acked writes checked, "
            f"{len(self.missing)} missing, {len(self.unopenable)} unopenable, {len(self.problems)} check problems, "
            f"{len(self.complaints)} tool complaints"
        )

    @property
    def clean(self) -> bool:
        """Nothing wrong."""
        return not (self.missing or self.unopenable or self.problems or self.complaints or self.writer_errors)


def verify_copy(
    copy: Path, acked: dict[tuple[str, str], int], deletes_sent: set[tuple[str, str]]
) -> tuple[list[str], list[str]]:
    """Open a copy and return (missing writes, check problems). Raises if it cannot be opened or read.

    Missing: an acknowledged create or patch whose execution is absent (and no delete of it was sent before
    the copy ended), older than acknowledged, or not listed by the index; or an acknowledged delete whose
    execution is in the copy. ``check`` runs after the open has reconciled the copy: a temp file that cp or
    tar copied is swept then, and every file changed after the copied index was taken is re-read, so there
    is nothing left for it to report.
    """
    missing: list[str] = []
    with Storehouse(copy, settings=Settings(data_dir=copy, durable=False)) as store:
        listed: dict[str, set[str]] = {}
        for project in (HTTP_PROJECT, *LIBRARY_PROJECTS):
            listed[project], cursor = set(), None
            while True:
                page = store.list_executions(project, limit=1000, cursor=cursor)
                listed[project] |= {item["id"] for item in page.items}
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        problems = store.check().problems
        for (project, item), version in sorted(acked.items()):
            where = f"{project}/{item}"
            try:
                stored = store.get_execution(project, item)["version"]
            except NotFound:
                if version != DELETED and (project, item) not in deletes_sent:
                    missing.append(f"{where}: version {version} acknowledged, the copy has no such execution")
                elif item in listed[project]:
                    missing.append(f"{where}: not in the copy, but its index lists it")
                continue
            if version == DELETED:
                missing.append(f"{where}: deletion acknowledged, the copy has version {stored}")
            elif stored < version:
                missing.append(f"{where}: version {version} acknowledged, the copy has {stored}")
            elif item not in listed[project]:
                missing.append(f"{where}: in the copy, but its index does not list it")
    return missing, problems


def _open_and_verify(
    copy: str, dest: Path, acked: dict[tuple[str, str], int], deletes_sent: set[tuple[str, str]], seen: BackupLoad
) -> None:
    """Verify one copy into seen. cp and tar copy a live SQLite index and its WAL at different instants, so a
    copy's index may be damaged: opening the copy must rebuild it from the files, with no help from the test."""
    try:
        missing, problems = verify_copy(dest, acked, deletes_sent)
    except (StorehouseError, OSError, sqlite3.Error) as exc:
        seen.unopenable.append(f"{copy}: {type(exc).__name__}: {exc}")
        return
    seen.missing += [f"{copy}: {text}" for text in missing]
    seen.problems += [f"{copy}: {text}" for text in problems]


def backup_under_load(data_dir: Path, work: Path, copiers: dict[str, Copier], rounds: int) -> BackupLoad:
    """Take ``rounds`` copies with each copier while the writers run, and verify each one."""
    seen = BackupLoad(copies=dict.fromkeys(copiers, 0))
    with writers(data_dir) as acks:
        for round_ in range(rounds):
            for name, copier in copiers.items():
                dest = work / f"{re.sub(r'[^a-z]+', '-', name)}-{round_}"
                acked = acks.snapshot()  # every write answered before the copy begins
                before = acks.count
                seen.complaints += [f"{name}: {said}" for said in copier(data_dir, dest)]
                deletes_sent = acks.deletes_sent()  # by the end of the copy: those runs may be gone from it
                seen.written_during_copies.append(acks.count - before)
                seen.copies[name] += 1
                seen.acked_checked += len(acked)
                _open_and_verify(f"{name} round {round_}", dest, acked, deletes_sent, seen)
        seen.writer_errors = list(acks.errors)
    return seen


@pytest.mark.slow
def test_copies_taken_under_load_hold_every_acknowledged_write(
    data_dir: Path, tmp_path: Path, scorecard: Callable[[str], None]
) -> None:
    seen = backup_under_load(data_dir, tmp_path, COPIERS, soak(ROUNDS))
    scorecard(seen.line)
    assert seen.writer_errors == []
    assert seen.unopenable == []
    assert seen.missing == []
    assert seen.problems == []
    assert seen.complaints == []
    assert seen.acked_checked > 100 * sum(seen.copies.values())
    assert sum(seen.written_during_copies) > len(seen.written_during_copies)  # the writers kept going


def test_a_data_directory_whose_index_is_damaged_opens_and_rebuilds_it(data_dir: Path) -> None:
    ids = _fill(data_dir, 300)
    index = data_dir / "index.sqlite3"
    assert not Path(f"{index}-wal").exists()  # the last connection to close folded the WAL into the file
    with closing(sqlite3.connect(index)) as connection:
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        try:
            pages = [page for (page,) in connection.execute("SELECT pageno FROM dbstat WHERE name = 'executions'")]
        except sqlite3.OperationalError:
            pytest.skip("this SQLite has no dbstat table to find the pages of a table by")
    with open(index, "r+b") as damaged:  # the executions table's pages only, as a copy mixing two instants can
        for page in pages:
            damaged.seek((page - 1) * page_size)
            damaged.write(b"\x0d" + b"\xff" * (page_size - 1))  # a leaf claiming 65,535 cells
    with Storehouse(data_dir) as store:  # README: the index "is rebuilt from the files whenever it is ... damaged"
        listed = store.list_executions("demo", limit=1000).items
        assert sorted(item["id"] for item in listed) == sorted(ids)
        assert store.check().problems == []


# -- the harness goes red on a bad backup ----------------------------------------------------------------
def copy_index_only(data_dir: Path, dest: Path) -> list[str]:
    """A planted bug: a "backup" that takes the index but forgets the files."""
    (dest / "projects").mkdir(parents=True)
    with (
        closing(sqlite3.connect(data_dir / "index.sqlite3")) as source,
        closing(sqlite3.connect(dest / "index.sqlite3")) as copy,
    ):
        source.backup(copy)
    return []


class SkipsRecentFiles(FileBackend):
    """A planted bug: a backup that leaves out files modified in the last second (say, "still being written")."""

    def _copy_file(self, source: Path, target: Path) -> int | None:
        try:
            if time.time() - os.stat(source).st_mtime < 1:
                return None
        except FileNotFoundError:
            return None
        return super()._copy_file(source, target)


def copy_skipping_recent_files(data_dir: Path, dest: Path) -> list[str]:
    with Storehouse(settings=Settings(data_dir=data_dir), backend=SkipsRecentFiles(data_dir)) as store:
        store.backup(dest)
    return []


@pytest.mark.parametrize("copier", [copy_index_only, copy_skipping_recent_files], ids=["index-only", "skips-recent"])
def test_the_harness_goes_red_when_a_backup_leaves_out_files(data_dir: Path, tmp_path: Path, copier: Copier) -> None:
    seen = backup_under_load(data_dir, tmp_path, {"planted": copier}, rounds=1)
    assert seen.writer_errors == []
    assert not seen.clean
    assert seen.missing  # writes acknowledged before the copy began are not in it
    assert all("acknowledged" in text for text in seen.missing)


# -- storehouse backup: the command and the library call -------------------------------------------------
def _fill(data_dir: Path, count: int = 3) -> list[str]:
    with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as store:
        return [store.create_execution("demo", name=f"run{n}", status="completed")["id"] for n in range(count)]


def test_backup_prints_its_report_and_the_copy_holds_everything(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _fill(data_dir)
    dest = tmp_path / "backups" / "first"  # parents are created
    assert main(["backup", str(dest), "--data-dir", str(data_dir)]) == 0
    printed = capsys.readouterr().out
    assert re.search(rf"backed up 1 project\(s\) to {re.escape(str(dest))}: 3 runs, 0 tasks, .*[\d,]+ bytes", printed)
    assert not (dest / "locks").exists()
    with Storehouse(dest) as copy:
        assert sorted(item["id"] for item in copy.list_executions("demo").items) == sorted(ids)
        assert copy.check().problems == []
    for item in ids:  # byte for byte, with the same mode and mtime to the nanosecond
        original, copied = (root / "projects" / "demo" / "executions" / f"{item}.json" for root in (data_dir, dest))
        assert copied.read_bytes() == original.read_bytes()
        assert (copied.stat().st_mtime_ns, copied.stat().st_mode) == (
            original.stat().st_mtime_ns,
            original.stat().st_mode,
        )


def test_backup_of_an_empty_data_dir_into_an_empty_directory(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir.mkdir()  # where there is no data directory at all, backup says so (test_cli.py)
    dest = tmp_path / "empty"
    dest.mkdir()
    assert main(["backup", str(dest), "--data-dir", str(data_dir)]) == 0
    assert "backed up 0 project(s)" in capsys.readouterr().out
    with Storehouse(dest) as copy:
        assert copy.list_projects().items == []
        assert copy.check().problems == []


@pytest.mark.parametrize("kind", ["not-empty", "a-file", "inside-the-data-dir"])
def test_backup_refuses_a_destination_that_is_not_new_or_empty(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    _fill(data_dir)
    dest = tmp_path / "dest"
    if kind == "not-empty":
        dest.mkdir()
        (dest / "keep.txt").write_text("mine")
    elif kind == "a-file":
        dest.write_text("mine")
    else:
        dest = data_dir / "backup"
    assert main(["backup", str(dest), "--data-dir", str(data_dir)]) == 1
    message = capsys.readouterr().err
    assert message.startswith(f"error: cannot back up into {dest}: ")
    assert {"not-empty": "not empty", "a-file": "not a directory", "inside-the-data-dir": "inside the data"}[
        kind
    ] in message
    if kind == "not-empty":
        assert os.listdir(dest) == ["keep.txt"]  # nothing was written
        assert (dest / "keep.txt").read_text() == "mine"
    elif kind == "a-file":
        assert dest.read_text() == "mine"
    else:
        assert not dest.exists()


class CountingBackend(FileBackend):
    """Counts the files it reads to index them (reconcile and reindex)."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        self.reread: list[str] = []

    def _read_rows(
        self, project: files_backend._Project, items: Iterable[str]
    ) -> tuple[list[IndexRow], list[tuple[str, int, int, str]]]:
        items = list(items)
        self.reread += items
        return super()._read_rows(project, items)


class WritesDuringBackup(FileBackend):
    """Patches one execution in the data directory right after the index snapshot, as a concurrent writer would:
    optionally leaving it the same size and mtime, as a file system with coarse timestamps might."""

    def __init__(self, data_dir: Path, item: str, same_stat: bool) -> None:
        super().__init__(data_dir)
        self.item, self.same_stat = item, same_stat

    def _snapshot_index(self, copy: Path) -> None:
        super()._snapshot_index(copy)
        path = self.data_dir / "projects" / "demo" / "executions" / f"{self.item}.json"
        before = path.stat()
        with Storehouse(self.data_dir) as other:
            other.patch_execution("demo", self.item, {"name": "run9" if self.same_stat else "renamed"})
        if self.same_stat:
            assert path.stat().st_size == before.st_size
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_the_copy_rereads_only_the_files_changed_after_the_index_snapshot(data_dir: Path, tmp_path: Path) -> None:
    ids = _fill(data_dir, 20)
    old = time.time_ns() - 10 * files_backend.BACKUP_RECENT_NS  # files last written well before the backup
    with Storehouse(data_dir) as store:
        for item in ids:
            os.utime(data_dir / "projects" / "demo" / "executions" / f"{item}.json", ns=(old, old))
        store.reindex()
    writer = WritesDuringBackup(data_dir, ids[0], same_stat=False)
    with Storehouse(settings=Settings(data_dir=data_dir), backend=writer) as store:
        store.backup(tmp_path / "copy")
    backend = CountingBackend(tmp_path / "copy")
    with Storehouse(settings=Settings(data_dir=tmp_path / "copy"), backend=backend) as copy:
        assert [item["name"] for item in copy.list_executions("demo").items if item["id"] == ids[0]] == ["renamed"]
        assert backend.reread == [ids[0]]  # one file changed after the snapshot; the other 19 cost a stat each
        assert copy.check().problems == []


def test_a_change_after_the_snapshot_with_the_same_size_and_mtime_is_reread(data_dir: Path, tmp_path: Path) -> None:
    """Files changed within 2 s of the snapshot are re-read by the copy, even when size and mtime did not move
    (a file system whose timestamps are coarser than the time between two writes of one document)."""
    ids = _fill(data_dir, 5)
    writer = WritesDuringBackup(data_dir, ids[0], same_stat=True)
    with Storehouse(settings=Settings(data_dir=data_dir), backend=writer) as store:
        store.backup(tmp_path / "copy")
    with Storehouse(tmp_path / "copy") as copy:
        assert [item["name"] for item in copy.list_executions("demo").items if item["id"] == ids[0]] == ["run9"]
        assert copy.check().problems == []


def test_without_dropping_recent_rows_a_same_size_same_mtime_change_goes_unseen(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug the row-dropping exists to prevent, planted: the copy's index keeps the old version."""
    ids = _fill(data_dir, 5)
    monkeypatch.setattr(files_backend, "BACKUP_RECENT_NS", -(10**18))  # "recent" lies in the future: none dropped
    writer = WritesDuringBackup(data_dir, ids[0], same_stat=True)
    with Storehouse(settings=Settings(data_dir=data_dir), backend=writer) as store:
        store.backup(tmp_path / "copy")
    with Storehouse(tmp_path / "copy") as copy:
        assert copy.get_execution("demo", ids[0])["version"] == 2
        assert [item["name"] for item in copy.list_executions("demo").items if item["id"] == ids[0]] == ["run0"]
        assert any("older copy" in problem for problem in copy.check().problems)


def test_backup_copies_execution_files_only_and_follows_no_symlink(data_dir: Path, tmp_path: Path) -> None:
    ids = _fill(data_dir, 2)
    executions = data_dir / "projects" / "demo" / "executions"
    (executions / "damaged.json").write_bytes(b"{not json")  # kept: check names it in the copy as in the original
    (executions / ".x.json.1.ab.tmp").write_bytes(b"{half")  # a writer's temp file: never copied
    (executions / "linked.json").symlink_to(executions / f"{ids[0]}.json")
    (executions / "sub.json").mkdir()
    outside = tmp_path / "outside" / "executions"
    outside.mkdir(parents=True)
    (outside / "secret.json").write_text("{}")
    (data_dir / "projects" / "escape").symlink_to(outside.parent)
    with Storehouse(data_dir) as store:
        report = store.backup(tmp_path / "copy")
    copied = tmp_path / "copy" / "projects"
    assert (report.projects, report.files) == (1, 3)
    assert sorted(os.listdir(copied)) == ["demo"]
    assert sorted(os.listdir(copied / "demo" / "executions")) == sorted([*(f"{i}.json" for i in ids), "damaged.json"])
    assert not any(is_temp_name(name) for name in os.listdir(copied / "demo" / "executions"))
    with Storehouse(tmp_path / "copy") as copy:
        assert [problem.split(":")[0] for problem in copy.check().problems] == ["demo/executions/damaged.json"]


class FailingDisk(FileIO):
    """Fault injection through the FileIO seam: after the first file of the copy, the disk fills up (ENOSPC on
    write) or fails (EIO on creating a file)."""

    def __init__(self, fault: str) -> None:
        super().__init__(durable=False)
        self.fault = fault
        self.calls = 0

    def open_new(self, path: str, dir_fd: int | None = None) -> int:
        self.calls += self.fault == "eio"
        if self.calls > 1:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return super().open_new(path, dir_fd)

    def write(self, fd: int, data: memoryview) -> int:
        self.calls += self.fault == "enospc"
        if self.calls > 1:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(fd, data)


@pytest.mark.parametrize(("fault", "error"), [("enospc", StorageFull), ("eio", StorageError)])
def test_a_failing_disk_fails_the_backup_and_leaves_the_data_alone(
    data_dir: Path, tmp_path: Path, fault: str, error: type[StorageError]
) -> None:
    ids = _fill(data_dir)
    before = {path.name: path.read_bytes() for path in (data_dir / "projects" / "demo" / "executions").iterdir()}
    backend = FileBackend(data_dir, FailingDisk(fault))
    with Storehouse(settings=Settings(data_dir=data_dir), backend=backend) as store, pytest.raises(error) as failed:
        store.backup(tmp_path / "copy")
    assert type(failed.value) is error
    assert f"the backup in {tmp_path / 'copy'} is incomplete" in failed.value.message
    after = {path.name: path.read_bytes() for path in (data_dir / "projects" / "demo" / "executions").iterdir()}
    assert after == before
    with Storehouse(data_dir) as store:
        assert {store.get_execution("demo", item)["version"] for item in ids} == {1}


class DeletesDuringBackup(FileBackend):
    """Deletes one execution between the backup's listing and its copy, as a concurrent writer might."""

    def __init__(self, data_dir: Path, item: str) -> None:
        super().__init__(data_dir)
        self.item = item

    def _copy_file(self, source: Path, target: Path) -> int | None:
        if source.name == f"{self.item}.json":
            source.unlink()
        return super()._copy_file(source, target)


def test_a_file_deleted_while_the_backup_runs_is_left_out(data_dir: Path, tmp_path: Path) -> None:
    ids = _fill(data_dir, 3)
    with Storehouse(settings=Settings(data_dir=data_dir), backend=DeletesDuringBackup(data_dir, ids[1])) as store:
        report = store.backup(tmp_path / "copy")
    assert report.files == 2
    with Storehouse(tmp_path / "copy") as copy:
        assert sorted(item["id"] for item in copy.list_executions("demo").items) == sorted([ids[0], ids[2]])
        assert copy.check().problems == []


async def test_async_backup_reports_what_it_copied(data_dir: Path, tmp_path: Path) -> None:
    _fill(data_dir, 4)
    async with AsyncStorehouse(data_dir) as store:
        report = await store.backup(tmp_path / "copy")
    assert (report.projects, report.files) == (1, 4)
    assert report.bytes == sum(
        len(path.read_bytes()) for path in (tmp_path / "copy" / "projects" / "demo" / "executions").iterdir()
    )
    assert report.seconds > 0
    progress: list[tuple[int, int]] = []
    with Storehouse(data_dir) as sync_store:
        sync_store.backup(tmp_path / "again", lambda done, total: progress.append((done, total)))
    assert progress[-1] == (4, 4)
