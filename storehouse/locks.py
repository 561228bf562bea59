"""Locks shared by every process and thread that uses one data directory, held in one lock file.

A writer of one document holds that project's lock *shared* and the document's lock *exclusive*, so
writers of different documents run in parallel (their fsyncs are committed together by the file system)
while two writers of one document, or a writer and a project-wide rebuild, take turns.

Across processes these are open-file-description (OFD) byte-range locks on single bytes of the lock
file: the kernel drops them when the process dies, so a killed writer never leaves a lock behind. OFD
locks, unlike classic POSIX ``lockf`` locks, are not subject to the kernel's per-process deadlock
detection, which reports false ``EDEADLK`` when two multi-threaded processes lock crossing documents, and
are not dropped when some other descriptor of the file is closed. Threads of one process share the
descriptor, so each byte is also guarded by a lock inside the process.

A project-wide exclusive holder (open, reindex, check) first takes a *gate* byte, which new shared holders
must pass, so a steady stream of writers cannot starve it.
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import weakref
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

DOCUMENT_STRIPES = 1 << 16
_PROJECT_BASE = 1 << 20  # project bytes lie above every document byte
_GATE_BASE = 1 << 21  # the gate of a project lies above every project byte
_PROJECT_STRIPES = 1 << 16
_NAMED_BASE = 1 << 22  # named locks (a project's task graph) lie above every gate byte
_NAMED_STRIPES = 1 << 16
_INDEX_BYTE = 0  # guards creating or replacing the index file itself
_THREAD_STRIPES = 1024
_FLOCK = "hhqqi4x"  # struct flock on Linux: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks)


def _lock(fd: int, kind: int, offset: int) -> None:
    """Wait for, then take, an OFD lock (``fcntl.F_RDLCK``, ``F_WRLCK``) or release it (``F_UNLCK``)."""
    fcntl.fcntl(fd, fcntl.F_OFD_SETLKW, struct.pack(_FLOCK, kind, os.SEEK_SET, offset, 1, 0))


class _SharedExclusive:
    """A readers-writer lock on one byte: shared by many threads and processes, or held by one writer.

    Writers are preferred: once a writer waits (in this process, or at the gate byte in another), new
    readers wait for it, so readers cannot starve it.
    """

    def __init__(self, table: LockTable, offset: int, gate: int | None) -> None:
        self._table = table
        self._offset = offset
        self._gate = gate
        self._condition = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    def acquire_shared(self) -> None:
        if self._gate is not None:  # wait here while another process's exclusive holder is queued
            _lock(self._table.fd, fcntl.F_RDLCK, self._gate)
            _lock(self._table.fd, fcntl.F_UNLCK, self._gate)
        with self._condition:
            while self._writer or self._waiting_writers:
                self._condition.wait()
            if self._readers == 0:  # the first reader in this process takes the byte for all of them
                _lock(self._table.fd, fcntl.F_RDLCK, self._offset)
            self._readers += 1

    def release_shared(self) -> None:
        with self._condition:
            self._readers -= 1
            if self._readers == 0:
                _lock(self._table.fd, fcntl.F_UNLCK, self._offset)
                self._condition.notify_all()

    def acquire_exclusive(self) -> None:
        with self._condition:
            self._waiting_writers += 1
            try:
                while self._writer or self._readers:
                    self._condition.wait()
            finally:
                self._waiting_writers -= 1
            self._writer = True
        try:
            if self._gate is not None:
                _lock(self._table.fd, fcntl.F_WRLCK, self._gate)
            try:
                _lock(self._table.fd, fcntl.F_WRLCK, self._offset)
            finally:
                if self._gate is not None:
                    _lock(self._table.fd, fcntl.F_UNLCK, self._gate)
        except BaseException:
            self._release_writer()
            raise

    def release_exclusive(self) -> None:
        _lock(self._table.fd, fcntl.F_UNLCK, self._offset)
        self._release_writer()

    def _release_writer(self) -> None:
        with self._condition:
            self._writer = False
            self._condition.notify_all()


class LockTable:
    """The locks of one data directory for this process.

    ``LockTable.open`` hands every caller in a process the same table for a given file (two tables would
    hold separate in-process state for the same bytes), and ``release`` closes it when the last one lets go.
    """

    _shared: ClassVar[dict[str, tuple[LockTable, int]]] = {}
    _shared_guard: ClassVar[threading.Lock] = threading.Lock()
    _every: ClassVar[weakref.WeakSet[LockTable]] = weakref.WeakSet()

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
            self.close()  # under the guard: a new table for this file cannot be opened meanwhile

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._reset()
        LockTable._every.add(self)

    def _reset(self) -> None:
        self._thread_locks = [threading.Lock() for _ in range(_THREAD_STRIPES)]
        self._projects: dict[int, _SharedExclusive] = {}
        self._named: dict[int, _SharedExclusive] = {}
        self._projects_guard = threading.Lock()
        self._index = _SharedExclusive(self, _INDEX_BYTE, None)

    def close(self) -> None:
        """Release the lock file (and with it every lock this table holds in it)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    @classmethod
    def _after_fork_in_child(cls) -> None:
        # The child shares each inherited descriptor's open file description, and so its OFD locks, with
        # the parent, and its copies of thread locks may be held by threads that do not exist in it: give
        # every table a descriptor and in-process state of its own.
        cls._shared_guard = threading.Lock()
        for table in list(cls._every):
            if table.fd >= 0:
                os.close(table.fd)  # the parent's locks stay: its own descriptor keeps the description
                table.fd = os.open(table.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                table._reset()

    @contextmanager
    def document(self, project: str, item: str) -> Iterator[None]:
        """Hold one document exclusively (and its project shared) across processes and threads."""
        offset = 1 + zlib.crc32(f"{project}/{item}".encode()) % DOCUMENT_STRIPES
        with self.project_shared(project), self._thread_locks[offset % _THREAD_STRIPES]:
            _lock(self.fd, fcntl.F_WRLCK, offset)
            try:
                yield
            finally:
                _lock(self.fd, fcntl.F_UNLCK, offset)

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
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold a named lock alone across processes and threads (a project's task graph: ``graph/<project>``).

        Apart from the document and project locks: a holder may take document locks and open projects
        inside it, but must not take another named lock.
        """
        stripe = zlib.crc32(name.encode()) % _NAMED_STRIPES
        with self._projects_guard:
            lock = self._named.get(stripe)
            if lock is None:
                lock = self._named[stripe] = _SharedExclusive(self, _NAMED_BASE + stripe, None)
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
        stripe = zlib.crc32(project.encode()) % _PROJECT_STRIPES
        with self._projects_guard:
            lock = self._projects.get(stripe)
            if lock is None:
                lock = self._projects[stripe] = _SharedExclusive(self, _PROJECT_BASE + stripe, _GATE_BASE + stripe)
            return lock


os.register_at_fork(after_in_child=LockTable._after_fork_in_child)
