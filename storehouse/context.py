"""Context for prompts: what an agent needs to know to continue a task, within a size budget.

``assemble`` is pure: the same task, dependencies, runs and history give the same text, byte for byte. Parts
come in a fixed order of importance: the task itself, then its dependencies (status and result), its
validation results, its recent runs and its history entries, each newest first. When the budget runs out,
what does not fit is left out whole (a part is never half shown, except the task's own text when even that is
too long) and a marker says what was cut. The result is never longer than ``max_chars``.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from .errors import InvalidParameter
from .models import JSONObject, JSONValue

FORMATS = ("markdown", "json")
DEFAULT_MAX_CHARS = 8000
MIN_MAX_CHARS = 500  # room for a task's id (up to 128 characters), some of its title, and the cut marker
MAX_MAX_CHARS = 1_000_000
RUNS = 10  # recent runs considered
ENTRIES = 30  # newest history entries considered
VALIDATIONS = 10  # newest validation results considered
_MARKER = "\n\n[cut: {n} more part(s) not shown; ask with a larger maxChars to see them]\n"
_JSON_PARTS = ("dependencies", "validations", "executions", "history")
_TASK_FIELDS = ("id", "title", "status", "priority", "complexityScore", "assignedTo", "tags", "description",
                "requirements", "acceptanceCriteria", "affectedFiles", "resultSummary")  # fmt: skip


def check_budget(fmt: str, max_chars: int) -> None:
    """InvalidParameter unless fmt is markdown or json and max_chars is within bounds."""
    if fmt not in FORMATS:
        raise InvalidParameter(f"format must be markdown or json, got {fmt!r}")
    if isinstance(max_chars, bool) or not isinstance(max_chars, int) or not MIN_MAX_CHARS <= max_chars <= MAX_MAX_CHARS:
        raise InvalidParameter(f"maxChars must be between {MIN_MAX_CHARS} and {MAX_MAX_CHARS}, got {max_chars!r}")


def assemble(
    task: JSONObject,
    dependencies: Sequence[JSONObject],
    runs: Sequence[JSONObject],
    validations: Sequence[JSONObject],
    entries: Sequence[JSONObject],
    fmt: str,
    max_chars: int,
) -> str:
    """The context of a task as Markdown or as JSON text, at most max_chars characters long."""
    check_budget(fmt, max_chars)
    if fmt == "json":
        return _as_json(task, dependencies, runs, validations, entries, max_chars)
    blocks = [_task_block(task)]
    blocks += _section("Dependencies", [_dependency(d) for d in dependencies])
    blocks += _section("Validation results (newest first)", [_validation(v) for v in validations])
    blocks += _section("Recent runs (newest first)", [_run(r) for r in runs])
    blocks += _section("History (newest first)", [_entry(e) for e in entries])
    return _fit(blocks, max_chars)


def _fit(blocks: list[str], max_chars: int) -> str:
    whole = "".join(blocks)
    if len(whole) <= max_chars:
        return whole
    text = ""
    for shown, block in enumerate(blocks):
        marker = _MARKER.format(n=len(blocks) - shown)  # never shorter than a marker for fewer parts
        if len(text) + len(block) + len(marker) <= max_chars:
            text += block
            continue
        if not text:  # even the task's own text is too long: show its beginning
            text = block[: max_chars - len(marker)]
        return text + marker
    return text


def _section(title: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    return [f"\n## {title}\n{lines[0]}", *lines[1:]]


def _task_block(task: JSONObject) -> str:
    facts = [f"Status: {task['status']}", f"Priority: {task['priority']}"]
    if task.get("complexityScore") is not None:
        facts.append(f"Complexity: {task['complexityScore']}/10")
    if task.get("assignedTo"):
        facts.append(f"Assigned to: {task['assignedTo']}")
    if task.get("tags"):
        facts.append(f"Tags: {', '.join(task['tags'])}")
    lines = [f"# Task {task['id']}: {_one_line(task['title'])}", " · ".join(facts)]
    if task.get("description"):
        lines += ["", "## Description", str(task["description"]).strip()]
    for title, name in (
        ("Requirements", "requirements"),
        ("Acceptance criteria", "acceptanceCriteria"),
        ("Affected files", "affectedFiles"),
    ):
        if task.get(name):
            lines += ["", f"## {title}", *(f"- {_item(item)}" for item in task[name])]
    if task.get("resultSummary"):
        lines += ["", "## Result so far", str(task["resultSummary"]).strip()]
    return "\n".join(lines) + "\n"


def _dependency(edge: JSONObject) -> str:
    other = edge.get("task") or {}
    line = f"- {edge['taskId']} ({edge['type']})"
    if other:
        line += f' "{_one_line(other.get("title"))}": {other.get("status")}'
        if other.get("resultSummary"):
            line += f" - result: {_one_line(other['resultSummary'], 300)}"
    else:
        line += ": not found"
    return line + "\n"


def _validation(entry: JSONObject) -> str:
    meta = entry.get("metadata") or {}
    line = f"- {entry['createdAt']} {meta.get('validator') or 'validator'}: {meta.get('status') or '?'}"
    if meta.get("score") is not None:
        line += f" (score {meta['score']})"
    for label, name in (("details", "details"), ("suggestions", "suggestions")):
        if meta.get(name):
            line += f"; {label}: {_one_line(_item(meta[name]), 400)}"
    if entry.get("content"):
        line += f"; {_one_line(entry['content'], 300)}"
    return line + "\n"


def _run(run: JSONObject) -> str:
    usage = run.get("tokenUsage") or {}
    parts = [str(run.get("status"))]
    if run.get("duration") is not None:
        parts.append(f"{run['duration'] / 1000:.1f} s")
    parts.append(f"{usage.get('total', 0):,} tokens")
    parts.append(f"${run.get('costUSD', 0):.4f}")
    line = f"- {run.get('startedAt')} {run['id']}"
    if run.get("name"):
        line += f' "{_one_line(run["name"])}"'
    line += f": {', '.join(parts)}"
    if run.get("error"):
        line += f"; error: {_one_line(run['error'], 300)}"
    return line + "\n"


def _entry(entry: JSONObject) -> str:
    who = f" {entry['role']}" if entry.get("role") else ""
    return f"- {entry['createdAt']} [{entry['type']}]{who}: {_one_line(entry.get('content') or '', 500)}\n"


def _as_json(
    task: JSONObject,
    dependencies: Sequence[JSONObject],
    runs: Sequence[JSONObject],
    validations: Sequence[JSONObject],
    entries: Sequence[JSONObject],
    max_chars: int,
) -> str:
    parts: dict[str, list[JSONValue]] = {
        "dependencies": [{**edge, "task": _brief(edge.get("task"))} for edge in dependencies],
        "validations": list(validations),
        "executions": list(runs),
        "history": list(entries),
    }
    items = [(name, item) for name in _JSON_PARTS for item in parts[name]]
    view = {name: task.get(name) for name in _TASK_FIELDS}
    body: JSONObject = {"task": view, **{name: [] for name in _JSON_PARTS}, "truncated": bool(items)}
    body["omitted"] = len(items)
    if len(_dump(body)) > max_chars:  # even the task alone is too long: its main fields, the title cut
        body["task"] = {name: task.get(name) for name in ("id", "status", "priority", "title")}
        body["truncated"] = True
        while len(_dump(body)) > max_chars and body["task"]["title"]:
            body["task"]["title"] = str(body["task"]["title"])[: len(str(body["task"]["title"])) // 2]
    cut_task = body["task"] is not view
    for name, item in items:
        body[name].append(item)
        body["omitted"] -= 1
        body["truncated"] = cut_task or body["omitted"] > 0
        if len(_dump(body)) > max_chars:
            body[name].pop()
            body["omitted"] += 1
            body["truncated"] = True
            break
    return _dump(body)


def _brief(summary: JSONValue) -> JSONValue:
    if not isinstance(summary, dict):
        return summary
    return {name: summary.get(name) for name in ("id", "title", "status", "resultSummary")}


def _dump(value: JSONValue) -> str:
    return orjson.dumps(value).decode()


def _item(value: JSONValue) -> str:
    if isinstance(value, str):
        return _one_line(value, 500)
    if isinstance(value, dict) and isinstance(value.get("description"), str):
        return _one_line(value["description"], 500)
    return _one_line(_dump(value), 500)


def _one_line(value: JSONValue, width: int = 200) -> str:
    text = " ".join(str(value if value is not None else "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
