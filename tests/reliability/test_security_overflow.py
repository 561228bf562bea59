"""Overflow attacks (issue #13 items 7, 8 and 10), each replayed against a real ``storehouse serve``.

- Token sums: runs carrying 2**63 - 1 tokens made ``stats``, ``metrics`` and ``stats/daily`` answer 500 for good.
  Now a count above 2**53 - 1 is refused (a 400 naming the field; a file holding one is skipped and named by
  ``check``), and sums are exact, saturating at 2**63 - 1: never a 500.
- Versions: an import at 2**63 - 1 and one PATCH wrote a file at 2**63 that nothing could read again. Now the
  import refuses versions above 2**53 - 1 (the line is reported, the rest goes on), a write past it is a 409
  that keeps the document, and ``If-Match`` takes every version up to it.
- Anchors: ``?offset=600`` then ``?q=alpha&offset=600`` answered the second from the first listing's anchors.

The numbers are written out here rather than imported from storehouse, so a changed constant cannot bend the
expectation.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import Server

MAX_EXACT = 9007199254740991  # 2**53 - 1: the highest token count and version (README "An execution")
INT64_MAX = 9223372036854775807
BASE = "/api/projects/demo/executions"
STAMP = "2026-01-05T10:00:05.000Z"


def hand_written(data_dir: Path, count: int, document: dict[str, object], prefix: str = "big") -> None:
    """Execution files copied in by hand (an older storehouse, another tool): quicker than count writes."""
    folder = data_dir / "projects" / "demo" / "executions"
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(count):
        (folder / f"{prefix}-{n:05d}.json").write_bytes(orjson.dumps(document))


def import_lines(data_dir: Path, tmp_path: Path, records: list[dict[str, object]]) -> str:
    """Run ``storehouse import`` (another process, beside the server) and return what it printed."""
    lines = tmp_path / "import.jsonl"
    lines.write_bytes(b"".join(orjson.dumps(record) + b"\n" for record in records))
    done = subprocess.run(
        [sys.executable, "-m", "storehouse", "import", "--data-dir", str(data_dir), str(lines)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout + done.stderr


@pytest.mark.attack("token sums overflow")
def test_token_counts_of_2_63_cannot_make_the_stats_answer_500(data_dir: Path) -> None:
    hand_written(data_dir, 3, {"status": "completed", "tokenUsage": {"input": INT64_MAX, "output": INT64_MAX}}, "old")
    big = {"input": MAX_EXACT, "output": MAX_EXACT, "total": MAX_EXACT}
    hand_written(data_dir, 2100, {"status": "completed", "startedAt": STAMP, "tokenUsage": big})  # sums past 2**64
    server = Server(data_dir)
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for usage in ({"input": INT64_MAX}, {"output": MAX_EXACT + 1}, {"input": MAX_EXACT, "output": 1}):
                answer = client.post(BASE, json={"status": "completed", "tokenUsage": usage})
                assert answer.status_code == 400, answer.text
                assert answer.json()["error"]["message"].startswith("tokenUsage"), answer.text
            for path in (f"{BASE}/stats", f"{BASE}/stats/daily", "/api/projects/demo/metrics", "/api/projects", BASE):
                assert client.get(path).status_code == 200, path
            stats = client.get(f"{BASE}/stats").json()
            assert (stats["totalExecutions"], stats["totalTokens"], stats["outputTokens"]) == (
                2100,
                INT64_MAX,
                INT64_MAX,
            )
            day = client.get(f"{BASE}/stats/daily", params={"days": 1, "until": STAMP[:10]}).json()["days"][0]
            assert (day["runs"], day["tokens"]) == (2100, INT64_MAX)
            assert client.get("/api/projects/demo/metrics").json()["totalTokens"] == INT64_MAX
            old = client.get(f"{BASE}/old-00000")
            assert old.status_code == 404
            assert "tokenUsage.input" in old.json()["error"]["message"]
    finally:
        server.stop()
    checked = subprocess.run(
        [sys.executable, "-m", "storehouse", "check", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in checked.stderr, checked.stderr
    for n in range(3):
        assert f"old-{n:05d}.json: tokenUsage.input" in checked.stdout + checked.stderr


@pytest.mark.attack("version overflow")
def test_a_version_at_the_maximum_cannot_corrupt_a_document(data_dir: Path, tmp_path: Path) -> None:
    run = {"id": "r", "status": "running", "createdAt": STAMP, "updatedAt": STAMP}
    task = {"id": "t", "title": "top", "createdAt": STAMP, "updatedAt": STAMP}
    server = Server(data_dir)
    try:
        printed = import_lines(
            data_dir,
            tmp_path,
            [
                {"kind": "execution", "project": "demo", "document": {**run, "id": "over", "version": INT64_MAX}},
                {"kind": "task", "project": "demo", "document": {**task, "id": "over", "version": MAX_EXACT + 1}},
                {"kind": "execution", "project": "demo", "document": {**run, "version": MAX_EXACT}},
                {"kind": "task", "project": "demo", "document": {**task, "version": MAX_EXACT}},
            ],
        )
        assert "line 1: rejected" in printed
        assert "line 2: rejected" in printed
        assert "2 created" in printed
        with httpx.Client(base_url=server.url, timeout=30) as client:
            assert client.get(f"{BASE}/over").status_code == 404
            match = {"If-Match": f'"{MAX_EXACT}"'}
            writes = [
                ("PATCH", f"{BASE}/r", {"status": "completed"}),
                ("PUT", f"{BASE}/r", {"status": "completed"}),
                ("POST", "/api/projects/demo/tasks/t/transitions", {"to": "running"}),
                ("PATCH", "/api/projects/demo/tasks/t", {"title": "again"}),
            ]
            for method, path, body in writes:
                answer = client.request(method, path, json=body, headers=match)
                assert answer.status_code == 409, (method, path, answer.text)
                assert f"{MAX_EXACT} is the highest a version can be" in answer.json()["error"]["message"]
            for path in (f"{BASE}/r", "/api/projects/demo/tasks/t"):
                answer = client.get(path)
                assert (answer.status_code, answer.headers["etag"]) == (200, f'"{MAX_EXACT}"'), path
            assert client.get(BASE).json()["executions"][0]["status"] == "running"
            for header, status in ((f'"{MAX_EXACT}"', 204), (f'"{MAX_EXACT + 1}"', 400), (f'"{INT64_MAX}"', 400)):
                # every version the store holds is taken; one past it is a 400 naming If-Match
                answer = client.delete("/api/projects/demo/tasks/t", headers={"If-Match": header})
                assert answer.status_code == status, (header, answer.text)
                if status == 400:
                    assert answer.json()["error"]["message"].startswith("If-Match"), answer.text
    finally:
        server.stop()


@pytest.mark.attack("deep-page anchors ignore q")
def test_a_deep_page_of_a_search_is_the_searchs_own(data_dir: Path) -> None:
    folder = data_dir / "projects" / "demo" / "executions"
    folder.mkdir(parents=True)
    for n in range(1500):  # 1,000 named alpha: a search with pages past the anchors (every 500 rows)
        started = f"2026-01-05T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}.000Z"
        name = "beta" if n % 3 == 0 else "alpha"
        (folder / f"r{n:05d}.json").write_bytes(orjson.dumps({"name": name, "startedAt": started}))
    server = Server(data_dir)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:

            def by_cursor(**search: str) -> list[str]:  # the whole listing by cursor, which uses no anchors
                ids: list[str] = []
                params: dict[str, str | int] = {"limit": 1000, **search}
                while True:
                    page = client.get(BASE, params=params).json()
                    ids += [run["id"] for run in page["executions"]]
                    if page["nextCursor"] is None:
                        return ids
                    params = {"limit": 1000, "cursor": page["nextCursor"], **search}

            listings = {"": by_cursor(), "alpha": by_cursor(q="alpha"), "ALPH": by_cursor(q="ALPH")}
            assert [len(ids) for ids in listings.values()] == [1500, 1000, 1000]
            for offset in (600, 999, 1000, 1400):
                for q, ids in listings.items():  # each listing after another one, so it would find its anchors
                    page = client.get(BASE, params={"offset": offset, "limit": 1, **({"q": q} if q else {})}).json()
                    assert [run["id"] for run in page["executions"]] == ids[offset : offset + 1], (q, offset)
                    assert page["total"] == len(ids)
    finally:
        server.stop()
