"""I/O failures reach the client as clear errors and change nothing that is stored."""

from __future__ import annotations

import errno
from pathlib import Path

import httpx

from storehouse import AsyncStorehouse, Settings, Storehouse
from storehouse.backends import FileBackend
from storehouse.fsio import FileIO
from storehouse.http import create_app


class FullDisk(FileIO):
    """A disk that fills up once ``full`` is set: every write then fails with ENOSPC."""

    full = False

    def write(self, fd: int, data: memoryview) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(fd, data)


async def test_full_disk_is_a_507_and_changes_nothing(data_dir: Path) -> None:
    disk = FullDisk()
    store = Storehouse(backend=FileBackend(data_dir, io=disk))
    app = create_app(AsyncStorehouse(store=store), Settings(data_dir=data_dir))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
        await client.put("/api/projects/demo/executions/run-1", json={"status": "running"})
        before = (data_dir / "projects/demo/executions/run-1.json").read_bytes()
        disk.full = True
        answer = await client.patch("/api/projects/demo/executions/run-1", json={"status": "completed"})
        created = await client.post("/api/projects/demo/executions", json={"status": "running"})
        disk.full = False
        assert answer.status_code == 507
        assert answer.json()["error"]["code"] == "storage_full"
        assert "free some space" in answer.json()["error"]["message"]
        assert created.status_code == 507
        assert (data_dir / "projects/demo/executions/run-1.json").read_bytes() == before
        assert sorted(p.name for p in (data_dir / "projects/demo/executions").iterdir()) == ["run-1.json"]
        listed = (await client.get("/api/projects/demo/executions")).json()
        assert [(e["id"], e["status"]) for e in listed["executions"]] == [("run-1", "running")]
        retried = await client.patch("/api/projects/demo/executions/run-1", json={"status": "completed"})
        assert retried.json()["execution"]["version"] == 2  # the next write after the fault succeeds
    store.close()


async def test_failed_fsync_is_a_500_and_is_never_followed_by_a_rename(data_dir: Path) -> None:
    calls: list[str] = []

    class FailingFsync(FileIO):
        failing = False

        def fsync(self, fd: int) -> None:
            if self.failing:
                calls.append("fsync")
                raise OSError(errno.EIO, "Input/output error")
            super().fsync(fd)

        def replace(self, source: str, target: str, dir_fd: int | None = None) -> None:
            calls.append("replace")
            super().replace(source, target, dir_fd)

    disk = FailingFsync()
    store = Storehouse(backend=FileBackend(data_dir, io=disk))
    store.execution_stats("demo")
    (data_dir / "projects/demo/executions").mkdir(parents=True)
    disk.failing = True
    app = create_app(AsyncStorehouse(store=store), Settings(data_dir=data_dir))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost") as client:
        answer = await client.put("/api/projects/demo/executions/run-1", json={"status": "running"})
    store.close()
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "storage_error"
    assert calls == ["fsync"]  # one fsync, not retried, and no rename after it
    assert list((data_dir / "projects/demo/executions").iterdir()) == []
