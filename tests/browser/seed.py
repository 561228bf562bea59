"""A deterministic demo project for the browser tests (and the README screenshot).

``seed(store)`` writes, through the library:
- project ``demo``: ``RUNS`` runs over the ``DAYS`` days ending ``LAST_DAY`` (UTC), with steps, tokens, cost,
  tags, input and output; tasks forming a small dependency graph, with history entries;
- project ``ops``: ``OPS_RUNS`` runs and no tasks.

Every figure the tests check can be computed from the returned ``Seeded``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from storehouse import Storehouse
from storehouse.models import JSONObject, format_timestamp

RUNS = 240
OPS_RUNS = 12
DAYS = 14
LAST_DAY = datetime(2026, 11, 20, tzinfo=UTC)
AGENTS = ("planner", "coder", "reviewer", "tester")
WORKFLOWS = ("summarize-ticket", "fix-flaky-test", "triage-issue", "write-release-notes", "refactor-module")

# (id, title, status, priority, [(depends on, type)])
TASKS: list[tuple[str, str, str, str, list[tuple[str, str]]]] = [
    ("design", "Design the retry policy", "succeeded", "high", []),
    ("schema", "Add the retries table", "succeeded", "medium", [("design", "blocks")]),
    ("client", "Retry in the HTTP client", "running", "high", [("design", "blocks")]),
    ("worker", "Retry in the worker", "pending", "medium", [("schema", "blocks")]),
    ("docs", "Document retries", "pending", "low", [("client", "requires"), ("worker", "requires")]),
    ("metrics", "Export retry metrics", "failed", "medium", [("schema", "blocks")]),
    ("cleanup", "Remove the old retry flag", "pending", "low", [("docs", "blocks"), ("metrics", "related")]),
    ("audit", "Audit timeouts", "pending", "critical", []),
]
# the moves that bring a new (pending) task to its seeded status
PATHS = {
    "pending": [],
    "running": ["running"],
    "succeeded": ["running", "succeeded"],
    "failed": ["running", "failed"],
    "cancelled": ["cancelled"],
}


@dataclass
class Seeded:
    """What ``seed`` wrote, for the tests to compare with what the page shows."""

    runs: list[JSONObject] = field(default_factory=list)
    ops_runs: int = 0
    tasks: list[str] = field(default_factory=list)
    ready: list[str] = field(default_factory=list)
    history: dict[str, int] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return sum(1 for run in self.runs if run["status"] == status)


def seed(store: Storehouse) -> Seeded:
    rng = random.Random(7)
    seeded = Seeded()
    first_day = LAST_DAY - timedelta(days=DAYS - 1)
    for number in range(RUNS):
        seeded.runs.append(store.create_execution("demo", _run(rng, number, first_day)))
    for number in range(OPS_RUNS):
        store.create_execution("ops", _run(rng, 1000 + number, LAST_DAY - timedelta(days=2)))
    seeded.ops_runs = OPS_RUNS
    for task_id, title, _, priority, depends in TASKS:
        store.create_task(
            "demo",
            id=task_id,
            title=title,
            priority=priority,
            description=f"{title}. Seeded for the browser tests.",
            tags=["retries"],
            dependencies=[{"taskId": target, "type": kind} for target, kind in depends],
        )
        seeded.tasks.append(task_id)
    for task_id, _, status, _, _ in TASKS:
        for to in PATHS[status]:
            store.transition_task("demo", task_id, to, reason=f"seeded: {to}", actor="seed")
    done = {task_id for task_id, _, status, _, _ in TASKS if status == "succeeded"}
    seeded.ready = [
        task_id
        for task_id, _, status, _, depends in TASKS
        if status == "pending" and all(target in done for target, kind in depends if kind != "related")
    ]
    for task_id in ("client", "metrics"):
        store.add_history(
            "demo",
            task_id,
            [
                {"type": "agent_start", "content": f"coder picks up {task_id}"},
                {"type": "chat_message", "role": "assistant", "content": "Plan: wrap the call in a retry loop."},
                {"type": "log", "content": "ran 42 tests, 41 passed"},
            ],
        )
    for task_id in seeded.tasks:
        seeded.history[task_id] = store.count_history("demo", task_id)
    return seeded


def _run(rng: random.Random, number: int, first_day: datetime) -> JSONObject:
    start = first_day + timedelta(days=number % DAYS, hours=rng.randint(7, 20), minutes=rng.randint(0, 59))
    status = rng.choices(["completed", "failed", "cancelled", "running"], weights=[75, 15, 5, 5])[0]
    steps: list[JSONObject] = []
    at = start
    for index in range(rng.randint(2, 5)):
        length = timedelta(milliseconds=rng.randint(300, 20_000))
        tokens_in, tokens_out = rng.randint(200, 6000), rng.randint(50, 2000)
        steps.append(
            {
                "id": f"step-{index + 1}",
                "name": ("plan", "edit", "review", "test", "report")[index],
                "agent": AGENTS[index % len(AGENTS)],
                "status": "completed",
                "startedAt": format_timestamp(at),
                "completedAt": format_timestamp(at + length),
                "tokenUsage": {"input": tokens_in, "output": tokens_out},
                "costUSD": round((tokens_in * 3 + tokens_out * 15) / 1e6, 6),
                "input": {"prompt": f"step {index + 1} of run {number}"},
                "output": {"text": "done", "files": [f"src/module_{index}.py"]},
            }
        )
        at += length
    if status == "failed":
        steps[-1]["status"] = "failed"
        steps[-1]["error"] = "tests failed: 3 of 120"
    usage = {
        "input": sum(step["tokenUsage"]["input"] for step in steps),
        "output": sum(step["tokenUsage"]["output"] for step in steps),
    }
    run: JSONObject = {
        "id": f"run-{number:04d}",
        "name": f"{WORKFLOWS[number % len(WORKFLOWS)]}-{number}",
        "taskId": TASKS[number % len(TASKS)][0],
        "status": status,
        "startedAt": format_timestamp(start),
        "tokenUsage": usage,
        "costUSD": round(sum(step["costUSD"] for step in steps), 6),
        "steps": steps,
        "tags": ["nightly" if number % 3 == 0 else "interactive", *(["eval"] if number % 4 == 0 else [])],
        "input": {"ticket": f"T-{1000 + number}", "repository": "acme/api"},
        "metadata": {"model": "claude-sonnet", "host": "runner-2"},
    }
    if status != "running":
        run["completedAt"] = format_timestamp(at)
        run["output"] = {"summary": f"{status} after {len(steps)} steps"}
    if status == "failed":
        run["error"] = "tests failed: 3 of 120"
    return run
