"""Attacks of issue #13 on sizes and depths, replayed against a real ``storehouse serve`` and the real CLI.

- item 4: runs whose ``error`` is megabytes long made every list page, event and change-log row carry it (50
  such runs: a 750 MiB page; past 1e9 bytes SQLite's DataError was taken for damage and the index rebuilt);
- item 9: a run nested ~250 levels through the library, or 300 through ``storehouse import``, made its GET and
  every export of its project fail, and the import stop with a traceback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from storehouse import Storehouse
from storehouse.errors import InvalidBody
from tests.conftest import Server

MIB = 1 << 20


def nest(levels: int) -> object:
    value: object = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def ready_id(client: httpx.Client, project: str) -> str:
    """The position a new event stream starts at (its epoch changes when the index is rebuilt)."""
    with client.stream("GET", f"/api/projects/{project}/events") as stream:
        for line in stream.iter_lines():
            if line.startswith("id:"):
                return line[3:].strip()
    raise AssertionError("the stream sent no id")


@pytest.mark.attack("megabyte errors in list pages and events")
def test_runs_with_megabyte_errors_keep_pages_and_events_small(data_dir: Path) -> None:
    server = Server(data_dir)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            before = ready_id(client, "p")
            for n in range(6):
                body = {"id": f"r{n}", "status": "failed", "error": "E" * (4 * MIB), "tags": ["t" * 4000] * 100}
                assert client.post("/api/projects/p/executions", json=body).status_code == 201
            page = client.get("/api/projects/p/executions", params={"limit": 1000})
            assert page.status_code == 200
            assert len(page.content) < 6 * 25_000, len(page.content)  # was 6 x 4.4 MB
            assert all(item["truncated"] == ["error", "tags"] for item in page.json()["executions"])
            patched = client.patch("/api/projects/p/executions/r0", json={"name": "seen"})
            assert patched.status_code == 200
            with client.stream("GET", "/api/projects/p/events", params={"lastEventId": before}) as stream:
                sizes = []
                for line in stream.iter_lines():
                    if line.startswith("data:"):
                        sizes.append(len(line))
                    if len(sizes) == 7:
                        break
            assert len(sizes) == 7
            assert max(sizes) < 25_000, sizes  # every create and the 15-byte patch: small events
            whole = client.get("/api/projects/p/executions/r0").json()["execution"]
            assert len(whole["error"]) == 4 * MIB  # the document keeps everything
            assert ready_id(client, "p").split("-")[0] == before.split("-")[0]  # the index was never rebuilt
    finally:
        server.stop()


@pytest.mark.attack("deep runs through the library and import")
def test_deep_runs_cannot_enter_by_the_library_or_import_and_exports_stay_whole(data_dir: Path, tmp_path: Path) -> None:
    with Storehouse(data_dir) as store:
        store.create_execution("p", id="fine", input=nest(60))
        for levels in (65, 250):
            with pytest.raises(InvalidBody, match="nested more than 64 levels"):
                store.create_execution("p", id=f"deep{levels}", input=nest(levels))
    lines = tmp_path / "deep.jsonl"
    deep = {"id": "deep300", "status": "running", "version": 1, "input": nest(299)}
    good = {"id": "after", "status": "running", "version": 1}
    lines.write_text(
        json.dumps({"kind": "execution", "project": "p", "document": deep})
        + "\n"
        + json.dumps({"kind": "execution", "project": "p", "document": good})
        + "\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "storehouse", "import", "--data-dir", str(data_dir), str(lines)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert "line 1: rejected" in done.stdout + done.stderr
    assert "1 created" in done.stdout + done.stderr

    server = Server(data_dir)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get("/api/projects/p/executions/fine").status_code == 200
            assert client.get("/api/projects/p/executions/deep250").status_code == 404
            exported = client.get("/api/projects/p/export")
            assert exported.status_code == 200
            ids = {orjson.loads(line)["document"].get("id") for line in exported.content.splitlines() if line}
            assert {"fine", "after"} <= ids
            assert "deep300" not in ids
    finally:
        server.stop()
