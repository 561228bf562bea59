"""A long history must not make every read cost the whole log (issue #13 item 6: a denial of service).

With 100,000 entries in one task (the cap allows it), each read, count and append parsed the whole file: ~0.5 s
each, and six parallel reads held unrelated requests up for seconds. The work is counted here, not timed (machines
are noisy): the log lines parsed and the whole-file reads, at 1,000 entries and at 50,000, must be the same.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

import storehouse.history as history_module
from storehouse import Storehouse
from storehouse.models import JSONObject, now_timestamp


def write_log(path: Path, entries: int) -> None:
    now = now_timestamp()
    line = {"taskId": "T-big", "type": "log", "executionId": None, "workspaceId": None, "sessionId": None,
            "role": None, "content": "x" * 100, "metadata": None, "createdAt": now,
            "expiresAt": "2999-01-01T00:00:00.000Z"}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(orjson.dumps({"id": n, **line}) + b"\n" for n in range(1, entries + 1)))


def work_of_each_call(store: Storehouse, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[int, int]]:
    """For each history call: (log lines parsed, whole-file reads) after the log's first access."""
    parsed, whole = [0], [0]
    parse, read_entries = history_module._parse_line, history_module.read_entries

    def counting_parse(line: bytes) -> JSONObject | None:
        parsed[0] += 1
        return parse(line)

    def counting_read(path: Path, dir_fd: int | None = None) -> list[JSONObject]:
        whole[0] += 1
        return read_entries(path, dir_fd)

    monkeypatch.setattr("storehouse.history_index._parse_line", counting_parse)  # the index parses through it
    monkeypatch.setattr(history_module, "read_entries", counting_read)
    calls: dict[str, Callable[[], object]] = {
        "read limit=1": lambda: store.list_history("demo", "T-big", limit=1),
        "read limit=50, newest first": lambda: store.list_history("demo", "T-big", limit=50, order="desc"),
        "read of one type": lambda: store.list_history("demo", "T-big", type="log", limit=50),
        "count": lambda: store.count_history("demo", "T-big"),
        "oldest": lambda: store.oldest_history("demo", "T-big"),
        "append": lambda: store.add_history("demo", "T-big", {"type": "log"}),
        "project-wide read limit=50": lambda: store.list_history("demo", limit=50),
    }
    work = {}
    for name, call in calls.items():
        parsed[0] = whole[0] = 0
        call()
        work[name] = (parsed[0], whole[0])
    monkeypatch.undo()
    return work


@pytest.mark.attack("history read cost")
def test_history_calls_cost_the_same_at_1000_and_at_50000_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    costs = []
    for entries in (1_000, 50_000):
        with Storehouse(tmp_path / str(entries)) as store:
            store.set_history_settings("demo", {"historyMaxEntriesPerTask": 100_000})
            write_log(tmp_path / str(entries) / "projects" / "demo" / "history" / "T-big.jsonl", entries)
            assert store.count_history("demo", "T-big") == entries  # the first access parses the log, once
            costs.append(work_of_each_call(store, monkeypatch))
    small, large = costs
    assert large == small
    for name, (parsed, whole) in large.items():
        assert whole == 0, name  # no call reads the log through
        assert parsed <= 50, name  # at most the page's lines (read back by offset), however long the log
