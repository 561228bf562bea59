"""Context for prompts (issue #6 item 5) and project metrics (item 6)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storehouse import Storehouse
from storehouse.context import MAX_MAX_CHARS, MIN_MAX_CHARS, assemble
from storehouse.errors import InvalidParameter, NotFound


@pytest.fixture
def project(store: Storehouse) -> Storehouse:
    """Project p: T-7 requires db (succeeded, with a result), one recorded run, a validation, history."""
    store.create_task("p", id="db", title="Set up the database", status="running")
    store.transition_task("p", "db", "succeeded")
    store.patch_task("p", "db", {"resultSummary": "schema created with 4 tables"})
    store.create_task(
        "p",
        id="T-7",
        title="Fix the login bug",
        description="Users cannot log in after the migration.",
        priority="high",
        complexityScore=5,
        requirements=["keep sessions", {"description": "no downtime"}],
        acceptanceCriteria=["all login tests pass"],
        affectedFiles=["src/auth.py"],
        assignedTo="coder",
    )
    store.add_dependency("p", "T-7", "db", "requires")
    with store.record("p", "triage", task_id="T-7") as run:
        run.add_tokens(input=1000, output=200)
        run.log("agent_turn", "Looked at auth.py; the hash changed.", role="coder")
    store.add_history(
        "p",
        "T-7",
        {
            "type": "validation_result",
            "content": "login suite",
            "metadata": {"validator": "tests", "status": "failed", "score": 0.4, "details": "2 of 5 failed"},
        },
    )
    return store


def test_markdown_has_every_part_in_order_newest_first(project: Storehouse) -> None:
    text = project.task_context("p", "T-7")
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Task T-7: Fix the login bug",
        "## Description",
        "## Requirements",
        "## Acceptance criteria",
        "## Affected files",
        "## Dependencies",
        "## Validation results (newest first)",
        "## Recent runs (newest first)",
        "## History (newest first)",
    ]
    assert "Status: pending · Priority: high · Complexity: 5/10 · Assigned to: coder" in text
    assert '- db (requires) "Set up the database": succeeded - result: schema created with 4 tables' in text
    assert "tests: failed (score 0.4); details: 2 of 5 failed; login suite" in text
    assert '"triage": completed' in text
    assert "1,200 tokens" in text
    history = text[text.index("## History") :].splitlines()[1:]
    assert [line.split("]")[0].split("[")[1] for line in history if line] == [
        "agent_complete",
        "agent_turn",
        "agent_start",
    ]
    assert "validation_result" not in text  # it has its own part
    assert "[cut:" not in text


def test_json_has_the_same_parts(project: Storehouse) -> None:
    body = json.loads(project.task_context("p", "T-7", format="json"))
    assert body["task"]["title"] == "Fix the login bug"
    assert [d["taskId"] for d in body["dependencies"]] == ["db"]
    assert body["dependencies"][0]["task"]["resultSummary"] == "schema created with 4 tables"
    assert body["validations"][0]["metadata"]["validator"] == "tests"
    assert [e["type"] for e in body["history"]] == ["agent_complete", "agent_turn", "agent_start"]
    assert len(body["executions"]) == 1
    assert (body["truncated"], body["omitted"]) == (False, 0)


@pytest.mark.parametrize("fmt", ["markdown", "json"])
def test_every_budget_is_kept_and_a_cut_is_marked(project: Storehouse, fmt: str) -> None:
    whole = project.task_context("p", "T-7", format=fmt, max_chars=MAX_MAX_CHARS)
    for budget in range(MIN_MAX_CHARS, len(whole) + 50, 37):
        text = project.task_context("p", "T-7", format=fmt, max_chars=budget)
        assert len(text) <= budget
        cut = len(whole) > budget
        if fmt == "markdown":
            assert ("[cut:" in text) == cut
        else:
            assert json.loads(text)["truncated"] == cut


def test_the_same_data_gives_the_same_text(project: Storehouse) -> None:
    for fmt in ("markdown", "json"):
        assert project.task_context("p", "T-7", format=fmt) == project.task_context("p", "T-7", format=fmt)


def test_bad_format_budget_or_task_is_refused(project: Storehouse) -> None:
    with pytest.raises(InvalidParameter, match="format"):
        project.task_context("p", "T-7", format="html")
    for budget in (MIN_MAX_CHARS - 1, MAX_MAX_CHARS + 1):
        with pytest.raises(InvalidParameter, match="maxChars"):
            project.task_context("p", "T-7", max_chars=budget)
    with pytest.raises(NotFound):
        project.task_context("p", "nope")


# -- pure: any input, any budget -----------------------------------------------------------------------------
texts = st.text(min_size=0, max_size=300)
ids = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}", fullmatch=True)
tasks = st.fixed_dictionaries(
    {
        "id": ids,
        "title": st.text(min_size=1, max_size=2000),
        "status": st.sampled_from(["pending", "running", "succeeded", "failed", "cancelled"]),
        "priority": st.sampled_from(["low", "medium", "high", "critical"]),
        "complexityScore": st.one_of(st.none(), st.integers(1, 10)),
        "description": st.one_of(st.none(), st.text(max_size=3000)),
        "requirements": st.lists(st.one_of(texts, st.fixed_dictionaries({"description": texts})), max_size=5),
        "tags": st.lists(texts, max_size=3),
    }
)
entries = st.lists(
    st.fixed_dictionaries(
        {
            "createdAt": st.just("2026-01-01T00:00:00.000Z"),
            "type": st.sampled_from(["log", "agent_turn", "chat_message"]),
            "role": st.one_of(st.none(), texts),
            "content": st.one_of(st.none(), st.text(max_size=1000)),
            "metadata": st.one_of(st.none(), st.fixed_dictionaries({"validator": texts, "status": texts})),
        }
    ),
    max_size=8,
)
runs = st.lists(
    st.fixed_dictionaries(
        {
            "id": ids,
            "name": st.one_of(st.none(), texts),
            "status": st.sampled_from(["completed", "failed"]),
            "startedAt": st.just("2026-01-01T00:00:00.000Z"),
            "duration": st.one_of(st.none(), st.integers(0, 10**9)),
            "tokenUsage": st.fixed_dictionaries({"total": st.integers(0, 10**9)}),
            "costUSD": st.floats(0, 1000),
            "error": st.one_of(st.none(), texts),
        }
    ),
    max_size=5,
)
deps = st.lists(
    st.fixed_dictionaries(
        {
            "taskId": ids,
            "type": st.sampled_from(["blocks", "requires", "related"]),
            "task": st.one_of(st.none(), st.fixed_dictionaries({"title": texts, "status": texts})),
        }
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    task=tasks,
    dependencies=deps,
    executions=runs,
    validations=entries,
    history=entries,
    fmt=st.sampled_from(["markdown", "json"]),
    budget=st.integers(MIN_MAX_CHARS, 6000),
)
def test_any_context_keeps_its_budget_and_is_the_same_twice(
    task: dict[str, Any],
    dependencies: list[dict[str, Any]],
    executions: list[dict[str, Any]],
    validations: list[dict[str, Any]],
    history: list[dict[str, Any]],
    fmt: str,
    budget: int,
) -> None:
    text = assemble(task, dependencies, executions, validations, history, fmt, budget)
    assert len(text) <= budget
    assert text == assemble(task, dependencies, executions, validations, history, fmt, budget)
    if fmt == "json":
        assert json.loads(text)["task"]["id"] == task["id"]
    else:
        assert text.startswith(f"# Task {task['id']}"[: budget // 2])


def test_the_text_is_the_same_in_another_process(project: Storehouse) -> None:
    script = (
        "import sys; from storehouse import Storehouse; print(Storehouse(sys.argv[1]).task_context('p', 'T-7'), end='')"
    )
    data_dir = str(project.settings.data_dir)
    other = subprocess.run([sys.executable, "-c", script, data_dir], capture_output=True, text=True, check=True)
    assert other.stdout == project.task_context("p", "T-7")


# -- over HTTP, and metrics ----------------------------------------------------------------------------------
async def test_context_over_http(project: Storehouse, http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/projects/p/tasks/T-7/context")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/markdown")
    assert answer.text == project.task_context("p", "T-7")
    answer = await http.get("/api/projects/p/tasks/T-7/context", params={"format": "json", "maxChars": 600})
    assert answer.headers["content-type"].startswith("application/json")
    assert len(answer.text) <= 600
    assert answer.json()["truncated"] is True
    for params in ({"format": "xml"}, {"maxChars": "10"}, {"maxChars": "lots"}, {"depth": "1"}):
        assert (await http.get("/api/projects/p/tasks/T-7/context", params=params)).status_code == 400
    assert (await http.get("/api/projects/p/tasks/nope/context")).status_code == 404


async def test_metrics_count_tasks_and_runs(project: Storehouse, http: httpx.AsyncClient) -> None:
    project.create_task("p", id="extra", title="Later", complexityScore=3)
    project.create_execution("p", status="failed", costUSD=0.5, tokenUsage={"input": 10, "output": 5})
    answer = await http.get("/api/projects/p/metrics")
    assert answer.status_code == 200
    metrics = answer.json()
    assert metrics["tasksByStatus"] == {"pending": 2, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0}
    assert (metrics["totalTasks"], metrics["pendingTasks"], metrics["readyTasks"]) == (3, 2, 2)
    assert metrics["averageComplexity"] == 4.0
    assert metrics["executionsByStatus"]["completed"] == 1
    assert metrics["executionsByStatus"]["failed"] == 1
    assert (metrics["totalExecutions"], metrics["totalTokens"]) == (2, 1215)
    assert metrics["totalCostUSD"] == pytest.approx(0.5)
    empty = (await http.get("/api/projects/none/metrics")).json()
    assert (empty["totalTasks"], empty["totalExecutions"], empty["averageComplexity"]) == (0, 0, None)
