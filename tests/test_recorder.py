"""record() tells the history of its task as it goes (issue #5 item 5): start, steps, run.log(), the end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storehouse import AsyncStorehouse, Storehouse
from storehouse.errors import InvalidBody, InvalidRequest


def history(store: Storehouse, task: str = "T-7") -> list[tuple[str, str | None]]:
    return [(entry["type"], entry["content"]) for entry in store.list_history("demo", task).entries]


def test_a_run_of_a_task_logs_its_start_steps_messages_and_end(store: Storehouse) -> None:
    with store.record("demo", "triage", task_id="T-7") as run:
        assert history(store) == [("agent_start", "triage")]  # durable before the block even starts
        run.add_step("plan", agent="planner", status="completed")
        run.log("chat_message", "what broke?", role="user", session_id="s-1")
        assert history(store)[-1] == ("chat_message", "what broke?")  # at once, not at the end
        run.add_tokens(input=10, output=5)
    assert history(store) == [
        ("agent_start", "triage"),
        ("execution_step", "plan"),
        ("chat_message", "what broke?"),
        ("agent_complete", "triage"),
    ]
    entries = store.list_history("demo", "T-7").entries
    assert {entry["executionId"] for entry in entries} == {run.id}
    assert entries[1]["role"] == "planner"
    assert entries[1]["metadata"] == {"status": "completed"}
    assert entries[2]["sessionId"] == "s-1"
    end = entries[-1]["metadata"]
    assert (end["status"], end["tokens"]) == ("completed", 15)
    assert isinstance(end["duration"], int)


def test_a_failing_run_logs_an_error_entry_with_the_error(store: Storehouse) -> None:
    with pytest.raises(ValueError, match="boom"), store.record("demo", "triage", task_id="T-7"):
        raise ValueError("boom")
    entry = store.list_history("demo", "T-7").entries[-1]
    assert (entry["type"], entry["content"], entry["metadata"]["status"]) == ("error", "ValueError: boom", "failed")


def test_a_cancelled_run_logs_how_it_ended(store: Storehouse) -> None:
    with pytest.raises(KeyboardInterrupt), store.record("demo", "triage", task_id="T-7"):
        raise KeyboardInterrupt
    entry = store.list_history("demo", "T-7").entries[-1]
    assert (entry["type"], entry["metadata"]["status"]) == ("agent_complete", "cancelled")


def test_history_false_logs_only_what_the_block_logs(store: Storehouse) -> None:
    with store.record("demo", "quiet", task_id="T-7", history=False) as run:
        run.add_step("plan")
        run.log("log", "only this")
    assert history(store) == [("log", "only this")]


def test_a_run_without_a_task_has_no_history_to_log_to(store: Storehouse, data_dir: Path) -> None:
    with store.record("demo", "loose") as run:
        run.add_step("plan")
        with pytest.raises(InvalidRequest, match="task_id"):
            run.log("log", "nowhere")
    assert store.history_projects() == []
    with pytest.raises(InvalidRequest, match="task_id"), store.record("demo", "loose", history=True):
        pass
    assert store.list_executions("demo").total == 1  # the refused record() created nothing


def test_a_bad_log_entry_is_refused_in_the_block_and_changes_nothing(store: Storehouse) -> None:
    with store.record("demo", "triage", task_id="T-7") as run:
        with pytest.raises(InvalidBody, match="type"):
            run.log("gossip", "no such type")
        with pytest.raises(InvalidBody, match="metadata"):
            run.log("log", "x", metadata="not an object")
    assert [kind for kind, _ in history(store)] == ["agent_start", "agent_complete"]


def test_the_event_stream_sees_a_recorded_run_as_it_happens(store: Storehouse) -> None:
    start = store.change_head()
    with store.record("demo", "triage", task_id="T-7") as run:
        run.log("agent_turn", "thinking")
        during = [event.type for event in store.changes("demo", start).events]
    assert during == ["execution.created", "history.appended", "history.appended"]
    after = [event.type for event in store.changes("demo", start).events]
    assert after[3:] == ["execution.updated", "history.appended"]


async def test_async_logs_are_appended_in_order_before_the_end(data_dir: Path) -> None:
    async with AsyncStorehouse(data_dir) as store:
        async with store.record("demo", "triage", task_id="T-7") as run:
            for n in range(20):
                run.log("agent_turn", f"turn {n}")  # returns at once
            run.add_step("act", status="completed")
        page = await store.list_history("demo", "T-7", limit=100)
        contents = [entry["content"] for entry in page.entries]
        assert contents == ["triage", *[f"turn {n}" for n in range(20)], "act", "triage"]
        assert [entry["id"] for entry in page.entries] == list(range(1, 24))
        assert page.entries[-1]["type"] == "agent_complete"


async def test_async_record_fails_the_run_and_logs_the_error(data_dir: Path) -> None:
    async with AsyncStorehouse(data_dir) as store:
        ran: list[str] = []

        async def fail() -> None:
            async with store.record("demo", "bad", task_id="T-7") as run:
                ran.append(run.id)
                run.log("log", "about to fail")
                raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await fail()
        assert (await store.get_execution("demo", ran[0]))["status"] == "failed"
        page = await store.list_history("demo", "T-7")
        assert [entry["type"] for entry in page.entries] == ["agent_start", "log", "error"]
        with pytest.raises(asyncio.CancelledError):
            async with store.record("demo", "stopped", task_id="T-8"):
                raise asyncio.CancelledError
        page = await store.list_history("demo", "T-8")
        assert page.entries[-1]["metadata"]["status"] == "cancelled"


def test_snake_case_keywords_name_the_json_fields_and_camel_case_still_works_with_a_warning(
    store: Storehouse,
) -> None:
    with store.record("demo", "triage", task_id="T-7", cost_usd=0.25) as run:
        run.log("chat_message", "hi", role="user", session_id="s-1", workspace_id="w-1")
        run.set(result_summary="done")
    assert (run.document["taskId"], run.document["costUSD"], run.document["resultSummary"]) == ("T-7", 0.25, "done")
    entry = store.list_history("demo", "T-7", type="chat_message").entries[0]
    assert (entry["sessionId"], entry["workspaceId"]) == ("s-1", "w-1")
    old_record = store.record("demo", "old style", taskId="T-8")
    with pytest.warns(DeprecationWarning, match=r"record\(taskId=\.\.\.\) is deprecated; use task_id="):
        old = old_record.__enter__()
    with pytest.warns(DeprecationWarning, match=r"run.log\(sessionId=\.\.\.\) is deprecated; use session_id="):
        old.log("log", "still works", sessionId="s-2")
    old_record.__exit__(None, None, None)
    assert old.document["taskId"] == "T-8"
    assert store.list_history("demo", "T-8", type="log").entries[0]["sessionId"] == "s-2"


async def test_the_async_record_takes_snake_case_too(data_dir: Path) -> None:
    async with AsyncStorehouse(data_dir) as store:
        async with store.record("demo", "triage", task_id="T-9") as run:
            run.log("log", "async", session_id="s-3")
        page = await store.list_history("demo", "T-9", type="log")
    assert run.document["taskId"] == "T-9"
    assert page.entries[0]["sessionId"] == "s-3"
