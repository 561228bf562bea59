"""Executions by day: runs by status, cost, tokens and the p50 and p95 duration of each day (UTC).

The figures behind the web page's charts. Every day of the range is listed, zero-filled, so a chart of N days
has N points. Served from the index by one range scan of the start-time index: it reads the runs of the range
(about 95 ms for 30 days of 100,000 runs over 90; per-day rows kept by triggers are the known fix).
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

from .backends.base import Backend
from .errors import InvalidParameter
from .ids import check_id
from .index import STATUSES
from .models import MAX_INT, JSONObject

MAX_DAYS = 366
DEFAULT_DAYS = 30


def percentile(ordered: list[int], share: float) -> int | None:
    """The nearest-rank percentile of sorted values (``share`` 0.5 for the median); None when there are none."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def daily_stats(
    backend: Backend,
    project: str,
    days: int = DEFAULT_DAYS,
    until: str | None = None,
    floor: tuple[str, str] | None = None,
) -> JSONObject:
    """``{"from", "to", "days": [{"date", "runs", "byStatus", "costUSD", "tokens", "p50Duration",
    "p95Duration"}]}`` for the ``days`` days ending ``until`` (``YYYY-MM-DD``, UTC), oldest first.

    ``until`` defaults to the day of the project's newest run (today if it has none), so a project whose
    runs stopped a while ago still shows them. Runs below ``floor`` (hidden by run retention) are left out.
    InvalidParameter names a bad argument.
    """
    check_id(project, "projectId")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidParameter(f"days must be between 1 and {MAX_DAYS}, got {days!r}")
    last = _day(until) if until is not None else None
    if last is None:
        newest = backend.last_started(project)
        last = date.fromisoformat(newest[:10]) if newest else datetime.now(UTC).date()
    if (last - date.min).days < days - 1:
        raise InvalidParameter(f"days={days} before {last.isoformat()} reaches back past year 1")
    first = last - timedelta(days=days - 1)
    # timestamps are canonical text, so a day's runs are those from "YYYY-MM-DDT" up to the next day's
    end = f"{(last + timedelta(days=1)).isoformat()}T" if last < date.max else "A"  # "9999-..." sorts before "A"
    found = backend.daily(project, f"{first.isoformat()}T", end, floor)
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    money: dict[str, int] = defaultdict(int)
    tokens: dict[str, int] = defaultdict(int)
    for day, status, runs, cost_nanos, token_sum in found.counts:
        counts[day][status] = counts[day].get(status, 0) + runs
        money[day] += cost_nanos
        tokens[day] += token_sum
    durations: dict[str, list[int]] = defaultdict(list)
    for day, duration in found.durations:
        durations[day].append(duration)
    listed: list[JSONObject] = []
    for offset in range(days):
        day = (first + timedelta(days=offset)).isoformat()
        by_status = {status: counts[day].get(status, 0) if day in counts else 0 for status in STATUSES}
        listed.append(
            {
                "date": day,
                "runs": sum(by_status.values()),
                "byStatus": by_status,
                "costUSD": money.get(day, 0) / 1e9,
                "tokens": min(tokens.get(day, 0), MAX_INT),  # exact below 2**63, saturated there
                "p50Duration": percentile(durations.get(day, []), 0.5),
                "p95Duration": percentile(durations.get(day, []), 0.95),
            }
        )
    return {"from": first.isoformat(), "to": last.isoformat(), "days": listed}


def _day(text: str) -> date:
    try:
        if not isinstance(text, str) or len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidParameter(f"until must be a date such as 2026-11-20 (YYYY-MM-DD, UTC), got {text!r}") from None
