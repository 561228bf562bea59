"""Export and import (issue #7 item 4): round trips, idempotence, rejected lines, filters, CSV, streaming, order.

Everything runs on real directories: a seeded project is exported by the CLI, the HTTP API or the library,
imported into an empty data directory, and compared with its source file by file and read by read.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from storehouse import AsyncStorehouse, Settings, Storehouse
from storehouse.cli import main
from storehouse.errors import InvalidParameter, NotFound
from storehouse.http import create_app
from storehouse.models import JSONObject, format_timestamp
from storehouse.queries import MAX_LIMIT
from storehouse.transfer import EXECUTION_COLUMNS, HISTORY_COLUMNS, RESULTS, TASK_COLUMNS
from tests.browser.seed import RUNS, seed
from tests.conftest import Server

STAMP = "2026-01-05T10:00:05.000Z"
RUN: JSONObject = {"id": "r2", "status": "completed", "version": 1, "createdAt": STAMP, "updatedAt": STAMP}
TASK: JSONObject = {"id": "c", "title": "C", "version": 1, "createdAt": STAMP, "updatedAt": STAMP}
ENTRY: JSONObject = {"id": 4, "type": "log", "createdAt": STAMP}
RECORD_ORDER = ["settings", "task", "execution", "history"]  # the order of a whole-project export
ENTRY_TYPES = ("agent_start", "chat_message", "agent_turn", "execution_step", "log", "result", "error", "system")


@pytest.fixture(autouse=True)
def no_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every store here (the fixtures', the CLI's, the server's) skips fsync: what is written is under test, not
    its durability, and a seeded project takes 4 s to write durably against 0.8 s without."""
    monkeypatch.setenv("STOREHOUSE_DURABLE", "0")


def ago(**delta: float) -> str:
    return format_timestamp(datetime.now(UTC) - timedelta(**delta))


def enrich(store: Storehouse) -> None:
    """Add to seed()'s demo what an export must also carry: unknown fields and unicode, a run at version 3, a task
    with five transitions, one created before the task it depends on, entries of many types with metadata (past
    the cap), a back-filled entry, a task whose newest entry is hidden, a deleted history, lowered retention."""
    store.create_execution(
        "demo",
        id="unicode-run",
        name="Zürich → 東京 ✓ 🚀",
        status="running",
        taskId="audit",
        tags=["ünï", "eval"],
        **{"x-trace": {"span": "ü", "depth": [1, 2.5, None]}},
    )
    store.patch_execution("demo", "unicode-run", {"output": {"text": "naïve"}})
    store.patch_execution("demo", "unicode-run", {"status": "completed"})
    for to in ("pending", "running", "succeeded"):  # metrics: running, failed, then a retry that succeeds
        store.transition_task("demo", "metrics", to, reason=f"retry: {to}", actor="bot")
    store.create_task("demo", id="aa-first", title="Created first, depends on a later task", priority="critical")
    store.create_task("demo", id="zz-later", title="Created later", priority="low")
    store.add_dependency("demo", "aa-first", "zz-later", "requires")
    entries = [
        {"type": kind, "content": f"{kind} #{n}", "sessionId": "s-1", "metadata": {"n": n, "ü": [True, None]}}
        for n, kind in enumerate(ENTRY_TYPES)
    ]
    store.add_history("demo", "audit", entries)  # 8 entries: the cap of 5 hides the oldest 3
    store.add_history("demo", "client", {"type": "system", "content": "back-filled", "createdAt": ago(days=2)})
    old = {"type": "error", "content": "old", "createdAt": ago(days=15)}
    store.add_history("demo", "worker", [{"type": "log", "content": "seen"}, old])  # newest: hidden by ttl 10
    store.add_history("demo", "docs", {"type": "log", "content": "deleted"})
    store.delete_history("demo", "docs")
    store.set_history_settings("demo", {"historyTtlDays": 10, "historyMaxEntriesPerTask": 5})


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storehouse]:
    """seed() and enrich(), made once for the tests that only read them."""
    data_dir = tmp_path_factory.mktemp("seeded")
    with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as store:
        seed(store)
        enrich(store)
        yield store


@pytest.fixture
async def seeded_http(seeded: Storehouse) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(AsyncStorehouse(store=seeded), Settings(data_dir=seeded.settings.data_dir))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
        yield client


@pytest.fixture
def target(store: Storehouse) -> Storehouse:
    """Project p holding tasks a and b (b depends on a), a's history (ids 1-3), settings and run r."""
    store.create_task("p", id="a", title="A")
    store.create_task("p", id="b", title="B", dependencies=[{"taskId": "a", "type": "blocks"}])
    store.add_history("p", "a", [{"type": "log", "content": str(n)} for n in range(3)])
    store.set_history_settings("p", {"historyTtlDays": 30})
    store.create_execution("p", {"id": "r", "status": "running"})
    return store


def record(kind: str, document: object, project: str = "p", **envelope: object) -> bytes:
    """One line of an export."""
    return orjson.dumps({"kind": kind, "project": project, "document": document, **envelope})


def without(document: JSONObject, name: str) -> JSONObject:
    return {key: value for key, value in document.items() if key != name}


def cli(data_dir: Path, *args: str) -> int:
    return main([*args, "--data-dir", str(data_dir)])


def snapshot(data_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of a data directory (index included): its bytes and mtime_ns. Not SQLite's -shm file: it is
    shared memory, where a mere read transaction takes a read mark."""
    return {
        str(path.relative_to(data_dir)): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in sorted(data_dir.rglob("*"))
        if path.is_file() and not path.name.endswith("-shm")
    }


def documents(store: Storehouse, project: str, kind: str) -> dict[str, bytes]:
    folder = store.settings.data_dir / "projects" / project / kind
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())} if folder.is_dir() else {}


def settings_file(store: Storehouse, project: str) -> bytes | None:
    path = store.settings.data_dir / "projects" / project / "settings.json"
    return path.read_bytes() if path.exists() else None


def assert_reproduced(source: Storehouse, target: Storehouse, project: str) -> None:
    """The same documents byte for byte, the same settings, history, stats, order, ready tasks and listing."""
    for kind in ("executions", "tasks"):
        assert documents(target, project, kind) == documents(source, project, kind)
    assert settings_file(target, project) == settings_file(source, project)
    tasks = {*source.history_tasks(project), *(summary["id"] for summary in source.task_order(project))}
    for task in sorted(tasks):
        expected = source.list_history(project, task, limit=MAX_LIMIT)
        assert target.list_history(project, task, limit=MAX_LIMIT) == expected
    assert target.list_history(project, limit=MAX_LIMIT) == source.list_history(project, limit=MAX_LIMIT)
    assert target.execution_stats(project) == source.execution_stats(project)
    assert target.task_order(project) == source.task_order(project)
    assert target.list_tasks(project, ready=True).items == source.list_tasks(project, ready=True).items
    listed = source.list_executions(project, limit=MAX_LIMIT).items
    assert target.list_executions(project, limit=MAX_LIMIT).items == listed


def parsed(lines: Iterable[bytes] | bytes) -> list[JSONObject]:
    text = lines if isinstance(lines, bytes) else b"".join(lines)
    return [orjson.loads(line) for line in text.splitlines()]


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(), newline="")))


# -- round trips -----------------------------------------------------------------------------------------------
def test_cli_export_then_import_into_an_empty_directory_reproduces_the_projects(
    seeded: Storehouse, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    source = seeded.settings.data_dir
    assert cli(source, "export", "demo") == 0
    exported = capsysbinary.readouterr().out
    (tmp_path / "demo.jsonl").write_bytes(exported)
    assert cli(source, "export", "ops", "--output", str(tmp_path / "ops.jsonl")) == 0
    assert capsysbinary.readouterr().err.decode() == f"exported 12 line(s) to {tmp_path / 'ops.jsonl'}\n"
    copy = tmp_path / "copy"
    assert cli(copy, "import", str(tmp_path / "demo.jsonl")) == 0
    counts = f"{len(exported.splitlines())} created, 0 updated, 0 skipped, 0 rejected\n"
    assert capsysbinary.readouterr().out == counts.encode()
    assert cli(copy, "import", str(tmp_path / "ops.jsonl")) == 0
    with Storehouse(copy) as target:
        assert target.list_projects() == seeded.list_projects()
        for project in ("demo", "ops"):
            assert_reproduced(seeded, target, project)
        run = target.get_execution("demo", "unicode-run")
        assert (run["version"], run["x-trace"]) == (3, {"span": "ü", "depth": [1, 2.5, None]})
        assert len(target.task_transitions("demo", "metrics")) == 5


async def test_http_export_imported_by_the_library_reproduces_the_project(
    seeded: Storehouse, seeded_http: httpx.AsyncClient, tmp_path: Path
) -> None:
    response = await seeded_http.get("/api/projects/demo/export")
    assert response.status_code == 200
    with Storehouse(tmp_path / "copy") as target:
        report = target.import_lines(io.BytesIO(response.content))
        assert report.count("created") == len(response.content.splitlines()) == len(report.outcomes)
        assert_reproduced(seeded, target, "demo")


@pytest.mark.parametrize("hide", ["expired", "deleted"])
def test_history_ids_go_on_as_in_the_source_when_the_newest_entry_was_hidden(
    store: Storehouse, tmp_path: Path, hide: str
) -> None:
    store.add_history("p", "t", [{"type": "log"}, {"type": "log", "createdAt": ago(days=30)}])  # 2 is expired
    if hide == "deleted":
        store.delete_history("p", "t")
    with Storehouse(tmp_path / "copy") as target:
        target.import_lines(store.export("p"))
        assert target.list_history("p", "t") == store.list_history("p", "t")  # this holds
        [added] = target.add_history("p", "t", {"type": "log"})
        [expected] = store.add_history("p", "t", {"type": "log"})
        assert added["id"] == expected["id"] == 3


# -- idempotence -----------------------------------------------------------------------------------------------
def test_importing_an_export_again_skips_every_line_and_changes_no_file(seeded: Storehouse, tmp_path: Path) -> None:
    lines = list(seeded.export("demo"))
    with Storehouse(tmp_path / "copy") as target:
        assert target.import_lines(lines).count("created") == len(lines)
        before = snapshot(target.settings.data_dir)
        again = target.import_lines(lines)
        assert [outcome.result for outcome in again.outcomes] == ["skipped"] * len(lines)
        assert snapshot(target.settings.data_dir) == before


def test_reimport_after_changes_updates_exactly_the_changed_documents(store: Storehouse, tmp_path: Path) -> None:
    seed(store)
    store.patch_execution("demo", "run-0007", {"metadata": {"pass": 2}})
    with Storehouse(tmp_path / "copy") as target:
        target.import_lines(store.export("demo"))
        store.patch_execution("demo", "run-0007", {"status": "cancelled", "metadata": {"pass": 3}})  # 2 -> 3
        store.patch_task("demo", "worker", {"title": "Retry in the worker, with jitter"})  # no history entry
        lines = list(store.export("demo"))
        report = target.import_lines(lines)
        updated = [(outcome.kind, outcome.id) for outcome in report.outcomes if outcome.result == "updated"]
        assert updated == [("task", "worker"), ("execution", "run-0007")]
        assert report.count("skipped") == len(lines) - 2
        assert target.get_execution("demo", "run-0007") == store.get_execution("demo", "run-0007")
        assert target.get_execution("demo", "run-0007")["version"] == 3
        assert documents(target, "demo", "tasks") == documents(store, "demo", "tasks")
        assert target.execution_stats("demo") == store.execution_stats("demo")  # the index followed


def test_a_newer_version_in_the_target_is_kept(store: Storehouse, tmp_path: Path) -> None:
    store.create_execution("p", {"id": "r", "status": "running"})
    store.create_task("p", id="t", title="T")
    lines = list(store.export("p"))
    with Storehouse(tmp_path / "copy") as target:
        target.import_lines(lines)
        target.patch_execution("p", "r", {"status": "completed"})
        target.patch_task("p", "t", {"title": "T, renamed"})
        before = snapshot(target.settings.data_dir)
        report = target.import_lines(lines)
        assert [(outcome.result, outcome.reason) for outcome in report.outcomes] == [
            ("skipped", "version 2 is stored"),
            ("skipped", "version 2 is stored"),
        ]
        assert snapshot(target.settings.data_dir) == before


@pytest.mark.parametrize("kind", ["execution", "task"])
def test_another_document_at_the_same_version_is_rejected_and_the_target_kept(
    store: Storehouse, tmp_path: Path, kind: str
) -> None:
    store.create_execution("p", {"id": "x", "name": "first", "status": "running"})
    store.create_task("p", id="x", title="first")
    with Storehouse(tmp_path / "copy") as target:
        target.import_lines(store.export("p"))
        for side, name in ((store, "source"), (target, "target")):
            side.patch_execution("p", "x", {"name": name})
            side.patch_task("p", "x", {"title": name})
        before = snapshot(target.settings.data_dir)
        report = target.import_lines(line for line in store.export("p") if orjson.loads(line)["kind"] == kind)
        (outcome,) = report.outcomes
        assert (outcome.line, outcome.result, outcome.kind, outcome.id) == (1, "rejected", kind, "x")
        assert outcome.reason == f"another {kind} x is stored at the same version 2; not overwritten"
        assert snapshot(target.settings.data_dir) == before


# -- rejected lines --------------------------------------------------------------------------------------------
BAD_LINES = [
    pytest.param([b"{not json"], "not JSON: ", id="not-json"),
    pytest.param([b'["a", "list"]'], "a line must be a JSON object (a record of an export), got an array", id="array"),
    pytest.param([b'"text"'], "a line must be a JSON object (a record of an export), got a string", id="string"),
    pytest.param([record("run", RUN)], "kind must be one of settings, task, execution, history; got 'run'", id="kind"),
    pytest.param([record("execution", RUN, extra=1)], "unknown field 'extra' in a", id="envelope-field"),
    pytest.param([record("execution", RUN, project="../p")], "project must be a project id, got '../p'", id="project"),
    pytest.param([b'{"kind": "execution", "project": "p"}'], "document must be a JSON object, got null", id="no-doc"),
    pytest.param([record("execution", {**RUN, "status": "done"})], "status: Input should be", id="run-status"),
    pytest.param([record("execution", without(RUN, "id"))], "the execution's id must be an id, got None", id="run-id"),
    pytest.param(
        [record("execution", {**RUN, "version": None, "status": "x"})], "status: Input", id="run-null-version"
    ),
    pytest.param([record("execution", {**RUN, "version": "1"})], "version must be a whole number", id="run-version"),
    pytest.param(  # the next write would pass 2**63 - 1: the file would be written but never read again (#13)
        [record("execution", {**RUN, "version": (1 << 63) - 1})],
        "version must be between 0 and 9007199254740991, got 9223372036854775807",
        id="run-version-2**63-1",
    ),
    pytest.param(
        [record("task", {**TASK, "version": 1 << 53})],
        "version must be between 0 and 9007199254740991, got 9007199254740992",
        id="task-version-2**53",
    ),
    pytest.param(
        [record("execution", {**RUN, "tokenUsage": {"input": (1 << 63) - 1}})],
        "tokenUsage.input: Input should be less than or equal to 9007199254740991",
        id="run-tokens-2**63-1",
    ),
    pytest.param(
        [record("execution", {**RUN, "projectId": "q"})],
        "projectId is 'q' in the document but the record is of 'p'",
        id="run-project",
    ),
    pytest.param([record("execution", {**RUN, "id": "stats"})], "'stats' is reserved", id="run-stats"),
    pytest.param([record("execution", {**RUN, "id": "export"})], "'export' is reserved", id="run-export"),
    pytest.param([record("task", {**TASK, "id": "order"})], "'order' is reserved", id="task-order"),
    pytest.param([record("task", {**TASK, "id": "export"})], "'export' is reserved", id="task-export"),
    pytest.param(
        [record("task", {**without(TASK, "createdAt"), "createdAt": "not a time"})], "createdAt", id="task-created"
    ),
    pytest.param(
        [record("task", {**TASK, "id": "a", "version": 9, "dependencies": [{"taskId": "b", "type": "blocks"}]})],
        "task a cannot depend on b: that would close the cycle a -> b -> a",
        id="task-cycle",
    ),
    pytest.param(
        [record("task", {**TASK, "dependencies": [{"taskId": "c", "type": "related"}]})],
        "that would close the cycle c -> c",
        id="task-self",
    ),
    pytest.param([record("history", ENTRY)], "taskId must be a task id, got None", id="entry-no-task"),
    pytest.param(
        [record("history", {**ENTRY, "id": 0}, taskId="a")],
        "id must be a whole number from 1 to 9223372036854775807, got 0",
        id="entry-0",
    ),
    pytest.param([record("history", {**ENTRY, "id": "4"}, taskId="a")], "got '4'", id="entry-id-text"),
    pytest.param([record("history", {**ENTRY, "id": True}, taskId="a")], "got True", id="entry-id-bool"),
    pytest.param([record("history", without(ENTRY, "id"), taskId="a")], "got None", id="entry-no-id"),
    pytest.param(
        [record("history", without(ENTRY, "createdAt"), taskId="a")],
        "an exported history entry has a createdAt",
        id="entry-no-createdAt",
    ),
    pytest.param(
        [record("history", {**ENTRY, "note": 1}, taskId="a")],
        "unknown field 'note' in a history entry",
        id="entry-field",
    ),
    pytest.param([record("history", {**ENTRY, "type": "note"}, taskId="a")], "type must be one of", id="entry-type"),
    pytest.param(
        [record("history", {**ENTRY, "taskId": "b"}, taskId="a")], "taskId is 'b' in the body", id="entry-task"
    ),
    pytest.param(
        [record("history", {**ENTRY, "id": 3}, taskId="a"), record("history", {**ENTRY, "id": 2}, taskId="a")],
        "ids must grow",  # 3 is skipped (the log has reached it), 2 after it is refused
        id="entry-ids-not-growing",
    ),
    pytest.param(
        [record("settings", {"historyTtlDays": 0})],
        "historyTtlDays must be a whole number from 1 to 36500, got 0",
        id="settings-ttl",
    ),
    pytest.param(
        [record("settings", {"historyMaxEntriesPerTask": "100"})],
        "historyMaxEntriesPerTask must be a whole number, got a string",
        id="settings-cap-text",
    ),
    pytest.param([record("settings", {"historyMaxEntriesPerTask": 100_001})], "got 100001", id="settings-cap-too-high"),
    pytest.param([record("settings", {"ttl": 5})], "unknown setting 'ttl'", id="settings-unknown"),
]


@pytest.mark.parametrize(("lines", "reason"), BAD_LINES)
def test_a_bad_line_is_rejected_with_its_number_and_a_reason_and_changes_nothing(
    target: Storehouse, lines: list[bytes], reason: str
) -> None:
    before = snapshot(target.settings.data_dir)
    report = target.import_lines([b"", *lines, b"  \n"])  # blank lines have no outcome but count as lines
    assert [outcome.line for outcome in report.outcomes] == list(range(2, len(lines) + 2))
    *others, bad = report.outcomes
    assert (bad.line, bad.result) == (len(lines) + 1, "rejected")
    assert bad.reason is not None
    assert reason in bad.reason
    assert [outcome.result for outcome in others] == ["skipped"] * len(others)
    assert snapshot(target.settings.data_dir) == before


def test_valid_lines_around_bad_ones_are_imported_and_the_cli_exits_1(
    target: Storehouse, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        record("execution", RUN),  # 1
        b"{not json",  # 2: rejected
        record("task", TASK),  # 3
        b"",  # 4: blank
        record("execution", {**RUN, "id": "stats"}),  # 5: rejected
        record("history", {**ENTRY, "createdAt": ago(hours=2)}, taskId="a"),  # 6
        record("history", {**ENTRY, "id": 5, "note": "x"}, taskId="a"),  # 7: rejected
        record("history", {**ENTRY, "id": 6, "createdAt": ago(hours=1)}, taskId="a"),  # 8
        record("settings", {"historyTtlDays": 30}),  # 9: the same as stored
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    data_dir = target.settings.data_dir
    assert cli(data_dir, "import", str(path), "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert [report[result] for result in RESULTS] == [4, 0, 1, 3]
    outcomes = [(outcome["line"], outcome["result"], outcome.get("id")) for outcome in report["outcomes"]]
    assert outcomes == [
        (1, "created", "r2"),
        (2, "rejected", None),
        (3, "created", "c"),
        (5, "rejected", "stats"),
        (6, "created", "a#4"),
        (7, "rejected", "a#5"),
        (8, "created", "a#6"),
        (9, "skipped", None),
    ]
    assert target.get_execution("p", "r2")["version"] == 1
    assert target.get_task("p", "c")["title"] == "C"
    assert sorted(entry["id"] for entry in target.list_history("p", "a").entries) == [1, 2, 3, 4, 6]
    assert cli(data_dir, "import", str(path)) == 1
    text = capsys.readouterr().out.splitlines()
    assert text[0] == "0 created, 0 updated, 5 skipped, 3 rejected"
    assert text[6].startswith("line 2: rejected: not JSON: ")
    assert text[7].startswith("line 5: rejected execution p stats: 'stats' is reserved")
    assert [line.split(":")[0] for line in text[1:]] == [f"line {n}" for n in (1, 3, 6, 8, 9, 2, 5, 7)]


def test_cli_import_from_stdin_exits_0_when_no_line_is_rejected(
    store: Storehouse, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(record("execution", RUN) + b"\n\n")))
    assert cli(store.settings.data_dir, "import", "-") == 0
    assert capsys.readouterr().out == "1 created, 0 updated, 0 skipped, 0 rejected\n"
    assert store.get_execution("p", "r2")["createdAt"] == STAMP


@pytest.mark.parametrize("name", ["runs.csv", "runs.jsonl"])
def test_cli_import_refuses_a_csv_file(
    target: Storehouse, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = tmp_path / name
    path.write_bytes(b"".join(target.export("p", "executions", "csv")))
    before = snapshot(target.settings.data_dir)
    assert cli(target.settings.data_dir, "import", str(path)) == 1
    assert capsys.readouterr().err.startswith(f"error: {path} is not JSON Lines:")
    assert snapshot(target.settings.data_dir) == before


def test_a_line_that_is_not_utf8_is_rejected(store: Storehouse) -> None:
    line = record("execution", {**RUN, "name": "café"}).replace("é".encode(), b"\xe9")  # Latin-1, not UTF-8
    report = store.import_lines([line])
    assert [outcome.result for outcome in report.outcomes] == ["rejected"]
    with pytest.raises(NotFound):
        store.get_execution("p", "r2")


def test_a_history_id_beyond_64_bits_is_rejected(store: Storehouse) -> None:
    report = store.import_lines([record("history", {**ENTRY, "id": 2**63, "createdAt": ago(hours=1)}, taskId="a")])
    assert [outcome.result for outcome in report.outcomes] == ["rejected"]
    assert store.check().problems == []


@pytest.mark.parametrize(("stored", "given"), [(30, 30.0), (1, True)])
def test_settings_of_the_wrong_type_are_rejected_even_when_equal_to_the_stored(
    store: Storehouse, stored: int, given: object
) -> None:
    store.set_history_settings("p", {"historyTtlDays": stored})
    report = store.import_lines([record("settings", {"historyTtlDays": given})])
    assert [outcome.result for outcome in report.outcomes] == ["rejected"]


def test_cli_import_of_a_missing_file_is_an_error_message(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(data_dir, "import", str(tmp_path / "missing.jsonl")) == 1
    assert capsys.readouterr().err.startswith("error: ")


# -- export filters and formats --------------------------------------------------------------------------------
RUN_FILTERS = [
    pytest.param({"status": "failed"}, {"status": "failed"}, id="status"),
    pytest.param({"status": ["failed", "cancelled"]}, {"status": "failed,cancelled"}, id="statuses"),
    pytest.param({"tag": "eval"}, {"tag": "eval"}, id="tag"),
    pytest.param({"taskId": "client"}, {"task_id": "client"}, id="taskId"),
    pytest.param(
        {"startedAfter": "2026-11-10T00:00:00Z", "startedBefore": "2026-11-12T12:00:00Z"},
        {"started_after": "2026-11-10T00:00:00Z", "started_before": "2026-11-12T12:00:00Z"},
        id="started",
    ),
    pytest.param({"q": "flaky"}, {"q": "flaky"}, id="q-name"),
    pytest.param({"q": "run-01"}, {"q": "run-01"}, id="q-id"),
    pytest.param(
        {"status": "completed", "tag": "nightly", "taskId": "design"},
        {"status": "completed", "tag": "nightly", "task_id": "design"},
        id="combined",
    ),
    pytest.param({}, {}, id="none"),
]


@pytest.mark.parametrize(("query", "filters"), RUN_FILTERS)
async def test_execution_export_gives_exactly_the_listed_runs(
    seeded: Storehouse, seeded_http: httpx.AsyncClient, query: dict[str, str | list[str]], filters: JSONObject
) -> None:
    listed: list[str] = []
    cursor = None
    while True:  # every page of the listing, 100 at a time
        page = seeded.list_executions("demo", **filters, limit=100, cursor=cursor)
        listed += [summary["id"] for summary in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    response = await seeded_http.get("/api/projects/demo/executions/export", params=query)
    assert response.status_code == 200
    exported = parsed(response.content)
    assert [record["document"]["id"] for record in exported] == listed
    assert 0 < len(listed) < RUNS if query else len(listed) == RUNS + 1  # seed()'s runs and enrich()'s
    assert all(record["document"] == seeded.get_execution("demo", record["document"]["id"]) for record in exported)
    assert response.content == b"".join(seeded.export("demo", "executions", **filters))


@pytest.mark.parametrize(
    ("query", "filters"),
    [
        ({"status": "pending"}, {"status": "pending"}),
        ({"status": ["succeeded", "running"]}, {"status": "succeeded,running"}),
        ({"ready": "true"}, {"ready": True}),
        ({"ready": "false"}, {"ready": False}),
        ({"priority": "high", "tag": "retries"}, {"priority": "high", "tag": "retries"}),
    ],
)
async def test_task_export_gives_exactly_the_listed_tasks(
    seeded: Storehouse, seeded_http: httpx.AsyncClient, query: dict[str, str | list[str]], filters: JSONObject
) -> None:
    listed = [summary["id"] for summary in seeded.list_tasks("demo", **filters, limit=MAX_LIMIT).items]
    response = await seeded_http.get("/api/projects/demo/tasks/export", params=query)
    exported = parsed(response.content)
    assert [record["document"]["id"] for record in exported] == listed
    assert 0 < len(listed) < len(seeded.task_order("demo"))
    assert all(record["document"] == seeded.get_task("demo", record["document"]["id"]) for record in exported)


@pytest.mark.parametrize(
    ("query", "task", "filters"),
    [
        ({"taskId": "client"}, "client", {}),
        ({"taskId": "metrics", "type": "status_change"}, "metrics", {"type": "status_change"}),
        ({"type": ["log", "error"]}, None, {"type": "log,error"}),
    ],
)
async def test_history_export_filters_by_task_and_type(
    seeded: Storehouse,
    seeded_http: httpx.AsyncClient,
    query: dict[str, str | list[str]],
    task: str | None,
    filters: JSONObject,
) -> None:
    expected = []
    for name in [task] if task else seeded.history_tasks("demo"):
        entries = seeded.list_history("demo", name, **filters, limit=MAX_LIMIT).entries
        expected += [(name, entry) for entry in sorted(entries, key=lambda entry: int(entry["id"]))]
    response = await seeded_http.get("/api/projects/demo/history/export", params=query)
    assert [(record["taskId"], record["document"]) for record in parsed(response.content)] == expected
    assert {name for name, _ in expected} == ({task} if task else {"audit", "client", "metrics", "worker"})


async def test_a_project_export_takes_no_filters(
    seeded: Storehouse, seeded_http: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(InvalidParameter, match="a whole-project export takes no filters; got status"):
        seeded.export("demo", status="failed")
    response = await seeded_http.get("/api/projects/demo/export", params={"status": "failed"})
    assert response.status_code == 400
    assert "unknown query parameter 'status'" in response.json()["error"]["message"]
    assert cli(seeded.settings.data_dir, "export", "demo", "--status", "failed") == 1
    assert capsys.readouterr().err.startswith("error: filters need --kind executions, tasks or history")


@pytest.mark.parametrize(
    ("args", "kind", "format", "filters"),
    [
        (
            ["--kind", "executions", "--status", "failed", "--tag", "eval"],
            "executions",
            "jsonl",
            {"status": "failed", "tag": "eval"},
        ),
        (["--kind", "executions", "--task", "client", "--format", "csv"], "executions", "csv", {"task_id": "client"}),
        (["--kind", "tasks", "--status", "pending", "--format", "csv"], "tasks", "csv", {"status": "pending"}),
        (["--kind", "history", "--task", "metrics"], "history", "jsonl", {"task_id": "metrics"}),
    ],
)
def test_cli_export_writes_what_the_library_exports(
    seeded: Storehouse,
    capsysbinary: pytest.CaptureFixture[bytes],
    args: list[str],
    kind: str,
    format: str,
    filters: dict[str, str],
) -> None:
    assert cli(seeded.settings.data_dir, "export", "demo", *args) == 0
    written = capsysbinary.readouterr().out
    assert written == b"".join(seeded.export("demo", kind, format, **filters))
    assert len(written.splitlines()) > 1


def test_csv_of_runs_has_a_header_a_row_per_run_and_no_formulas(store: Storehouse) -> None:
    names = ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(A1)", "\tTab", "a, b", 'say "hi"', "two\nlines", "plain ✓"]
    for n, name in enumerate(names):
        store.create_execution(
            "p",
            id=f"r{n}",
            name=name,
            status="failed",
            startedAt=f"2026-01-0{n + 1}T00:00:00Z",
            tags=["x", "y z"],
            tokenUsage={"input": 3, "output": 4},
            costUSD=0.25,
            error="-1 tests failed, see log" if n == 0 else None,
        )
    header, *rows = csv_rows(b"".join(store.export("p", "executions", "csv")))
    assert header == list(EXECUTION_COLUMNS)
    assert [row[0] for row in rows] == [f"r{n}" for n in reversed(range(len(names)))]  # newest first
    cells = [dict(zip(EXECUTION_COLUMNS, row, strict=True)) for row in reversed(rows)]
    assert [cell["name"] for cell in cells] == [f"'{name}" if name[0] in "=+-@\t" else name for name in names]
    assert cells[0]["error"] == "'-1 tests failed, see log"
    assert {(cell["tags"], cell["inputTokens"], cell["totalTokens"], cell["costUSD"]) for cell in cells} == {
        ("x;y z", "3", "7", "0.25")
    }


def test_csv_quotes_a_carriage_return_inside_a_cell(store: Storehouse) -> None:
    store.create_execution("p", {"id": "r", "name": "before\rafter", "status": "running"})
    _, *rows = csv_rows(b"".join(store.export("p", "executions", "csv")))
    assert len(rows) == 1
    assert rows[0][EXECUTION_COLUMNS.index("name")] == "before\rafter"


def test_csv_of_tasks_and_history_has_a_header_and_a_row_each(seeded: Storehouse) -> None:
    header, *rows = csv_rows(b"".join(seeded.export("demo", "tasks", "csv")))
    assert header == list(TASK_COLUMNS)
    tasks = {row[0]: dict(zip(TASK_COLUMNS, row, strict=True)) for row in rows}
    assert list(tasks) == [summary["id"] for summary in seeded.task_order("demo")]
    assert tasks["docs"]["dependencies"] == "client:requires;worker:requires"
    assert (tasks["docs"]["tags"], tasks["metrics"]["version"]) == ("retries", "6")
    header, *rows = csv_rows(b"".join(seeded.export("demo", "history", "csv", task_id="audit")))
    assert header == list(HISTORY_COLUMNS)
    assert [(row[0], row[1], row[2]) for row in rows] == [("audit", str(n), ENTRY_TYPES[n - 1]) for n in range(4, 9)]


@pytest.mark.parametrize(
    ("path", "kind", "format", "content_type", "name"),
    [
        ("export", "project", "jsonl", "application/x-ndjson", "demo.jsonl"),
        ("executions/export", "executions", "jsonl", "application/x-ndjson", "demo-executions.jsonl"),
        ("executions/export", "executions", "csv", "text/csv; charset=utf-8", "demo-executions.csv"),
        ("tasks/export", "tasks", "jsonl", "application/x-ndjson", "demo-tasks.jsonl"),
        ("tasks/export", "tasks", "csv", "text/csv; charset=utf-8", "demo-tasks.csv"),
        ("history/export", "history", "jsonl", "application/x-ndjson", "demo-history.jsonl"),
        ("history/export", "history", "csv", "text/csv; charset=utf-8", "demo-history.csv"),
    ],
)
async def test_export_routes_send_their_content_type_and_an_attachment_name(
    seeded: Storehouse,
    seeded_http: httpx.AsyncClient,
    path: str,
    kind: str,
    format: str,
    content_type: str,
    name: str,
) -> None:
    params = {} if kind == "project" else {"format": format}
    response = await seeded_http.get(f"/api/projects/demo/{path}", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["content-disposition"] == f'attachment; filename="{name}"'
    assert response.content == b"".join(seeded.export("demo", kind, format))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("export?format=csv", "CSV holds one kind: export executions, tasks or history, or the project as jsonl"),
        ("export?format=xml", "format must be jsonl or csv, got 'xml'"),
        ("executions/export?format=xml", "format must be jsonl or csv, got 'xml'"),
        ("tasks/export?format=JSONL", "format must be jsonl or csv, got 'JSONL'"),
        ("history/export?format=", "format must be jsonl or csv, got ''"),
        ("executions/export?format=csv&format=jsonl", "format is given more than once"),
        ("executions/export?status=done", "status must be one or more of"),
        ("tasks/export?ready=yes", "ready must be true or false, got 'yes'"),
        ("history/export?type=note", "type must be one or more of"),
    ],
)
async def test_a_bad_export_parameter_is_400_naming_it(seeded_http: httpx.AsyncClient, path: str, message: str) -> None:
    response = await seeded_http.get(f"/api/projects/demo/{path}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert message in response.json()["error"]["message"]


# -- streaming -------------------------------------------------------------------------------------------------
BIG_RUNS = 3000


@pytest.fixture
def big_project(data_dir: Path) -> list[bytes]:
    """BIG_RUNS runs of project big, written as files and indexed by reindex() before the server starts (3 s;
    creating or importing them one by one takes 9 s). Returns the library's export of the project."""
    folder = data_dir / "projects" / "big" / "executions"
    folder.mkdir(parents=True)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    for n in range(BIG_RUNS):
        at = format_timestamp(start + timedelta(seconds=n))
        run = {"id": f"big-{n:05d}", "projectId": "big", "name": f"run {n} ✓", "status": "completed", "startedAt": at}
        document = {**run, "tags": ["bulk"], "version": 1, "createdAt": at, "updatedAt": at}
        (folder / f"big-{n:05d}.json").write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    with Storehouse(data_dir) as store:
        assert store.reindex("big").indexed == BIG_RUNS
        return list(store.export("big"))


def test_a_large_project_streams_through_a_real_server_whole_and_in_order(
    big_project: list[bytes], server: Server
) -> None:
    with httpx.stream("GET", f"{server.url}/api/projects/big/export", timeout=30) as response:
        assert response.status_code == 200
        assert response.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in response.headers
        body = b"".join(response.iter_bytes())
    lines = body.splitlines(keepends=True)
    assert lines == big_project
    ids = [record["document"]["id"] for record in parsed(body)]
    assert ids == [f"big-{n:05d}" for n in reversed(range(BIG_RUNS))]  # newest first, each once


# -- order -----------------------------------------------------------------------------------------------------
def test_a_project_export_puts_settings_first_tasks_after_their_dependencies_and_history_by_id(
    seeded: Storehouse,
) -> None:
    records = parsed(seeded.export("demo"))
    kinds = [record["kind"] for record in records]
    assert kinds[0] == "settings"
    assert kinds == sorted(kinds, key=RECORD_ORDER.index)
    tasks = [record["document"] for record in records if record["kind"] == "task"]
    position = {task["id"]: n for n, task in enumerate(tasks)}
    assert position["zz-later"] < position["aa-first"]  # created after it, but depended on
    for task in tasks:
        assert all(position[edge["taskId"]] < position[task["id"]] for edge in task["dependencies"])
    history = [(record["taskId"], record["document"]["id"]) for record in records if record["kind"] == "history"]
    groups = [name for n, (name, _) in enumerate(history) if n == 0 or history[n - 1][0] != name]
    assert groups == sorted(set(groups))  # each task's entries together
    for name in groups:
        ids = [entry_id for task, entry_id in history if task == name]
        assert ids == sorted(set(ids))
    assert [entry_id for task, entry_id in history if task == "client"] == [1, 2, 3, 4, 5]  # 5 is back-filled
    assert seeded.list_history("demo", "client").entries[0]["id"] == 5  # a read goes by createdAt


@pytest.mark.parametrize(
    "text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tTab", "\r=1", "\n=HYPERLINK(1)", "\x00=1", "-", "=", "'=already"]
)
def test_csv_neutralises_a_text_cell_that_could_start_a_formula(store: Storehouse, text: str) -> None:
    store.create_execution("p", {"id": "r", "name": text, "status": "failed", "error": text})
    _, row = csv_rows(b"".join(store.export("p", "executions", "csv")))
    cells = dict(zip(EXECUTION_COLUMNS, row, strict=True))
    expected = text if text.startswith("'") else "'" + text
    assert (cells["name"], cells["error"]) == (expected, expected)


def test_csv_keeps_number_cells_as_numbers_negative_or_not(store: Storehouse) -> None:
    store.create_execution(
        "p", {"id": "r", "status": "completed", "costUSD": 1.5e-05, "duration": 0, "tokenUsage": {"input": 0}}
    )
    _, row = csv_rows(b"".join(store.export("p", "executions", "csv")))
    cells = dict(zip(EXECUTION_COLUMNS, row, strict=True))
    assert (cells["costUSD"], cells["duration"], cells["inputTokens"]) == ("0.000015", "0", "0")


@pytest.mark.parametrize("value", [-1, -0.5, -(1 << 63)])
def test_csv_writes_a_negative_number_as_a_number(value: int | float) -> None:
    from storehouse.transfer import _cell

    assert _cell(value) == str(value)
    assert _cell(str(value)) == f"'{value}"  # the same characters as text are neutralised


def test_csv_neutralises_cells_of_tasks_and_history_too(store: Storehouse) -> None:
    store.create_task("p", {"id": "T-1", "title": "=cmd|' /C calc'!A0", "description": "@x", "tags": ["-t"]})
    store.add_history("p", "T-1", [{"type": "log", "content": "+1"}])
    header, row = csv_rows(b"".join(store.export("p", "tasks", "csv")))
    cells = dict(zip(header, row, strict=True))
    assert cells["title"] == "'=cmd|' /C calc'!A0"
    assert cells["tags"] == "'-t"
    header, row = csv_rows(b"".join(store.export("p", "history", "csv", task_id="T-1")))
    assert dict(zip(header, row, strict=True))["content"] == "'+1"
