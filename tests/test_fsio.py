"""Durable file operations, and what a failing file system does to them (faults injected at the FileIO seam)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from storehouse.errors import StorageError, StorageFull
from storehouse.fsio import FileIO, read_bytes


class RecordingIO(FileIO):
    """A FileIO that records every primitive it is asked to run, and can make one of them fail."""

    def __init__(self, fail: str | None = None, error: int = errno.EIO) -> None:
        super().__init__()
        self.fail = fail
        self.error = error
        self.calls: list[str] = []

    def _maybe_fail(self, name: str) -> None:
        self.calls.append(name)
        if name == self.fail:
            raise OSError(self.error, os.strerror(self.error))

    def open_new(self, path: str, dir_fd: int | None = None) -> int:
        self._maybe_fail("open_new")
        return super().open_new(path, dir_fd)

    def write(self, fd: int, data: memoryview) -> int:
        self._maybe_fail("write")
        return super().write(fd, data)

    def fsync(self, fd: int) -> None:
        self._maybe_fail("fsync")
        super().fsync(fd)

    def replace(self, source: str, target: str, dir_fd: int | None = None) -> None:
        self._maybe_fail("replace")
        super().replace(source, target, dir_fd)


class ShortWriteIO(FileIO):
    """Writes at most three bytes per call, as a write(2) interrupted by a signal may."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, fd: int, data: memoryview) -> int:
        self.writes += 1
        return os.write(fd, data[:3])


def test_replace_durably_writes_the_content(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    FileIO().replace_durably(target, b'{"a": 1}\n')
    assert target.read_bytes() == b'{"a": 1}\n'


def test_replace_durably_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"old content that is longer")
    FileIO().replace_durably(target, b"new")
    assert target.read_bytes() == b"new"


def test_replace_durably_leaves_no_temp_file(tmp_path: Path) -> None:
    FileIO().replace_durably(tmp_path / "a.json", b"data")
    assert os.listdir(tmp_path) == ["a.json"]


def test_replace_durably_returns_the_stat_of_the_new_file(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"old")
    stat = FileIO().replace_durably(target, b"twelve bytes")
    now = os.stat(target)
    assert stat.st_size == 12
    assert (stat.st_ino, stat.st_mtime_ns, stat.st_size) == (now.st_ino, now.st_mtime_ns, now.st_size)


def test_replace_durably_fsyncs_the_file_before_replace_and_the_directory_after(tmp_path: Path) -> None:
    io = RecordingIO()
    io.replace_durably(tmp_path / "a.json", b"data")
    assert io.calls == ["open_new", "write", "fsync", "replace", "fsync"]


def test_replace_durably_without_durability_never_fsyncs(tmp_path: Path) -> None:
    io = RecordingIO()
    io.durable = False
    io.replace_durably(tmp_path / "a.json", b"data")
    assert "fsync" not in io.calls
    assert (tmp_path / "a.json").read_bytes() == b"data"


def test_failed_fsync_is_storage_error_and_leaves_old_content_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"old")
    io = RecordingIO(fail="fsync", error=errno.EIO)
    with pytest.raises(StorageError) as caught:
        io.replace_durably(target, b"new")
    assert type(caught.value) is StorageError
    assert caught.value.status == 500
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.json"]
    assert io.calls[io.calls.index("fsync") :] == ["fsync"]  # never renamed, never retried after the failure


def test_enospc_on_write_is_storage_full_and_leaves_old_content_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"old")
    io = RecordingIO(fail="write", error=errno.ENOSPC)
    with pytest.raises(StorageFull) as caught:
        io.replace_durably(target, b"new")
    assert caught.value.status == 507
    assert caught.value.code == "storage_full"
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.json"]
    assert "replace" not in io.calls


def test_edquot_on_fsync_is_storage_full(tmp_path: Path) -> None:
    with pytest.raises(StorageFull):
        RecordingIO(fail="fsync", error=errno.EDQUOT).replace_durably(tmp_path / "a.json", b"new")
    assert os.listdir(tmp_path) == []


def test_failed_replace_leaves_old_content_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"old")
    with pytest.raises(StorageError):
        RecordingIO(fail="replace").replace_durably(target, b"new")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.json"]


def test_failed_temp_creation_is_storage_error_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"a\.json"):
        RecordingIO(fail="open_new", error=errno.EACCES).replace_durably(tmp_path / "a.json", b"new")


def test_short_writes_still_write_everything(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    data = bytes(range(256)) * 4
    io = ShortWriteIO()
    stat = io.replace_durably(target, data)
    assert target.read_bytes() == data
    assert stat.st_size == len(data)
    assert io.writes == -(-len(data) // 3)


def test_sweep_temp_files_removes_only_dot_tmp_names(tmp_path: Path) -> None:
    keep = ["a.json", "b.tmp", ".hidden", ".a.json.tmp.bak", "x.json.1.ab.tmp"]
    sweep = [".a.json.123.abcd.tmp", ".b.json.9.ff.tmp"]
    for name in keep + sweep:
        (tmp_path / name).write_bytes(b"x")
    removed = FileIO().sweep_temp_files(tmp_path, os.listdir(tmp_path))
    assert removed == 2
    assert sorted(os.listdir(tmp_path)) == sorted(keep)


def test_unlink_durably_reports_whether_the_file_existed(tmp_path: Path) -> None:
    target = tmp_path / "a.json"
    target.write_bytes(b"x")
    assert FileIO().unlink_durably(target) is True
    assert not target.exists()
    assert FileIO().unlink_durably(target) is False


def test_make_dirs_creates_missing_parents(tmp_path: Path) -> None:
    directory = tmp_path / "a" / "b" / "c"
    FileIO().make_dirs(directory)
    FileIO().make_dirs(directory)
    assert directory.is_dir()


def test_read_bytes_returns_the_content(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_bytes(b"content")
    assert read_bytes(tmp_path / "a.json") == b"content"


def test_read_bytes_of_a_missing_file_is_none(tmp_path: Path) -> None:
    assert read_bytes(tmp_path / "missing.json") is None
    assert read_bytes(tmp_path / "missing-dir" / "a.json") is None


def test_read_bytes_never_follows_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_bytes(b"secret")
    (tmp_path / "link.json").symlink_to(outside)
    assert read_bytes(tmp_path / "link.json") is None


def test_read_bytes_of_a_directory_is_none(tmp_path: Path) -> None:
    (tmp_path / "dir.json").mkdir()
    assert read_bytes(tmp_path / "dir.json") is None
