"""Every list and stats call applies the project's run retention, so its settings are kept in memory while the
file is unchanged; a change by any process, or by hand, is seen by the very next read (store.py
``_settings_values``)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from storehouse import Storehouse


def runs(store: Storehouse, count: int) -> None:
    for n in range(count):
        store.create_execution("p", {"id": f"r{n}", "startedAt": f"2026-01-0{n + 1}T00:00:00.000Z"})


def test_a_cap_set_by_another_process_applies_to_the_next_read(data_dir: Path) -> None:
    with Storehouse(data_dir) as reader, Storehouse(data_dir) as writer:
        runs(writer, 3)
        assert reader.list_executions("p").total == 3  # the settings (none) are now in the reader's memory
        writer.set_history_settings("p", {"maxRuns": 1})
        assert reader.list_executions("p").total == 1
        assert reader.execution_stats("p")["totalExecutions"] == 1
        writer.set_history_settings("p", {"maxRuns": None})
        assert reader.list_executions("p").total == 1  # what the cap hid is gone for good


def test_a_settings_file_edited_by_hand_is_read_again(data_dir: Path) -> None:
    with Storehouse(data_dir) as store:
        runs(store, 3)
        store.set_history_settings("p", {"maxRuns": 2})
        assert store.list_executions("p").total == 2
        path = data_dir / "projects" / "p" / "settings.json"
        values = orjson.loads(path.read_bytes())
        path.write_bytes(orjson.dumps({**values, "maxRuns": 1}))  # in place: the same inode, a new mtime and size
        assert store.list_executions("p").total == 1


def test_a_settings_file_swapped_for_a_symlink_is_not_followed(data_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_bytes(orjson.dumps({"maxRuns": 1}))
    with Storehouse(data_dir) as store:
        runs(store, 3)
        path = data_dir / "projects" / "p" / "settings.json"
        os.symlink(outside, path)  # before any settings: no cap, and the outside file's cap of 1 is not read
        assert store.list_executions("p").total == 3
        path.unlink()
        path.write_bytes(orjson.dumps({"maxRuns": 2}))
        assert store.list_executions("p").total == 2
        path.unlink()
        os.symlink(outside, path)  # swapped in later: neither the cap seen before (2) nor the outside file's (1)
        assert store.list_executions("p").total == 3
