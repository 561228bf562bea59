"""The index is derived: whatever happens to it, or to the files behind its back, reopening brings it back in step."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import orjson
import pytest

from storehouse import Storehouse, index
from storehouse.backends import FileBackend
from storehouse.index import SORTS


def at(second: int) -> str:
    return f"2026-01-05T10:00:{second:02d}.000Z"


def fill(store: Storehouse) -> None:
    """Six runs in two projects, with every status, costs, tokens, durations and tags."""
    for n, status in enumerate(["completed", "failed", "running", "pending", "cancelled"]):
        store.create_execution(
            "demo",
            status=status,
            startedAt=at(n),
            costUSD=0.1 * n,
            tokenUsage={"input": n, "output": 2 * n},
            duration=None if status in ("running", "pending") else 100 * n,
            tags=[f"t{n % 2}"],
        )
    store.create_execution("other", status="completed", duration=5)


def snapshot(store: Storehouse, project: str = "demo") -> tuple[Any, ...]:
    """What the index answers: the full list, a filtered list, and the stats."""
    page = store.list_executions(project, limit=1000)
    tagged = store.list_executions(project, tag="t1")
    return page.items, page.total, tagged.items, tagged.total, store.execution_stats(project)


def executions_dir(data_dir: Path, project: str = "demo") -> Path:
    return data_dir / "projects" / project / "executions"


def index_files(data_dir: Path) -> list[Path]:
    return sorted(data_dir.glob("index.sqlite3*"))


def test_deleted_index_is_rebuilt_with_the_same_list_and_stats(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
        before, other = snapshot(store), snapshot(store, "other")
    assert index_files(data_dir)
    for path in index_files(data_dir):
        path.unlink()
    with Storehouse(data_dir) as store:
        assert snapshot(store) == before
        assert snapshot(store, "other") == other
        assert store.check().problems == []


def test_garbage_index_file_is_rebuilt_with_the_same_results(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
        before = snapshot(store)
    (data_dir / "index.sqlite3").write_bytes(b"this is not a database\x00" * 500)
    with Storehouse(data_dir) as store:
        assert snapshot(store) == before
        assert store.check().problems == []


def test_file_copied_in_by_hand_appears_after_reopen(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
        total = store.list_executions("demo").total
    hand_made = {"name": "by hand", "status": "completed", "startedAt": "2026-02-01T00:00:00Z", "costUSD": 2.5}
    (executions_dir(data_dir) / "hand-1.json").write_bytes(orjson.dumps(hand_made))
    with Storehouse(data_dir) as store:
        page = store.list_executions("demo")
        assert page.total == total + 1
        assert page.items[0]["id"] == "hand-1"
        assert page.items[0]["name"] == "by hand"
        assert store.get_execution("demo", "hand-1")["version"] == 1
        assert store.execution_stats("demo")["totalCostUSD"] > 2.5


def test_file_with_a_cost_beyond_the_cap_is_skipped_and_reported_not_fatal(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
    (executions_dir(data_dir) / "costly.json").write_bytes(b'{"status": "completed", "costUSD": 1e10}')
    with Storehouse(data_dir) as store:
        assert store.list_executions("demo").total == 5
        assert store.execution_stats("demo")["totalExecutions"] == 5
        assert any("costly.json: costUSD" in problem for problem in store.check().problems)


def test_project_copied_in_by_hand_appears_after_reopen(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
    executions_dir(data_dir, "copied").mkdir(parents=True)
    (executions_dir(data_dir, "copied") / "a.json").write_bytes(b'{"status": "failed"}')
    with Storehouse(data_dir) as store:
        assert [item["id"] for item in store.list_executions("copied").items] == ["a"]
        assert "copied" in [project.id for project in store.list_projects().items]


def test_file_removed_by_hand_disappears_after_reopen(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
        gone = store.list_executions("demo", status="failed").items[0]["id"]
    (executions_dir(data_dir) / f"{gone}.json").unlink()
    with Storehouse(data_dir) as store:
        assert gone not in [item["id"] for item in store.list_executions("demo").items]
        stats = store.execution_stats("demo")
        assert (stats["totalExecutions"], stats["failed"]) == (4, 0)
        assert store.check().problems == []


def test_file_replaced_by_hand_via_rename_is_seen_after_reopen(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
        changed = store.list_executions("demo", status="running").items[0]["id"]
    path = executions_dir(data_dir) / f"{changed}.json"
    document = orjson.loads(path.read_bytes())
    document.update(status="failed", error="edited by hand", duration=42)
    temp = path.parent / "edit.swp"
    temp.write_bytes(orjson.dumps(document))
    os.rename(temp, path)
    with Storehouse(data_dir) as store:
        summary = store.list_executions("demo", status="failed", limit=1000).items
        assert changed in [item["id"] for item in summary]
        stats = store.execution_stats("demo")
        assert (stats["running"], stats["failed"]) == (0, 2)
        assert store.check().problems == []


def test_file_overwritten_in_place_by_hand_is_seen_after_reopen(data_dir: Path) -> None:
    # `cp backup/x.json data/.../x.json` over an existing file writes it in place: the directory's
    # mtime does not change, only the file's mtime and size do.
    with Storehouse(data_dir) as store:
        fill(store)
        changed = store.list_executions("demo", status="running").items[0]["id"]
    path = executions_dir(data_dir) / f"{changed}.json"
    document = orjson.loads(path.read_bytes())
    document.update(status="failed", error="restored from a backup")
    path.write_bytes(orjson.dumps(document))
    with Storehouse(data_dir) as store:
        assert [item["status"] for item in store.list_executions("demo").items if item["id"] == changed] == ["failed"]
        assert store.execution_stats("demo")["running"] == 0


def test_intent_left_by_a_crash_is_repaired_on_open(data_dir: Path) -> None:
    index = data_dir / "index.sqlite3"
    with Storehouse(data_dir) as store:
        fill(store)
        store.create_execution("demo", id="run-1", status="running", startedAt=at(30), tags=["t1"])
        with closing(sqlite3.connect(index)) as db:
            old_row = db.execute("SELECT * FROM executions WHERE id = 'run-1'").fetchone()
        store.patch_execution("demo", "run-1", {"status": "completed", "duration": 9, "costUSD": 1.0})
        after = snapshot(store)
    # the crash: the file holds version 2, the index still holds version 1 and the update's intent
    with closing(sqlite3.connect(index, isolation_level=None)) as db:
        db.execute("BEGIN")
        db.execute("DELETE FROM executions WHERE id = 'run-1'")
        db.execute(f"INSERT INTO executions VALUES ({','.join('?' * len(old_row))})", old_row)
        db.execute("INSERT INTO intents VALUES (?, 'run-1')", (old_row[0],))
        db.execute("COMMIT")
        assert db.execute("SELECT version, status FROM executions WHERE id = 'run-1'").fetchone() == (1, "running")
    with Storehouse(data_dir) as store:
        assert snapshot(store) == after
        assert store.check().problems == []
    with closing(sqlite3.connect(index)) as db:
        assert db.execute("SELECT count(*) FROM intents").fetchone() == (0,)


def test_check_of_a_consistent_store_reports_no_problems(store: Storehouse) -> None:
    fill(store)
    report = store.check()
    assert report.problems == []
    assert (report.projects, report.files) == (2, 6)


def test_check_reports_a_corrupted_file_by_name(store: Storehouse, data_dir: Path) -> None:
    fill(store)
    damaged = store.list_executions("demo").items[0]["id"]
    (executions_dir(data_dir) / f"{damaged}.json").write_bytes(b'{"status": "compl')
    problems = store.check().problems
    assert len(problems) == 1
    assert problems[0].startswith(f"demo/executions/{damaged}.json: ")


def test_check_reports_an_invalid_document_by_name(store: Storehouse, data_dir: Path) -> None:
    fill(store)
    damaged = store.list_executions("demo").items[0]["id"]
    (executions_dir(data_dir) / f"{damaged}.json").write_bytes(b'{"status": "done"}')
    problems = store.check().problems
    assert len(problems) == 1
    assert problems[0].startswith(f"demo/executions/{damaged}.json: status")


def test_check_reports_a_stale_row(store: Storehouse, data_dir: Path) -> None:
    fill(store)
    stale = store.list_executions("demo").items[0]["id"]
    with closing(sqlite3.connect(data_dir / "index.sqlite3", isolation_level=None)) as db:
        db.execute("UPDATE executions SET summary = ? WHERE id = ?", (orjson.dumps({"id": stale}), stale))
    problems = store.check().problems
    assert len(problems) == 1
    assert problems[0].startswith(f"demo/executions/{stale}.json: the index holds an older copy")


def test_check_reports_a_row_whose_file_is_gone(store: Storehouse, data_dir: Path) -> None:
    fill(store)
    gone = store.list_executions("demo").items[0]["id"]
    (executions_dir(data_dir) / f"{gone}.json").unlink()
    assert store.check().problems == [f"demo/executions/{gone}.json: indexed, but the file is gone"]


def test_invalid_file_is_skipped_by_lists_and_reported_by_check(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
    (executions_dir(data_dir) / "broken.json").write_bytes(b"\x00\xff not json")
    with Storehouse(data_dir) as store:
        assert store.list_executions("demo").total == 5
        assert [p for p in store.check().problems if p.startswith("demo/executions/broken.json: ")]


def test_reindex_rebuilds_and_reports_counts(store: Storehouse, data_dir: Path) -> None:
    fill(store)
    before = snapshot(store)
    (executions_dir(data_dir) / "broken.json").write_bytes(b"{")
    with closing(sqlite3.connect(data_dir / "index.sqlite3", isolation_level=None)) as db:
        db.execute("DELETE FROM executions")  # triggers empty the stats too
    assert store.list_executions("demo").total == 0
    report = store.reindex()
    assert (report.projects, report.indexed, report.invalid) == (2, 6, 1)
    assert snapshot(store) == before
    assert store.reindex("demo").indexed == 5


def test_reindex_reports_progress(store: Storehouse) -> None:
    fill(store)
    calls: list[tuple[int, int]] = []
    store.reindex("demo", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (5, 5)


def test_leftover_temp_files_are_removed_on_open(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
        names = sorted(os.listdir(executions_dir(data_dir)))
    (executions_dir(data_dir) / ".x.json.123.abcd.tmp").write_bytes(b'{"partial": ')
    with Storehouse(data_dir) as store:
        assert store.list_executions("demo").total == 5
        assert sorted(os.listdir(executions_dir(data_dir))) == names
        assert store.check().problems == []


def test_project_directory_removed_by_hand_is_an_empty_project(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
    for path in executions_dir(data_dir).iterdir():
        path.unlink()
    executions_dir(data_dir).rmdir()
    with Storehouse(data_dir) as store:
        assert store.list_executions("demo").total == 0
        assert store.execution_stats("demo")["totalExecutions"] == 0
        assert store.list_executions("other").total == 1


def test_index_follows_changes_of_status_tags_and_costs(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        fill(store)
        first = store.list_executions("demo", status="completed").items[0]["id"]
        store.patch_execution("demo", first, {"status": "failed", "tags": ["t1", "new"], "costUSD": 2.5})
        store.put_execution("demo", "replaced", {"status": "running", "tags": ["t0"]})
        store.put_execution("demo", "replaced", {"status": "cancelled", "tags": []})
        victim = store.list_executions("demo", status="pending").items[0]["id"]
        store.delete_execution("demo", victim)
        assert [i["id"] for i in store.list_executions("demo", tag="new").items] == [first]
        assert "replaced" not in [i["id"] for i in store.list_executions("demo", tag="t0").items]  # lost its tag
        assert store.list_executions("demo", tag="t1").total == 2  # the failed run of fill(), and the patched one
        stats = store.execution_stats("demo")
        assert (stats["completed"], stats["failed"], stats["pending"], stats["cancelled"]) == (0, 2, 0, 2)
        live = snapshot(store)
    for path in index_files(data_dir):
        path.unlink()
    with Storehouse(data_dir) as store:
        assert snapshot(store) == live  # what the triggers kept equals a rebuild from the files


def test_generation_grows_with_every_change_from_any_connection(data_dir: Path) -> None:
    with Storehouse(data_dir) as writer, Storehouse(data_dir) as reader:
        run = writer.create_execution("demo", status="running")
        backend = reader.backend
        assert hasattr(backend, "_index")
        key = backend._index.find_project("demo")
        assert key is not None
        seen = [backend._index.generation(key)]
        writer.patch_execution("demo", run["id"], {"status": "completed"})
        seen.append(backend._index.generation(key))
        writer.delete_execution("demo", run["id"])
        seen.append(backend._index.generation(key))
        writer.create_execution("demo")
        writer.reindex("demo")
        seen.append(backend._index.generation(key))
    assert seen == sorted(set(seen))  # strictly increasing


@pytest.mark.parametrize("sort", list(SORTS))
def test_deep_offsets_from_anchors_match_one_big_page_before_and_after_changes(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    monkeypatch.setattr(index, "ANCHOR_EVERY", 4)  # anchors every 4 rows, so 60 rows exercise many of them
    with Storehouse(data_dir) as store, Storehouse(data_dir) as other:
        for n in range(60):
            store.create_execution(
                "demo",
                status=("completed", "failed")[n % 2],
                startedAt=at(n // 3),
                costUSD=(n % 7) / 10,
                duration=n % 5,
            )

        def check(status: str | None) -> None:
            everything = [i["id"] for i in store.list_executions("demo", status=status, sort=sort, limit=1000).items]
            for offset in (3, 4, 5, 17, 28, len(everything) - 1, len(everything), len(everything) + 9):
                page = store.list_executions("demo", status=status, sort=sort, limit=5, offset=offset)
                assert [i["id"] for i in page.items] == everything[offset : offset + 5], offset
                assert page.total == len(everything)

        for status in (None, "failed"):
            check(status)
            check(status)  # from the anchors found by the first pass
        # changes from another handle (another connection) move rows: the anchors must not be reused
        first = other.list_executions("demo", sort=sort, limit=1).items[0]["id"]
        other.delete_execution("demo", first)
        other.create_execution("demo", status="failed", startedAt=at(30), costUSD=0.35, duration=2)
        victim = other.list_executions("demo", sort=sort, limit=1, offset=20).items[0]["id"]
        other.patch_execution("demo", victim, {"status": "completed", "costUSD": 0.0, "duration": 0})
        for status in (None, "failed", "completed"):
            check(status)


def test_deep_pages_of_a_search_do_not_reuse_the_anchors_of_another_listing(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # issue #13 item 10: the anchors were keyed without q, so ?offset=600 then ?q=alpha&offset=600 (and any other
    # filter added to ListQuery since) started the second page from the first listing's anchors
    monkeypatch.setattr(index, "ANCHOR_EVERY", 4)
    with Storehouse(data_dir) as store:
        for n in range(40):
            store.create_execution("demo", name=("alpha", "beta", "gamma")[n % 3], startedAt=at(n))
        listings: list[dict[str, Any]] = [{}, {"q": "alpha"}, {"q": "ALPH"}, {"q": "beta"}]
        listings.append({"q": "a", "sort": "startedAt"})
        expected = {
            str(query): [i["id"] for i in store.list_executions("demo", limit=1000, **query).items]
            for query in listings
        }
        for offset in (4, 9, 13):
            for query in listings:  # each after the others, so each would find the others' anchors
                page = store.list_executions("demo", limit=2, offset=offset, **query)
                assert [i["id"] for i in page.items] == expected[str(query)][offset : offset + 2], (query, offset)


def test_repeated_pages_see_every_change_and_callers_cannot_spoil_them(data_dir: Path) -> None:
    with Storehouse(data_dir) as store, Storehouse(data_dir) as other:
        first = store.create_execution("demo", status="running", startedAt=at(1))
        assert [i["status"] for i in store.list_executions("demo").items] == ["running"]
        page = store.list_executions("demo")  # answered from memory this time
        page.items[0]["status"] = "spoiled"
        page.raw_items.clear()
        assert [i["status"] for i in store.list_executions("demo").items] == ["running"]
        other.patch_execution("demo", first["id"], {"status": "completed"})  # another connection
        assert [i["status"] for i in store.list_executions("demo").items] == ["completed"]
        other.create_execution("demo", startedAt=at(2))
        assert store.list_executions("demo").total == 2
        other.delete_execution("demo", first["id"])
        assert [i["id"] for i in store.list_executions("demo").items] != [first["id"]]
        assert store.list_executions("demo").total == 1


def test_a_repeated_page_costs_one_small_query(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        for n in range(60):
            store.create_execution("demo", startedAt=at(n % 60))
        store.list_executions("demo", status="pending")
        backend = store.backend
        assert isinstance(backend, FileBackend)
        statements: list[str] = []
        backend._index._connect().set_trace_callback(statements.append)
        try:
            store.list_executions("demo", status="pending")
        finally:
            backend._index._connect().set_trace_callback(None)
    assert len(statements) == 1
    assert "FROM stats" in statements[0]


def test_the_page_cache_keeps_to_its_byte_budget(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "PAGE_CACHE_BYTES", 20_000)
    with Storehouse(data_dir) as store:
        for n in range(60):
            store.create_execution("demo", startedAt=at(n % 60), name="x" * 200)
        pages = [store.list_executions("demo", limit=10, offset=offset) for offset in range(0, 60, 10)]
        backend = store.backend
        assert isinstance(backend, FileBackend)
        cached = backend._index._pages
        assert 0 < backend._index._pages_bytes == sum(page.size for _, page in cached.values()) <= 20_000
        assert len(cached) < len(pages)  # the oldest went to make room
        again = store.list_executions("demo", limit=10, offset=50)  # the newest is still there, and right
        assert again.items == pages[-1].items
