"""Checking the parameters of listings (executions and history) and building their queries.

Every parameter is checked here once, for the library, the HTTP API and the CLI alike: a bad one is an
InvalidParameter that names it and says what would be right, never silently clamped or ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .errors import InvalidParameter
from .history import TYPES as HISTORY_TYPES
from .history import HistoryQuery
from .ids import check_id
from .index import SORTS, STATUSES, ListQuery, decode_cursor
from .models import JSONObject, normalize_timestamp

MAX_LIMIT = 1000
DEFAULT_LIMIT = 50
DEFAULT_HISTORY_LIMIT = 100
MAX_OFFSET = (1 << 63) - 1  # SQLite's integers are 64-bit
MAX_SEARCH = 200  # characters of a search (q)


@dataclass
class HistoryPage:
    """One page of history entries, and the number of all matches."""

    entries: list[JSONObject]
    total: int


def make_history_query(
    *,
    type: str | Iterable[str] | None,
    workspace_id: str | None,
    session_id: str | None,
    execution_id: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    offset: int,
    order: str,
) -> HistoryQuery:
    """Check history read parameters; InvalidParameter names the first bad one."""
    types: tuple[str, ...] = ()
    if type is not None:
        parts = type.split(",") if isinstance(type, str) else list(type)
        types = tuple(dict.fromkeys(part.strip() for part in parts))
        for value in types:
            if value not in HISTORY_TYPES:
                raise InvalidParameter(f"type must be one or more of {', '.join(sorted(HISTORY_TYPES))}; got {value!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or not 0 <= offset <= MAX_OFFSET:
        raise InvalidParameter(f"offset must be between 0 and {MAX_OFFSET}, got {offset!r}")
    if order not in ("asc", "desc"):
        raise InvalidParameter(f"order must be asc or desc, got {order!r}")
    for name, given_id in (("workspaceId", workspace_id), ("sessionId", session_id), ("executionId", execution_id)):
        if given_id is not None:
            check_id(given_id, name)
    bounds: list[str | None] = []
    for name, given in (("since", since), ("until", until)):
        try:
            bounds.append(None if given is None else normalize_timestamp(given))
        except ValueError:
            raise InvalidParameter(f"{name} must be an RFC 3339 timestamp, got {given!r}") from None
    return HistoryQuery(types, workspace_id, session_id, execution_id, bounds[0], bounds[1], limit, offset, order)


def make_list_query(
    *,
    status: str | Iterable[str] | None,
    task_id: str | None,
    tag: str | None,
    started_after: str | None,
    started_before: str | None,
    sort: str,
    limit: int,
    offset: int,
    cursor: str | None,
    q: str | None = None,
) -> ListQuery:
    """Check list parameters and build the query; InvalidParameter names the first bad one."""
    statuses: tuple[str, ...] = ()
    if status is not None:
        parts = status.split(",") if isinstance(status, str) else list(status)
        statuses = tuple(dict.fromkeys(part.strip() for part in parts))
        for value in statuses:
            if value not in STATUSES:
                raise InvalidParameter(
                    f"status must be one or more of {', '.join(STATUSES)} (comma-separated); got {value!r}"
                )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be between 1 and {MAX_LIMIT}, got {limit!r}")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise InvalidParameter(f"offset must be 0 or more, got {offset!r}")
    if offset > MAX_OFFSET:
        raise InvalidParameter(f"offset must be at most {MAX_OFFSET} (2**63 - 1), got {offset}")
    if sort not in SORTS:
        raise InvalidParameter(f"sort must be one of {', '.join(SORTS)}; got {sort!r}")
    if cursor is not None:
        if offset:
            raise InvalidParameter("offset cannot be combined with cursor: the cursor already says where to go on")
        decode_cursor(cursor, sort)
    if task_id is not None:
        check_id(task_id, "taskId")
    if tag is not None and (not isinstance(tag, str) or not tag):
        raise InvalidParameter("tag must be a non-empty string")
    if q is not None and (not isinstance(q, str) or not 1 <= len(q) <= MAX_SEARCH):
        raise InvalidParameter(f"q must be 1 to {MAX_SEARCH} characters (an id prefix or part of a name), got {q!r}")
    bounds: list[str | None] = []
    for name, given in (("startedAfter", started_after), ("startedBefore", started_before)):
        try:
            bounds.append(None if given is None else normalize_timestamp(given))
        except ValueError:
            raise InvalidParameter(
                f"{name} must be an RFC 3339 timestamp such as 2026-01-05T10:00:05Z, got {given!r}"
            ) from None
    return ListQuery(statuses, task_id, tag, bounds[0], bounds[1], sort, limit, offset, cursor, q)
