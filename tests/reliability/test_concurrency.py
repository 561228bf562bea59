"""Several processes on one project: a real server and two library writers, with conditional updates."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from storehouse import Storehouse
from tests.conftest import Server

WRITES = 150
INCREMENTS = 60


def _http_increment(client: httpx.Client) -> None:
    while True:
        current = client.get("/api/projects/shared/executions/counter").json()["execution"]
        changes = {"metadata": {"count": current["metadata"]["count"] + 1}}
        answer = client.patch(
            "/api/projects/shared/executions/counter", json=changes, headers={"If-Match": f'"{current["version"]}"'}
        )
        if answer.status_code == 200:
            return
        assert answer.status_code == 412, answer.text


def test_server_and_two_library_processes_lose_nothing(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        store.put_execution("shared", "counter", {"status": "running", "metadata": {"count": 0}})
    server = Server(data_dir)
    try:
        writers = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.reliability.workers",
                    "mixed",
                    str(data_dir),
                    name,
                    str(WRITES),
                    str(INCREMENTS),
                ],
                stdout=subprocess.PIPE,
            )
            for name in ("a", "b")
        ]
        with httpx.Client(base_url=server.url) as client, ThreadPoolExecutor(4) as pool:
            created = list(
                pool.map(
                    lambda n: client.post("/api/projects/shared/executions", json={"id": f"h-{n}", "tags": ["h"]}),
                    range(WRITES),
                )
            )
            assert all(answer.status_code == 201 for answer in created)
            list(pool.map(lambda _: _http_increment(client), range(INCREMENTS)))
        for writer in writers:
            output, _ = writer.communicate(timeout=300)
            assert writer.returncode == 0
            assert output.startswith(b"done")
        with httpx.Client(base_url=server.url) as client:
            listed = client.get("/api/projects/shared/executions", params={"limit": 1}).json()
            counter = client.get("/api/projects/shared/executions/counter").json()["execution"]
            stats = client.get("/api/projects/shared/executions/stats").json()
    finally:
        server.stop()
    files = {path.stem for path in (data_dir / "projects" / "shared" / "executions").glob("*.json")}
    assert len(files) == 3 * WRITES + 1
    assert listed["total"] == len(files)
    assert counter["metadata"]["count"] == 3 * INCREMENTS  # no conditional update was lost
    assert stats["completed"] == 2 * WRITES
    with Storehouse(data_dir) as store:
        assert store.check().problems == []
        page = store.list_executions("shared", limit=1000)
        assert {item["id"] for item in page.items} == files


def test_crossing_writers_in_two_processes_never_fail(data_dir: Path) -> None:
    # classic POSIX locks made the kernel report a false EDEADLK here (threads of two processes locking
    # the same documents in crossing orders); OFD locks have no per-process deadlock detection
    with Storehouse(data_dir) as store:
        for k in range(8):
            store.put_execution("crossing", f"doc-{k}", {"status": "running"})
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.reliability.workers", "crossing", str(data_dir), name, "25"],
            stdout=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    outputs = [writer.communicate(timeout=300)[0].decode() for writer in writers]
    assert outputs == ["errors=0 []\n", "errors=0 []\n"]
    with Storehouse(data_dir) as store:
        versions = [store.get_execution("crossing", f"doc-{k}")["version"] for k in range(8)]
    assert versions == [1 + 2 * 8 * 25] * 8  # every patch of both processes landed


def test_a_first_open_is_not_starved_by_a_busy_writer_process(data_dir: Path) -> None:
    Storehouse(data_dir).close()
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.workers", "busy", str(data_dir), "120"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline() == b"writing\n"
        with Storehouse(data_dir) as store:  # its first open takes the project exclusively
            total = store.list_executions("busy", limit=1).total
        assert writer.poll() is None  # the open got its turn while the writers were still writing
        assert total > 0
    finally:
        writer.communicate(timeout=60)  # closes stdin (the writer stops) and stdout
