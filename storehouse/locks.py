"""Locks shared by every process and thread that uses one data directory, held in one lock file.

A writer of one document holds that project's lock *shared* and the document's lock *exclusive*, so
writers of different documents run in parallel (their fsyncs are committed together by the file system)
while two writers of one document, or a writer and a project-wide rebuild, take turns.

Across processes these are POSIX byte-range locks (``fcntl.lockf``) on single bytes of the lock file:
the kernel drops them when a process dies, so a killed writer never leaves a lock behind. POSIX locks
belong to the process, not the thread, so each byte is also guarded by a lock inside the process.
Documents hash onto ``DOCUMENT_STRIPES`` bytes; two documents that share one only take turns.
"""

from __future__ import annotations

import fcntl
import os
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

DOCUMENT_STRIPES = 1 << 16
_PROJECT_BASE = 1 << 20  # project bytes lie above every document byte
_PROJECT_STRIPES = 1 << 16
_INDEX_BYTE = 0  # guards creating or replacing the index file itself
_THREAD_STRIPES = 1024


class _SharedExclusive:
    """A readers-writer lock on one byte: shared by many threads and processes, or held by one writer."""

    def __init__(self, fd: int, offset: int) -> None:
        self._fd = fd
        self._offset = offset
        self._condition = threading.Condition()
        self._readers = 0
        self._writer = False

    def acquire_shared(self) -> None:
        with self._condition:
            while self._writer:
                self._condition.wait()
            if self._readers == 0:  # the first reader in this process takes the byte for all of them
                fcntl.lockf(self._fd, fcntl.LOCK_SH, 1, self._offset, os.SEEK_SET)
            self._readers += 1

    def release_shared(self) -> None:
        with self._condition:
            self._readers -= 1
            if self._readers == 0:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._offset, os.SEEK_SET)
                self._condition.notify_all()

    def acquire_exclusive(self) -> None:
        with self._condition:
            while self._writer or self._readers:
                self._condition.wait()
            self._writer = True
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, self._offset, os.SEEK_SET)
        except BaseException:
            self._release_writer()
            raise

    def release_exclusive(self) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, self._offset, os.SEEK_SET)
        self._release_writer()

    def _release_writer(self) -> None:
        with self._condition:
            self._writer = False
            self._condition.notify_all()


class LockTable:
    """The locks of one data directory for this process.

    POSIX locks belong to the process, so two tables on one file in one process would not exclude each
    other (and closing one would drop the other's locks): ``LockTable.open`` hands every caller in a
    process the same table for a given file, and ``release`` closes it when the last one lets go.
    """

    _shared: ClassVar[dict[str, tuple[LockTable, int]]] = {}
    _shared_guard: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> LockTable:
        """The process's table for the lock file at path (created on first use)."""
        key = os.path.realpath(path)
        with cls._shared_guard:
            table, users = cls._shared.get(key, (None, 0))
            if table is None:
                table = cls(path)
            cls._shared[key] = (table, users + 1)
            return table

    def release(self) -> None:
        """Let go of a table from ``open``; the last user closes the file."""
        with self._shared_guard:
            for key, (table, users) in list(self._shared.items()):
                if table is self:
                    if users > 1:
                        self._shared[key] = (table, users - 1)
                        return
                    del self._shared[key]
        self.close()

    @classmethod
    def _forget_all_after_fork(cls) -> None:
        # A forked child holds none of its parent's POSIX locks, and its copies of thread locks may be
        # held by threads that do not exist in it: it starts with no tables.
        cls._shared = {}
        cls._shared_guard = threading.Lock()

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._thread_locks = [threading.Lock() for _ in range(_THREAD_STRIPES)]
        self._projects: dict[int, _SharedExclusive] = {}
        self._projects_guard = threading.Lock()
        self._index = _SharedExclusive(self._fd, _INDEX_BYTE)

    def close(self) -> None:
        """Release the lock file (and with it every lock this process holds in it)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    @contextmanager
    def document(self, project: str, item: str) -> Iterator[None]:
        """Hold one document exclusively (and its project shared) across processes and threads."""
        offset = 1 + zlib.crc32(f"{project}/{item}".encode()) % DOCUMENT_STRIPES
        with self.project_shared(project), self._thread_locks[offset % _THREAD_STRIPES]:
            fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, offset, os.SEEK_SET)
            try:
                yield
            finally:
                fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)

    @contextmanager
    def project_shared(self, project: str) -> Iterator[None]:
        """Hold a project shared: writers of single documents do, so a rebuild waits for them."""
        lock = self._project_lock(project)
        lock.acquire_shared()
        try:
            yield
        finally:
            lock.release_shared()

    @contextmanager
    def project_exclusive(self, project: str) -> Iterator[None]:
        """Hold a project alone: no write of any of its documents is in flight in any process."""
        lock = self._project_lock(project)
        lock.acquire_exclusive()
        try:
            yield
        finally:
            lock.release_exclusive()

    @contextmanager
    def index_exclusive(self) -> Iterator[None]:
        """Hold the right to create, check or replace the index file."""
        self._index.acquire_exclusive()
        try:
            yield
        finally:
            self._index.release_exclusive()

    def _project_lock(self, project: str) -> _SharedExclusive:
        offset = _PROJECT_BASE + zlib.crc32(project.encode()) % _PROJECT_STRIPES
        with self._projects_guard:
            lock = self._projects.get(offset)
            if lock is None:
                lock = self._projects[offset] = _SharedExclusive(self._fd, offset)
            return lock


os.register_at_fork(after_in_child=LockTable._forget_all_after_fork)
