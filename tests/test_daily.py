"""Executions by day (``Storehouse.daily_stats`` and ``GET .../executions/stats/daily``): checked against the
runs themselves, computed here the plain way."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest

from storehouse import InvalidParameter, Storehouse
from storehouse.daily import percentile
from storehouse.models import MAX_COST, MAX_TOKENS, format_timestamp
from tests.http.test_executions import assert_error

STATUSES = ("pending", "running", "completed", "failed", "cancelled")


def nearest_rank(values: list[int], share: float) -> int | None:
    ordered = sorted(values)
    return ordered[math.ceil(share * len(ordered)) - 1] if ordered else None


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7], 0.95) == 7
    assert percentile([1, 2, 3, 4], 0.5) == 2
    assert percentile(list(range(1, 101)), 0.95) == 95
    assert percentile(list(range(1, 101)), 0.5) == 50


def test_days_match_the_runs_they_count(store: Storehouse) -> None:
    rng = random.Random(3)
    last = datetime(2026, 3, 10, 23, 59, tzinfo=UTC)
    expected: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for number in range(300):
        start = last - timedelta(days=rng.randint(0, 12), hours=rng.randint(0, 23), minutes=rng.randint(0, 59))
        status = rng.choice(STATUSES)
        run = {
            "id": f"r{number}",
            "status": status,
            "startedAt": format_timestamp(start),
            "costUSD": rng.randint(0, 1000) / 1000,
            "tokenUsage": {"input": rng.randint(0, 500), "output": rng.randint(0, 500)},
        }
        if status in ("completed", "failed", "cancelled") or rng.random() < 0.3:
            run["duration"] = rng.randint(0, 100_000)
        expected[start.date().isoformat()].append(store.create_execution("demo", run))
    found = store.daily_stats("demo", days=10)
    assert (found["from"], found["to"]) == ("2026-03-01", "2026-03-10")  # until: the newest run's day
    assert [day["date"] for day in found["days"]] == [f"2026-03-{n:02d}" for n in range(1, 11)]
    for day in found["days"]:
        runs = expected[day["date"]]
        durations = [run["duration"] for run in runs if run["duration"] is not None]
        assert day["runs"] == len(runs)
        assert day["byStatus"] == {status: sum(run["status"] == status for run in runs) for status in STATUSES}
        assert day["costUSD"] == pytest.approx(sum(float(run["costUSD"]) for run in runs))
        assert day["tokens"] == sum(run["tokenUsage"]["total"] for run in runs)
        assert day["p50Duration"] == nearest_rank(durations, 0.5)
        assert day["p95Duration"] == nearest_rank(durations, 0.95)
    assert sum(day["runs"] for day in store.daily_stats("demo", days=13)["days"]) == 300


def test_a_range_without_runs_is_zero_filled(store: Storehouse) -> None:
    store.create_execution("demo", startedAt="2026-03-10T23:59:59.999Z", status="completed", duration=5)
    found = store.daily_stats("demo", days=3, until="2026-03-11")
    assert [(day["date"], day["runs"], day["p50Duration"]) for day in found["days"]] == [
        ("2026-03-09", 0, None),
        ("2026-03-10", 1, 5),
        ("2026-03-11", 0, None),
    ]
    nothing = store.daily_stats("nowhere", days=2, until="2026-01-01")
    assert [day["runs"] for day in nothing["days"]] == [0, 0]


@pytest.mark.parametrize(
    ("days", "until"),
    [(0, None), (367, None), (True, None), (1, "2026-13-01"), (1, "yesterday"), (1, "2026-1-1"), (2, "0001-01-01")],
)
def test_bad_arguments_raise_invalid_parameter(store: Storehouse, days: int, until: str | None) -> None:
    with pytest.raises(InvalidParameter):
        store.daily_stats("demo", days=days, until=until)


def test_the_last_days_of_the_calendar_are_fine(store: Storehouse) -> None:
    store.create_execution("demo", startedAt="9999-12-31T10:00:00Z")
    assert store.daily_stats("demo", days=1)["days"][0]["runs"] == 1


async def test_http_serves_the_same_figures(http: httpx.AsyncClient, store: Storehouse) -> None:
    store.create_execution("demo", startedAt="2026-03-10T10:00:00Z", status="failed", duration=40, costUSD=0.5)
    answer = await http.get("/api/projects/demo/executions/stats/daily", params={"days": 2})
    assert answer.status_code == 200
    assert answer.json() == store.daily_stats("demo", days=2)
    assert answer.json()["days"][1]["byStatus"]["failed"] == 1
    for params in ({"days": "0"}, {"days": "x"}, {"until": "03/10/2026"}, {"other": "1"}):
        assert_error(await http.get("/api/projects/demo/executions/stats/daily", params=params), 400)


async def test_daily_sums_past_64_bits_are_exact(http: httpx.AsyncClient, store: Storehouse) -> None:
    # issue #13 item 7: ten runs of the highest cost (1e18 nano-dollars each) made SQLite's sum() raise: a 500
    for _ in range(10):
        store.create_execution("demo", startedAt="2026-03-10T10:00:00Z", status="completed", costUSD=MAX_COST)
    folder = store.settings.data_dir / "projects" / "demo" / "executions"
    big = {"input": MAX_TOKENS, "output": 0, "total": MAX_TOKENS}
    for n in range(1030):  # 1,025 of the most tokens pass 2**63 - 1; copied in by hand, which is quicker
        started = "2026-03-09T10:00:00Z" if n < 1024 else "2026-03-10T11:00:00Z"
        (folder / f"big-{n:04d}.json").write_bytes(orjson.dumps({"startedAt": started, "tokenUsage": big}))
    with Storehouse(store.settings.data_dir) as reopened:
        days = reopened.daily_stats("demo", days=2, until="2026-03-10")["days"]
    assert [day["runs"] for day in days] == [1024, 16]
    assert days[0]["tokens"] == 1024 * MAX_TOKENS  # past a double's 2**53, still exact
    assert (days[1]["tokens"], days[1]["costUSD"]) == (6 * MAX_TOKENS, 10 * MAX_COST)
    answer = await http.get("/api/projects/demo/executions/stats/daily", params={"days": 2, "until": "2026-03-10"})
    assert answer.status_code == 200
    assert [day["tokens"] for day in answer.json()["days"]] == [1024 * MAX_TOKENS, 6 * MAX_TOKENS]


def test_daily_tokens_past_2_63_saturate(store: Storehouse) -> None:
    folder = store.settings.data_dir / "projects" / "demo" / "executions"
    folder.mkdir(parents=True)
    big = {"input": MAX_TOKENS, "output": 0, "total": MAX_TOKENS}
    run = orjson.dumps({"startedAt": "2026-03-10T10:00:00Z", "tokenUsage": big})
    for n in range(1025):
        (folder / f"big-{n:04d}.json").write_bytes(run)
    with Storehouse(store.settings.data_dir) as reopened:
        assert reopened.daily_stats("demo", days=1)["days"][0]["tokens"] == (1 << 63) - 1
