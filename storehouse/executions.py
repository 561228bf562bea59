"""The rules of execution documents, apart from where they are stored.

A write takes what the caller sent and what is stored, and returns the document to store: managed fields
(``id``, ``projectId``, ``version``, ``createdAt``, ``updatedAt``) set by the store, ``startedAt`` defaulted,
``completedAt`` set when a run reaches a final status, ``duration`` and ``tokenUsage.total`` derived
when not given. PATCH is a JSON merge patch (RFC 7396) applied to the stored document.
"""

from __future__ import annotations

from .errors import InvalidBody, NotFound
from .models import (
    FINAL_STATUSES,
    MANAGED_FIELDS,
    JSONObject,
    JSONValue,
    millis_between,
    type_name,
    validate_execution,
)


def prepare(body: object, project: str, item: str, previous: JSONObject | None, now: str) -> JSONObject:
    """Validate a body (POST, PUT, or a merged PATCH) and return the complete document to store as item.

    Raises InvalidBody if the body is not an object, does not validate, or names another id or project.
    """
    if not isinstance(body, dict):
        raise InvalidBody(f"the body must be a JSON object (an execution), got {type_name(body)}")
    for name, expected in (("id", item), ("projectId", project)):
        if body.get(name) is not None and body[name] != expected:
            raise InvalidBody(
                f"{name} is {body[name]!r} in the body but {expected!r} in the path; leave it out or match"
            )
    candidate = {key: value for key, value in body.items() if key not in MANAGED_FIELDS}
    candidate["id"], candidate["projectId"] = item, project
    document = validate_execution(candidate)
    if document["startedAt"] is None:
        document["startedAt"] = previous["startedAt"] if previous and previous.get("startedAt") else now
    if document["status"] in FINAL_STATUSES and document["completedAt"] is None:
        document["completedAt"] = now
    if document["duration"] is None and document["completedAt"] is not None:
        document["duration"] = millis_between(document["startedAt"], document["completedAt"])
    document["version"] = 1 if previous is None else previous["version"] + 1
    document["createdAt"] = (previous.get("createdAt") or previous.get("startedAt") or now) if previous else now
    document["updatedAt"] = now
    return document


def patch(previous: JSONObject | None, changes: object, project: str, item: str, now: str) -> JSONObject:
    """Apply a JSON merge patch to the stored document and return the document to store.

    Fields derived from others (``duration``, ``tokenUsage.total``) are derived again when the patch changes
    their sources without setting them. Raises NotFound if nothing is stored, InvalidBody for a bad patch.
    """
    if previous is None:
        raise NotFound(f"execution {item} not found in project {project}; create it with POST or PUT")
    if not isinstance(changes, dict):
        raise InvalidBody(f"a merge patch must be a JSON object, got {type_name(changes)}")
    merged = merge_patch(previous, changes)
    assert isinstance(merged, dict)
    if ("startedAt" in changes or "completedAt" in changes) and "duration" not in changes:
        merged["duration"] = None
    usage = changes.get("tokenUsage")
    if isinstance(usage, dict) and "total" not in usage and isinstance(merged.get("tokenUsage"), dict):
        merged["tokenUsage"].pop("total", None)
    if changes.get("status") in ("pending", "running") and "completedAt" not in changes:
        merged["completedAt"] = None  # back to live: the old end time no longer holds
        merged["duration"] = changes.get("duration")
    return prepare(merged, project, item, previous, now)


def merge_patch(target: JSONValue, changes: JSONValue) -> JSONValue:
    """RFC 7396: objects merge key by key, ``null`` removes a key, anything else replaces."""
    if not isinstance(changes, dict):
        return changes
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in changes.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result
