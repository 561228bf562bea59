"""Ids: the pattern check, time-sortable new ids, and the only place an id becomes part of a path.

Project, execution and task ids are path components, so every id is checked against ``ID_PATTERN``
before any path is built from it; ``id_path`` is the one function that joins an id onto a directory.
"""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path

from .errors import InvalidId

ID_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
ID_RULE = "1-128 characters from A-Z a-z 0-9 . _ -, not starting with '.' or '-'"

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_last_lock = threading.Lock()
_last: tuple[int, int] = (0, 0)


def is_valid_id(value: object) -> bool:
    """Tell whether value is a string that may be used as a project, execution or task id."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def check_id(value: object, what: str = "id") -> str:
    """Return value if it is a valid id; raise InvalidId naming ``what`` otherwise."""
    if not is_valid_id(value):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
        raise InvalidId(f"{what} must be {ID_RULE}; got {shown}")
    assert isinstance(value, str)
    return value


def new_id() -> str:
    """Return a new 26-character ULID: sorts by creation time, and strictly increases within a process."""
    global _last
    with _last_lock:
        ms = time.time_ns() // 1_000_000
        last_ms, last_rand = _last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1  # same millisecond (or clock step back): keep increasing
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> 1  # leave headroom for increments
        _last = (ms, rand)
    value = (ms << 80) | (rand & ((1 << 80) - 1))
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def id_path(directory: Path, item_id: str, suffix: str = ".json") -> Path:
    """Join a checked id onto directory; the only id-to-path join in storehouse."""
    return directory / (check_id(item_id) + suffix)
