"""``Run``: the execution that ``Storehouse.record()`` keeps while a block of code runs, and what it tells the
history of its task as it goes.

Tokens, cost, fields and steps collect in memory and are saved in one write when the block ends. History
entries are different: ``run.log(...)`` appends to the task's history at once (durably, before it returns,
with the sync recorder; in order, in the background, with the async one, and all of them before the block
ends), so a follower of the task's history or of the event stream sees the run as it happens. With
``history=True`` (the default when the run has a ``taskId``), the recorder also logs ``agent_start`` on
entry, an ``execution_step`` per ``add_step``, and ``agent_complete`` or ``error`` on exit.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import InvalidRequest
from .history import Retention, validate_entry
from .models import JSONObject, JSONValue, json_fields, now_timestamp

Append = Callable[[JSONObject], None]
"""Appends one history entry to the run's task."""


class Run:
    """The execution that ``record()`` keeps; what you set or add on it is saved when the block ends."""

    def __init__(self, project: str, document: JSONObject, append: Append | None = None, steps: bool = False) -> None:
        self.project = project
        self.id: str = document["id"]
        self.task_id: str | None = document.get("taskId")
        self.document = document
        self.fields: JSONObject = {}
        self.tokens = {"input": 0, "output": 0}
        self.cost = 0.0
        self.steps: list[JSONObject] = []
        self._append = append
        self._log_steps = steps

    @property
    def output(self) -> JSONValue:
        return self.fields.get("output")

    @output.setter
    def output(self, value: JSONValue) -> None:
        self.fields["output"] = value

    def set(self, **fields: JSONValue) -> None:
        """Set fields to save when the block ends: snake_case names of the JSON's (``result_summary`` is
        ``resultSummary``; camelCase still works in this version, with a DeprecationWarning)."""
        self.fields.update(json_fields(fields, "run.set"))

    def add_tokens(self, input: int = 0, output: int = 0) -> None:
        """Add to the run's token usage."""
        self.tokens["input"] += input
        self.tokens["output"] += output

    def add_cost(self, usd: float) -> None:
        """Add to the run's cost in USD."""
        self.cost += usd

    def add_step(self, name: str, **fields: JSONValue) -> None:
        """Append a step (``agent``, ``status``, ``tokenUsage``, ``costUSD``, ``input``, ``output`` ...); with
        history on, an ``execution_step`` entry (name, agent and status) goes to the task's history now."""
        fields = json_fields(fields, "run.add_step")
        self.steps.append({"name": name, **fields})
        if self._log_steps:
            agent, status = fields.get("agent"), fields.get("status")
            self.log(
                "execution_step",
                name,
                role=agent if isinstance(agent, str) else None,
                metadata={"status": status} if status is not None else None,
            )

    def log(self, type: str, content: str | None = None, **fields: JSONValue) -> None:
        """Add an entry to the history of the run's task now, with ``executionId`` set to this run.

        ``type`` is a history type (``chat_message``, ``agent_turn``, ``log`` ...); fields are the entry's
        other fields, in snake_case (``role``, ``workspace_id``, ``session_id``, ``metadata``; camelCase still
        works in this version, with a DeprecationWarning). InvalidBody for a bad entry, InvalidRequest when the
        run has no ``taskId``.
        """
        named = json_fields(fields, "run.log")
        if self._append is None or self.task_id is None:
            raise InvalidRequest(f"run {self.id} has no taskId: record(..., task_id=...) to keep a task history")
        entry: JSONObject = {"type": type, "content": content, "executionId": self.id, **named}
        validate_entry(entry, self.task_id, now_timestamp(), Retention())  # refuse a bad entry here, not later
        self._append(entry)

    def final_entry(self, status: str, error: str | None) -> JSONObject:
        """The history entry that tells the task how the run ended."""
        stored = self.document
        metadata: JSONObject = {
            "status": stored.get("status", status),
            "duration": stored.get("duration"),
            "costUSD": stored.get("costUSD"),
            "tokens": (stored.get("tokenUsage") or {}).get("total"),
        }
        if status == "failed":
            return {"type": "error", "content": error, "executionId": self.id, "metadata": metadata}
        return {"type": "agent_complete", "content": stored.get("name"), "executionId": self.id, "metadata": metadata}

    def changes_to(self, current: JSONObject) -> JSONObject:
        """The merge patch that adds this run's collected data to the stored document ``current``."""
        changes = dict(self.fields)
        if self.tokens["input"] or self.tokens["output"]:
            usage = current["tokenUsage"]
            changes["tokenUsage"] = {
                "input": usage["input"] + self.tokens["input"],
                "output": usage["output"] + self.tokens["output"],
            }
        if self.cost:
            changes["costUSD"] = current["costUSD"] + self.cost
        if self.steps:
            changes["steps"] = [*current["steps"], *self.steps]
        return changes


def start_entry(document: JSONObject) -> JSONObject:
    """The history entry that tells the task a run started."""
    return {"type": "agent_start", "content": document.get("name"), "executionId": document["id"]}
