"""Durable file operations: the only caller of ``os.fsync`` and ``os.replace``, and the fault-injection seam.

A write goes to a temp file in the target's directory, is flushed and fsynced, renamed over the target
with ``os.replace``, and the directory is fsynced, so a reader sees the old document or the new one and a
crash leaves the old one or the new one. A failed write or fsync is never retried (Linux may have dropped
the dirty pages and would report a retried fsync as a success) and never followed by the rename.

Tests subclass ``FileIO`` and override a primitive (``write``, ``fsync``, ``replace`` ...) to inject faults.

``open_directory`` is the one guard for paths below ``projects/`` that are not documents (a task's history, a
project's settings): it opens each component with ``O_NOFOLLOW`` and refuses a symlink, and the operations take
the ``dir_fd`` it returns, so nothing is read, written, renamed or removed through a symlink, even one swapped in
after the check (the window a path-based check leaves open).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat as stats
from collections.abc import Iterator, Sequence
from pathlib import Path

from .errors import InvalidRequest, StorageError, StorageFull

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
    # dir_fd: path is relative to that directory (``open_directory``). The operations pass it only when they
    # were given one, so a twin written before it existed still sees the calls it always saw.
    def open_new(self, path: str, dir_fd: int | None = None) -> int:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=dir_fd)

    def write(self, fd: int, data: memoryview) -> int:
        return os.write(fd, data)

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def replace(self, source: str, target: str, dir_fd: int | None = None) -> None:
        os.replace(source, target, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

    def unlink(self, path: str, dir_fd: int | None = None) -> None:
        os.unlink(path, dir_fd=dir_fd)

    # -- operations ------------------------------------------------------------------------------------
    def replace_durably(self, path: Path, data: bytes, dir_fd: int | None = None) -> os.stat_result:
        """Replace path with data atomically and durably, and return the new file's stat.

        On any error the old file is intact and no temp file remains, except when only the final directory
        fsync fails: then the new file is in place but may not survive a power loss, and StorageError says so.
        Raises StorageFull on ENOSPC/EDQUOT. Costs two fsyncs (~0.35 ms on this kind of machine). With
        ``dir_fd`` (from ``open_directory``) the file is ``path.name`` in that directory, and path names it in
        messages. A symlink at path is replaced itself, never written through.
        """
        at = {} if dir_fd is None else {"dir_fd": dir_fd}
        name = f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}{TEMP_SUFFIX}"
        temp = f"{path.parent}/{name}" if dir_fd is None else name
        try:
            fd = self.open_new(temp, **at)
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
            self.replace(temp, str(path) if dir_fd is None else path.name, **at)
        except OSError as exc:
            self._discard(temp, dir_fd)
            raise storage_error(exc, "write", path) from exc
        self._sync_after(path, "written", dir_fd)
        return stat

    def append_durably(self, path: Path, data: bytes, dir_fd: int | None = None) -> int:
        """Append data to path (created if missing) and fsync it; return the file's new size.

        All or nothing: when a write or the fsync fails (a full disk, say), the file is cut back to its size
        before the append (and that is fsynced), so a reader never sees part of it, and StorageError is raised.
        A new file's directory is fsynced too. Symlinks are not followed. Costs one fsync (two for a new file).
        With ``dir_fd``, the file is ``path.name`` in that directory (as in ``replace_durably``).
        """
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(path if dir_fd is None else path.name, flags, 0o644, dir_fd=dir_fd)
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
            self._sync_after(path, "written", dir_fd)
        return size + len(data)

    def unlink_durably(self, path: Path, dir_fd: int | None = None) -> bool:
        """Remove path (a symlink itself, never its target) and fsync its directory; return False if it did not
        exist. Raises StorageError. With ``dir_fd``, path is ``path.name`` in that directory."""
        try:
            if dir_fd is None:
                self.unlink(str(path))
            else:
                self.unlink(path.name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise storage_error(exc, "delete", path) from exc
        self._sync_after(path, "deleted", dir_fd)
        return True

    def _sync_after(self, path: Path, done: str, dir_fd: int | None = None) -> None:
        """fsync path's directory after the rename or unlink that made a change visible (the point of no return):
        an error then must not say that nothing changed."""
        try:
            if dir_fd is None:
                self.fsync_dir(path.parent)
            elif self.durable:
                try:
                    self.fsync(dir_fd)
                except OSError as exc:
                    raise storage_error(exc, "sync the directory", path.parent) from exc
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

    def make_directory_at(self, dir_fd: int, name: str, shown: Path) -> None:
        """Create the directory name in dir_fd, durably (dir_fd is fsynced after); shown names it in messages.
        An existing entry of that name is left as it is."""
        try:
            os.mkdir(name, dir_fd=dir_fd)
        except FileExistsError:
            return
        except OSError as exc:
            raise storage_error(exc, "create the directory", shown) from exc
        if self.durable:
            try:
                self.fsync(dir_fd)
            except OSError as exc:
                raise storage_error(exc, "sync the directory", shown.parent) from exc

    def _discard(self, path: str, dir_fd: int | None = None) -> None:
        # already gone, or the disk refuses even this: the next open sweeps it
        with contextlib.suppress(OSError):
            if dir_fd is None:
                self.unlink(path)
            else:
                self.unlink(path, dir_fd=dir_fd)


@contextlib.contextmanager
def open_directory(root: Path, parts: Sequence[str], what: str, create: FileIO | None = None) -> Iterator[int | None]:
    """Open ``root/parts[0]/parts[1]/...`` as a directory, following no symlink below root, and yield its fd
    (closed on exit), or None when a part is missing or is not a directory.

    The one guard for the history and settings of a project. InvalidRequest (naming ``what``) when a part is a
    symlink, wherever it leads: checked before anything is created. With ``create``, missing parts are made
    (durably, through that FileIO), each inside the one just opened, so nothing is ever created through a
    symlink; a part that is a file then raises StorageError. Each part costs one ``openat`` (~5 us).
    """
    try:
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)  # root itself is configuration: followed
    except FileNotFoundError:
        if create is None:
            yield None
            return
        create.make_dirs(root)
        fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise storage_error(exc, "open", root) from exc
    try:
        shown = root
        for part in parts:
            shown = shown / part
            child = _open_child(fd, part, shown, what)
            if child is None and create is not None:
                if not _exists(fd, part):
                    create.make_directory_at(fd, part, shown)
                    child = _open_child(fd, part, shown, what)  # a symlink planted since is refused here
                if child is None:
                    raise StorageError(f"could not create the directory {shown}: it exists and is not a directory")
            if child is None:
                yield None
                return
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _open_child(dir_fd: int, name: str, shown: Path, what: str) -> int | None:
    """The directory name in dir_fd, opened without following a symlink; None when missing or not a directory."""
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno not in (errno.ENOTDIR, errno.ELOOP):  # O_NOFOLLOW|O_DIRECTORY on a symlink: ENOTDIR here
            raise storage_error(exc, "open", shown) from exc
    if is_link(shown, dir_fd):
        raise InvalidRequest(f"{what} leads through a symlink ({shown}); storehouse does not follow it")
    return None


def _exists(dir_fd: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def is_link(path: Path, dir_fd: int | None = None) -> bool:
    """Tell whether path (``path.name`` in dir_fd, if given) is a symlink; False when it is missing."""
    try:
        info = os.stat(path if dir_fd is None else path.name, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise storage_error(exc, "inspect", path) from exc
    return stats.S_ISLNK(info.st_mode)


def is_directory(path: Path, dir_fd: int | None = None) -> bool:
    """Tell whether path (``path.name`` in dir_fd, if given) is a directory itself (a symlink to one is not)."""
    try:
        info = os.stat(path if dir_fd is None else path.name, dir_fd=dir_fd, follow_symlinks=False)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise storage_error(exc, "inspect", path) from exc
    return stats.S_ISDIR(info.st_mode)


def read_bytes(path: Path, dir_fd: int | None = None) -> bytes | None:
    """Return the content of path, or None when it does not exist or is a symlink (never followed).

    Raises StorageError on other errors. With ``dir_fd``, path is ``path.name`` in that directory.
    """
    try:
        fd = os.open(path if dir_fd is None else path.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
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
