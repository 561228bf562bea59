"""Durable file operations: the only caller of ``os.fsync`` and ``os.replace``, and the fault-injection seam.

A write goes to a temp file in the target's directory, is flushed and fsynced, renamed over the target
with ``os.replace``, and the directory is fsynced, so a reader sees the old document or the new one and a
crash leaves the old one or the new one. A failed write or fsync is never retried (Linux may have dropped
the dirty pages and would report a retried fsync as a success) and never followed by the rename.

Tests subclass ``FileIO`` and override a primitive (``write``, ``fsync``, ``replace`` ...) to inject faults.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from .errors import StorageError, StorageFull

TEMP_SUFFIX = ".tmp"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def storage_error(exc: OSError, action: str, path: Path | str) -> StorageError:
    """Turn an OSError into StorageFull (disk or quota full) or StorageError, with a message naming the file."""
    reason = exc.strerror or str(exc)
    if exc.errno in _FULL_ERRNOS:
        return StorageFull(f"could not {action} {path}: {reason}; free some space and retry (nothing was changed)")
    return StorageError(f"could not {action} {path}: {reason}")


def is_temp_name(name: str) -> bool:
    """Tell whether a directory entry is one of our temp files (``.<name>.<pid>.<random>.tmp``)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


class FileIO:
    """Atomic, durable file operations; ``durable=False`` skips the fsyncs (tests and throwaway data)."""

    def __init__(self, durable: bool = True) -> None:
        self.durable = durable

    # -- primitives: the seam a fault-injecting subclass overrides -------------------------------------
    def open_new(self, path: str) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)

    def write(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def replace(self, source: str, target: str) -> None:
        os.replace(source, target)

    def unlink(self, path: str) -> None:
        os.unlink(path)

    # -- operations ------------------------------------------------------------------------------------
    def replace_durably(self, path: Path, data: bytes) -> os.stat_result:
        """Replace path with data atomically and durably, and return the new file's stat.

        On any error the old file is intact and no temp file remains, except when only the final directory
        fsync fails: then the new file is in place but may not survive a power loss, and StorageError says so.
        Raises StorageFull on ENOSPC/EDQUOT. Costs two fsyncs (~0.35 ms on this kind of machine).
        """
        temp = f"{path.parent}/.{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
        try:
            fd = self.open_new(temp)
        except OSError as exc:
            raise storage_error(exc, "create a temp file for", path) from exc
        try:
            try:
                view = memoryview(data)
                while view:
                    written = self.write(fd, view)
                    view = view[written:]
                if self.durable:
                    self.fsync(fd)
                stat = os.fstat(fd)
            finally:
                os.close(fd)
            self.replace(temp, str(path))
        except OSError as exc:
            self._discard(temp)
            raise storage_error(exc, "write", path) from exc
        self._sync_after(path, "written")
        return stat

    def append_durably(self, path: Path, data: bytes) -> int:
        """Append data to path (created if missing) and fsync it; return the file's new size.

        All or nothing: when a write or the fsync fails (a full disk, say), the file is cut back to its size
        before the append (and that is fsynced), so a reader never sees part of it, and StorageError is raised.
        A new file's directory is fsynced too. Symlinks are not followed. Costs one fsync (two for a new file).
        """
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise storage_error(exc, "append to", path) from exc
        try:
            size = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    written = self.write(fd, view)
                    view = view[written:]
                if self.durable:
                    self.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):  # back to what was there; the next append re-checks the tail
                    os.ftruncate(fd, size)
                    if self.durable:
                        os.fsync(fd)  # a fresh fsync of the cut, not a retry of the one that failed
                raise storage_error(exc, "append to", path) from exc
        finally:
            os.close(fd)
        if size == 0:
            self._sync_after(path, "written")
        return size + len(data)

    def unlink_durably(self, path: Path) -> bool:
        """Remove path and fsync its directory; return False if it did not exist. Raises StorageError."""
        try:
            self.unlink(str(path))
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise storage_error(exc, "delete", path) from exc
        self._sync_after(path, "deleted")
        return True

    def _sync_after(self, path: Path, done: str) -> None:
        """fsync path's directory after the rename or unlink that made a change visible (the point of no return):
        an error then must not say that nothing changed."""
        try:
            self.fsync_dir(path.parent)
        except StorageError as exc:
            cause = exc.__cause__
            reason = (cause.strerror or str(cause)) if isinstance(cause, OSError) else exc.message
            kind = StorageFull if isinstance(exc, StorageFull) else StorageError
            raise kind(
                f"{path} was {done}, but syncing its directory failed ({reason}): the change is in place and "
                "may not survive a power loss"
            ) from cause

    def fsync_dir(self, directory: Path) -> None:
        """Make the entries of directory (a rename, a new or removed file) durable. Raises StorageError."""
        if not self.durable:
            return
        try:
            fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise storage_error(exc, "sync the directory", directory) from exc

    def make_dirs(self, directory: Path) -> None:
        """Create directory and its parents if missing, durably (each new entry's parent is fsynced)."""
        missing: list[Path] = []
        current = directory
        while not current.is_dir():
            missing.append(current)
            current = current.parent
        for new in reversed(missing):
            try:
                os.mkdir(new)
            except FileExistsError:
                continue
            except OSError as exc:
                raise storage_error(exc, "create the directory", new) from exc
            self.fsync_dir(new.parent)

    def sweep_temp_files(self, directory: Path, names: list[str]) -> int:
        """Remove leftover temp files among names (entries of directory); return how many went.

        Call it only while no writer can be between creating its temp file and renaming it.
        """
        removed = 0
        for name in names:
            if is_temp_name(name):
                self._discard(f"{directory}/{name}")
                removed += 1
        return removed

    def _discard(self, path: str) -> None:
        # already gone, or the disk refuses even this: the next open sweeps it
        with contextlib.suppress(OSError):
            self.unlink(path)


def read_bytes(path: Path) -> bytes | None:
    """Return the content of path, or None when it does not exist or is a symlink (never followed).

    Raises StorageError on other errors.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None
        raise storage_error(exc, "read", path) from exc
    try:
        with os.fdopen(fd, "rb") as handle:
            return handle.read()
    except IsADirectoryError:
        return None
    except OSError as exc:
        raise storage_error(exc, "read", path) from exc
