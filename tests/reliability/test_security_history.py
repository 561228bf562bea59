"""Attacks on the history and settings code through symlinks planted in the data directory (issue #13, item 1).

Each test plants an outside folder of canaries (a history log ``T.jsonl`` whose entries say ``MARKER``, a file
``x.jsonl`` that is not a history log, a ``settings.json``) and links to it from the data directory: a project
whose ``history`` is a symlink (``histlink``), a project directory that is a symlink (``projlink``), a project
whose ``settings.json`` is a symlink (``setlink``). Then it replays the operations of the issue against a real
``storehouse serve`` (or the CLI, or the library) and asserts that nothing outside changed or appeared and no
outside content was served. Before the fix every one of them read, rewrote, truncated or unlinked the canaries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from storehouse import Storehouse
from storehouse.backends import FileBackend
from storehouse.fsio import FileIO
from storehouse.kinds import EXECUTION
from storehouse.models import JSONObject, format_timestamp, now_timestamp, parse_timestamp
from storehouse.tasks import TASK
from tests.conftest import Server

MARKER = "OUTSIDE-CANARY-7f3a"
NOT_A_LOG = f"{MARKER}: a file of someone else's, not a history log\n".encode()
OUTSIDE_SETTINGS = orjson.dumps({"historyTtlDays": 3, "historyMaxEntriesPerTask": 2, "note": MARKER})
TIMEOUT = httpx.Timeout(10.0)
Snapshot = dict[str, tuple[str, int, bytes]]


def _entry(entry_id: int, days_ago: int) -> JSONObject:
    created = parse_timestamp(now_timestamp()) - timedelta(days=days_ago)
    return {
        "id": entry_id,
        "taskId": "T",
        "type": "log",
        "executionId": None,
        "workspaceId": None,
        "sessionId": None,
        "role": None,
        "content": f"{MARKER} entry {entry_id}",
        "metadata": None,
        "createdAt": format_timestamp(created),
        "expiresAt": format_timestamp(created + timedelta(days=20)),
    }


def canaries(folder: Path) -> None:
    """A history directory's worth of canaries in folder/history, and a settings.json beside it."""
    (folder / "history").mkdir(parents=True)
    # an expired entry, then fresh ones: a clean-up or a higher cap would rewrite this log
    log = [_entry(1, 400), *(_entry(n, 0) for n in range(2, 6))]
    (folder / "history" / "T.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in log))
    (folder / "history" / "x.jsonl").write_bytes(NOT_A_LOG)
    (folder / "settings.json").write_bytes(OUTSIDE_SETTINGS)


def plant(root: Path) -> Path:
    """root/data with projects demo (real), histlink, projlink and setlink; canaries in root/outside."""
    data = root / "data"
    outside = root / "outside"
    canaries(outside)
    with Storehouse(data) as store:
        for project in ("demo", "histlink", "setlink"):
            store.create_task(project, {"id": "T", "title": "a task"})
            store.add_history(project, "T", {"type": "log", "content": "inside"})
    shutil.rmtree(data / "projects" / "histlink" / "history")
    (data / "projects" / "histlink" / "history").symlink_to(outside / "history")
    (data / "projects" / "projlink").symlink_to(outside)
    (data / "projects" / "setlink" / "settings.json").symlink_to(outside / "settings.json")
    return data


def snapshot(top: Path, skip: Path) -> Snapshot:
    """Every entry under top but skip (not following symlinks): its kind, mtime and content."""
    seen: Snapshot = {}
    for directory, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if Path(directory, d) != skip]
        for name in dirs + files:
            path = Path(directory, name)
            info = path.lstat()
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else "file"
            content = os.readlink(path).encode() if kind == "link" else path.read_bytes() if kind == "file" else b""
            seen[str(path)] = (kind, info.st_mtime_ns, content)
    return seen


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    changed = [f"changed: {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    changed += [f"removed: {p}" for p in sorted(before.keys() - after.keys())]
    return changed + [f"new: {p}" for p in sorted(after.keys() - before.keys())]


def replay(server: Server, requests: list[tuple[str, str, object]]) -> list[str]:
    """Send each (method, path, body); return what went wrong: a 5xx, a 2xx through a symlinked directory
    (projlink, and histlink but for its own settings, must be refused), or outside content in an answer."""
    wrong: list[str] = []
    with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
        for method, path, body in requests:
            answer = client.request(method, path, json=body) if body is not None else client.request(method, path)
            where = f"{method} {path}: {answer.status_code}"
            if answer.status_code >= 500:
                wrong.append(f"{where} (a server error)")
            if MARKER in answer.text:
                wrong.append(f"{where} served outside content: {answer.text[:200]}")
            through = "/projlink/" in path or ("/histlink/" in path and not path.endswith("/settings"))
            if through and answer.is_success:
                wrong.append(f"{where} (went through the symlink)")
    return wrong


def attack(root: Path, requests: list[tuple[str, str, object]]) -> tuple[list[str], list[str]]:
    data = plant(root)
    before = snapshot(root, skip=data)
    server = Server(data)
    try:
        wrong = replay(server, requests)
    finally:
        server.stop()
    return wrong, differences(before, snapshot(root, skip=data))


def _reads(project: str) -> list[tuple[str, str, object]]:
    base = f"/api/projects/{project}"
    return [
        ("GET", f"{base}/tasks/T/history", None),
        ("GET", f"{base}/tasks/T/history/count", None),
        ("GET", f"{base}/tasks/T/history/oldest", None),
        ("GET", f"{base}/history", None),
        ("GET", f"{base}/history/export", None),
        ("GET", f"{base}/export", None),
        ("GET", f"{base}/tasks/T/context", None),
        ("GET", f"{base}/settings", None),
    ]


@pytest.mark.attack("history reads through a symlinked history or project directory")
@pytest.mark.parametrize("project", ["histlink", "projlink"])
def test_history_reads_serve_nothing_from_outside(tmp_path: Path, project: str) -> None:
    assert attack(tmp_path, _reads(project)) == ([], [])


@pytest.mark.attack("history cleanup through a symlinked history or project directory")
@pytest.mark.parametrize("project", ["histlink", "projlink"])
def test_cleanup_rewrites_nothing_outside(tmp_path: Path, project: str) -> None:
    assert attack(tmp_path, [("POST", f"/api/projects/{project}/history/cleanup", {})]) == ([], [])


@pytest.mark.attack("settings raised through a symlinked history or project directory")
@pytest.mark.parametrize("project", ["histlink", "projlink"])
def test_raising_the_settings_rewrites_nothing_outside(tmp_path: Path, project: str) -> None:
    body = {"historyTtlDays": 400, "historyMaxEntriesPerTask": 5000}
    assert attack(tmp_path, [("PUT", f"/api/projects/{project}/settings", body)]) == ([], [])


@pytest.mark.attack("history delete through a symlinked history or project directory")
@pytest.mark.parametrize("project", ["histlink", "projlink"])
def test_deleting_a_history_replaces_nothing_outside(tmp_path: Path, project: str) -> None:
    assert attack(tmp_path, [("DELETE", f"/api/projects/{project}/tasks/T/history", None)]) == ([], [])


@pytest.mark.attack("task delete unlinking its history through a symlinked history directory")
def test_deleting_a_task_unlinks_nothing_outside(tmp_path: Path) -> None:
    data = plant(tmp_path)
    before = snapshot(tmp_path, skip=data)
    server = Server(data)
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            deleted = client.delete("/api/projects/histlink/tasks/T")  # the task is ours: it goes
            refused = client.delete("/api/projects/projlink/tasks/T")
    finally:
        server.stop()
    assert (deleted.status_code, refused.status_code in (400, 404)) == (204, True)
    assert differences(before, snapshot(tmp_path, skip=data)) == []


@pytest.mark.attack("history append through a symlinked project creates a directory outside")
def test_an_append_through_a_symlinked_project_creates_nothing_outside(tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    data = plant(tmp_path)
    (data / "projects" / "barelink").symlink_to(bare)  # like projlink, but with no history/ inside yet
    before = snapshot(tmp_path, skip=data)
    server = Server(data)
    try:
        wrong = replay(
            server,
            [
                ("POST", "/api/projects/barelink/tasks/T/history", {"type": "log", "content": "x"}),
                ("POST", "/api/projects/projlink/tasks/T/history", {"type": "log", "content": "x"}),
                ("POST", "/api/projects/histlink/tasks/T/history", {"type": "log", "content": "x"}),
                ("PUT", "/api/projects/barelink/settings", {"historyTtlDays": 5}),
            ],
        )
    finally:
        server.stop()
    assert wrong == [], wrong
    assert differences(before, snapshot(tmp_path, skip=data)) == []  # before the fix: bare/history was new


@pytest.mark.attack("settings write through a symlinked settings.json")
def test_a_symlinked_settings_file_is_neither_read_nor_written_through(tmp_path: Path) -> None:
    data = plant(tmp_path)
    before = snapshot(tmp_path, skip=data)
    server = Server(data)
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            shown = client.get("/api/projects/setlink/settings").json()
            changed = client.put("/api/projects/setlink/settings", json={"historyTtlDays": 30})
    finally:
        server.stop()
    assert shown == {
        "historyTtlDays": 20,
        "historyMaxEntriesPerTask": 100,
        "runTtlDays": None,
        "maxRuns": None,
    }  # the defaults, not the outside file's
    assert changed.status_code == 200
    assert differences(before, snapshot(tmp_path, skip=data)) == []
    settings = data / "projects" / "setlink" / "settings.json"
    assert not settings.is_symlink()  # the link itself was replaced by the project's own settings
    assert orjson.loads(settings.read_bytes())["historyTtlDays"] == 30


@pytest.mark.attack("storehouse prune through a symlinked history or project directory")
def test_the_prune_command_rewrites_nothing_outside(tmp_path: Path) -> None:
    data = plant(tmp_path)
    before = snapshot(tmp_path, skip=data)
    ran = [
        subprocess.run(
            [sys.executable, "-m", "storehouse", "prune", *project, "--data-dir", str(data)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        for project in ([], ["histlink"], ["projlink"])
    ]
    assert [r.returncode for r in ran] == [0, 1, 1], [r.stderr for r in ran]
    assert all("through a symlink" in r.stderr for r in ran[1:]), [r.stderr for r in ran]
    assert differences(before, snapshot(tmp_path, skip=data)) == []


@pytest.mark.attack("settings lines of an import through a symlinked project or settings.json")
def test_an_import_of_settings_writes_nothing_outside(tmp_path: Path) -> None:
    data = plant(tmp_path)
    before = snapshot(tmp_path, skip=data)
    lines = [
        orjson.dumps({"kind": "settings", "project": project, "document": {"historyTtlDays": 9}})
        for project in ("projlink", "histlink", "setlink")
    ]
    with Storehouse(data) as store:
        report = store.import_lines(lines)
    outcomes = [(o.project, o.result) for o in report.outcomes]
    assert outcomes == [("projlink", "rejected"), ("histlink", "rejected"), ("setlink", "created")], outcomes
    assert differences(before, snapshot(tmp_path, skip=data)) == []


@pytest.mark.attack("a history directory swapped for a symlink between operations")
def test_a_history_directory_swapped_for_a_symlink_while_serving_is_not_followed(tmp_path: Path) -> None:
    data = plant(tmp_path)
    server = Server(data)
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            assert client.get("/api/projects/demo/tasks/T/history").json()["total"] == 1  # read: now open
        shutil.rmtree(data / "projects" / "demo" / "history")
        (data / "projects" / "demo" / "history").symlink_to(tmp_path / "outside" / "history")
        before = snapshot(tmp_path, skip=data)
        wrong = replay(
            server,
            [
                *_reads("demo"),
                ("POST", "/api/projects/demo/history/cleanup", {}),
                ("PUT", "/api/projects/demo/settings", {"historyTtlDays": 400, "historyMaxEntriesPerTask": 5000}),
                ("DELETE", "/api/projects/demo/tasks/T/history", None),
                ("POST", "/api/projects/demo/tasks/T/history", {"type": "log"}),
                ("DELETE", "/api/projects/demo/tasks/T", None),
            ],
        )
    finally:
        server.stop()
    assert [w for w in wrong if "went through" not in w] == []  # demo is not histlink: a 2xx alone is no harm
    assert differences(before, snapshot(tmp_path, skip=data)) == []


class SwappingIO(FileIO):
    """Swaps projects/demo/history for a symlink to the outside just before the first temp file is created:
    after every check an operation makes, in the window a path-based guard leaves open."""

    def __init__(self, data: Path, outside: Path) -> None:
        super().__init__(durable=False)
        self.history, self.outside, self.swapped = data / "projects" / "demo" / "history", outside, False

    def open_new(self, path: str, dir_fd: int | None = None) -> int:
        if not self.swapped and ".jsonl." in path:
            self.swapped = True
            os.rename(self.history, self.history.with_name("history.moved"))  # still inside the data directory
            self.history.symlink_to(self.outside)
        return super().open_new(path) if dir_fd is None else super().open_new(path, dir_fd)


@pytest.mark.attack("history directory swapped for a symlink in the middle of a clean-up")
@pytest.mark.parametrize("operation", ["prune", "delete", "raise settings"])
def test_a_swap_in_the_middle_of_an_operation_writes_nothing_outside(tmp_path: Path, operation: str) -> None:
    data = plant(tmp_path)
    with Storehouse(data) as store:
        store.set_history_settings("demo", {"historyMaxEntriesPerTask": 2})
        store.add_history("demo", "T", [{"type": "log"}, {"type": "log"}])  # one past the cap: prune rewrites
    before = snapshot(tmp_path, skip=data)
    io = SwappingIO(data, tmp_path / "outside" / "history")
    with Storehouse(backend=FileBackend(data, io, kinds=(EXECUTION, TASK))) as store:
        if operation == "prune":
            store.prune_history("demo")
        elif operation == "delete":
            store.delete_history("demo", "T")
        else:
            store.set_history_settings("demo", {"historyMaxEntriesPerTask": 50})
    assert io.swapped
    assert differences(before, snapshot(tmp_path, skip=data)) == []
    moved = (data / "projects" / "demo" / "history.moved" / "T.jsonl").read_bytes()
    assert MARKER not in moved.decode()  # the rewrite landed in the directory that was opened


@pytest.mark.attack("clean-up, raised settings and delete truncating a file that is not a history log")
def test_a_file_that_is_not_a_history_log_is_never_rewritten(tmp_path: Path) -> None:
    data = plant(tmp_path)
    history = data / "projects" / "demo" / "history"
    (history / "x.jsonl").write_bytes(NOT_A_LOG)
    mixed = (history / "T.jsonl").read_bytes() + b"not an entry\n" + orjson.dumps(_entry(9, 400)) + b"\n"
    (history / "T.jsonl").write_bytes(mixed)
    server = Server(data)
    try:
        with httpx.Client(base_url=server.url, timeout=TIMEOUT) as client:
            cleanup = client.post("/api/projects/demo/history/cleanup", json={})
            raised = client.put("/api/projects/demo/settings", json={"historyTtlDays": 400})
            deleted = [client.delete(f"/api/projects/demo/tasks/{task}/history") for task in ("x", "T")]
            gone = client.delete("/api/projects/demo/tasks/T")
    finally:
        server.stop()
    assert (cleanup.json(), raised.status_code) == ({"deleted": 0}, 200)
    assert [answer.json() for answer in deleted] == [{"deleted": 0}, {"deleted": 1}]  # what a read showed
    assert gone.status_code == 204
    # each is kept, byte for byte, under a name no history operation touches again (check names it)
    kept = {path.name.split(".kept-")[0]: path.read_bytes() for path in history.glob("*.kept-*")}
    assert kept == {"x.jsonl": NOT_A_LOG, "T.jsonl": mixed}


@pytest.mark.attack("storehouse check not naming a symlinked history, settings.json or project")
def test_check_names_every_symlink_it_meets(tmp_path: Path) -> None:
    data = plant(tmp_path)
    (data / "projects" / "demo" / "history" / "L.jsonl").symlink_to(tmp_path / "outside" / "history" / "T.jsonl")
    (data / "projects" / "demo" / "tasks" / "L.json").symlink_to(tmp_path / "outside" / "settings.json")
    inside = data / "projects" / "inlink"
    inside.symlink_to(data / "projects" / "demo")  # a symlink that stays inside the data directory is named too
    with Storehouse(data) as store:
        problems = store.check().problems
    for where in (
        "histlink/history",
        "setlink/settings.json",
        "projlink",
        "inlink",
        "demo/history/L.jsonl",
        "demo/tasks/L.json",
    ):
        assert any(p.startswith(f"{where}: ") and "symlink" in p for p in problems), (where, problems)
    assert not any(MARKER in p for p in problems)
