"""The documents storehouse keeps, and the only place JSON camelCase meets Python snake_case.

``Execution`` validates request bodies and files alike. Fields it does not know are kept as they are
(files written by the original system may carry more), but every known field is checked: its type,
its range, its id pattern, its timestamp format. Timestamps are normalised to RFC 3339 UTC with
milliseconds (``2026-01-05T10:00:05.000Z``), which also makes them sort as text.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from .errors import InvalidBody
from .ids import is_valid_id

JSONValue = Any  # the one Any: a JSON payload of any shape ("input", "output", "metadata" values)
JSONObject = dict[str, JSONValue]

MAX_INT = (1 << 63) - 1
# The largest integer every JSON reader holds exactly (a double's 53-bit mantissa: JavaScript's
# Number.MAX_SAFE_INTEGER), so the web page and any other client see the very count or version stored.
MAX_EXACT = (1 << 53) - 1
MAX_TOKENS = MAX_EXACT  # per count of a run or a step (about 9.007e15); sums of them in stats stay exact
MAX_VERSION = MAX_EXACT  # a document at this version takes no further write (Conflict): 285 years at 1M writes/s


class ExecutionStatus(StrEnum):
    """Where a run is: ``pending`` and ``running`` are live, the other three are final."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})


def format_timestamp(moment: datetime) -> str:
    """Render a datetime as RFC 3339 UTC with milliseconds; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond // 1000:03d}Z"
    )


def parse_timestamp(value: object) -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or offset; with or without fractions; no offset means UTC)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not 10 <= len(value) <= 40:
        raise ValueError("must be an RFC 3339 timestamp such as 2026-01-05T10:00:05.000Z")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"must be an RFC 3339 timestamp such as 2026-01-05T10:00:05.000Z, got {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def normalize_timestamp(value: object) -> str:
    """Return the canonical text of a timestamp (RFC 3339 UTC, milliseconds); ValueError if it is not one."""
    try:
        return format_timestamp(parse_timestamp(value))
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError(f"must be an RFC 3339 timestamp between years 1 and 9999 in UTC, got {value!r}") from None


def now_timestamp() -> str:
    """The current time as a canonical timestamp."""
    return format_timestamp(datetime.now(UTC))


def millis_between(start: str, end: str) -> int:
    """Milliseconds from one canonical timestamp to another (never negative)."""
    delta = parse_timestamp(end) - parse_timestamp(start)
    return max(0, round(delta.total_seconds() * 1000))


def _check_id(value: str) -> str:
    if not is_valid_id(value):
        raise ValueError("must be 1-128 characters from A-Z a-z 0-9 . _ -, not starting with '.' or '-'")
    return value


Timestamp = Annotated[str, BeforeValidator(normalize_timestamp)]
Id = Annotated[str, Field(strict=True), AfterValidator(_check_id)]
Count = Annotated[int, Field(strict=True, ge=0, le=MAX_INT)]
Tokens = Annotated[int, Field(strict=True, ge=0, le=MAX_TOKENS)]
Version = Annotated[int, Field(strict=True, ge=0, le=MAX_VERSION)]
MAX_COST = 1e9  # USD per run or step: 1e18 nano-dollars, so one row always fits the index's 64-bit integers
Money = Annotated[float, Field(ge=0, le=MAX_COST, allow_inf_nan=False), BeforeValidator(lambda v: _number(v))]
Text = Annotated[str, Field(strict=True)]


def _number(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class TokenUsage(_Model):
    """Tokens a run or step used, each count at most ``MAX_TOKENS``; ``total`` defaults to ``input + output``
    (a ValueError when that passes ``MAX_TOKENS``: a count is refused, never clamped)."""

    input: Tokens = 0
    output: Tokens = 0
    total: Tokens | None = None

    @model_validator(mode="after")
    def _derive_total(self) -> TokenUsage:
        if self.total is None:
            if self.input + self.output > MAX_TOKENS:
                raise ValueError(
                    f"total defaults to input + output, {self.input + self.output} here, which is more than "
                    f"{MAX_TOKENS}; send smaller counts or a total of at most {MAX_TOKENS}"
                )
            self.total = self.input + self.output
        return self


class Step(_Model):
    """One agent run or workflow step inside an execution."""

    id: Text | None = None
    name: Text | None = None
    agent: Text | None = None
    status: Text | None = None
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    token_usage: TokenUsage | None = None
    cost_usd: Money | None = Field(default=None, alias="costUSD")
    input: JSONValue = None
    output: JSONValue = None
    error: Text | None = None


class Execution(_Model):
    """One run: the document stored at ``projects/<projectId>/executions/<id>.json``.

    ``id``, ``projectId``, ``version``, ``createdAt`` and ``updatedAt`` are managed by the store: a request may
    leave them out (``id`` and ``projectId``, if given, must match the path).
    """

    id: Id | None = None
    project_id: Id | None = None
    task_id: Id | None = None
    name: Text | None = None
    status: ExecutionStatus = ExecutionStatus.PENDING
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    duration: Count | None = None
    token_usage: TokenUsage = Field(default_factory=TokenUsage)
    cost_usd: Money = Field(default=0.0, alias="costUSD")
    error: Text | None = None
    input: JSONValue = None
    output: JSONValue = None
    steps: list[Step] = Field(default_factory=list)
    tags: list[Text] = Field(default_factory=list)
    metadata: JSONObject = Field(default_factory=dict)
    version: Version | None = None
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None


MANAGED_FIELDS = ("version", "createdAt", "updatedAt")
SUMMARY_FIELDS = (
    "id",
    "projectId",
    "taskId",
    "name",
    "status",
    "startedAt",
    "completedAt",
    "duration",
    "tokenUsage",
    "costUSD",
    "error",
    "tags",
)


CONTAINERS = (dict, list)
MAX_DEPTH = 200  # levels any stored document may have: orjson encodes 254, and answers wrap a document in 2 more


def check_depth(value: JSONValue, limit: int, what: str) -> None:
    """InvalidBody when value is nested more than limit levels deep (the value itself is level 1, as a request
    body is). The one depth rule of every way in: HTTP bodies, library calls, imports and files on disk."""
    level: list[JSONValue] = [value] if isinstance(value, dict | list) else []
    depth = 1
    while level:  # one level at a time: 4x faster than a stack of (value, depth) pairs, and no recursion
        if depth > limit:
            raise InvalidBody(f"{what} is nested more than {limit} levels deep (STOREHOUSE_MAX_JSON_DEPTH)")
        below: list[JSONValue] = []
        for item in level:
            for child in item.values() if isinstance(item, dict) else item:
                if isinstance(child, CONTAINERS):
                    below.append(child)
        level = below
        depth += 1


def validate_execution(data: object) -> JSONObject:
    """Validate an execution document (a request body or a file) and return its canonical JSON object.

    Raises InvalidBody naming the first field that is wrong and what would be right.
    """
    if not isinstance(data, dict):
        raise InvalidBody(f"an execution must be a JSON object, got {type_name(data)}")
    check_depth(data, MAX_DEPTH, "the execution")  # pydantic itself gives up past ~250 levels
    try:
        model = Execution.model_validate(data)
    except ValidationError as exc:
        raise InvalidBody(describe_validation_error(exc)) from None
    return model.model_dump(by_alias=True, mode="json")


MAX_SUMMARY_TEXT = {"name": 256, "error": 2000}  # characters of a text field a summary carries
MAX_SUMMARY_TAGS = 50  # tags a summary carries ...
MAX_SUMMARY_TAG = 128  # ... and characters of each


def summarize(document: JSONObject) -> JSONObject:
    """The list view of an execution: the summary fields, in a fixed order, each bounded in size.

    Lists, change events and the index carry summaries, so a summary is small whatever the document holds
    (at most ~20 KB, JSON escapes included): see ``bound_summary``.
    """
    return bound_summary({name: document.get(name) for name in SUMMARY_FIELDS}, MAX_SUMMARY_TEXT)


def bound_summary(summary: JSONObject, limits: dict[str, int]) -> JSONObject:
    """Cut the text fields named in limits to their length, and ``tags`` to ``MAX_SUMMARY_TAGS`` tags of
    ``MAX_SUMMARY_TAG`` characters; name what was cut in ``truncated`` (absent when nothing was). The document
    keeps the whole text, and tag filters match its whole tags."""
    cut = []
    for name, limit in limits.items():
        value = summary.get(name)
        if isinstance(value, str) and len(value) > limit:
            summary[name] = value[:limit]
            cut.append(name)
    tags = summary.get("tags")
    if isinstance(tags, list) and (
        len(tags) > MAX_SUMMARY_TAGS or any(isinstance(tag, str) and len(tag) > MAX_SUMMARY_TAG for tag in tags)
    ):
        summary["tags"] = [tag[:MAX_SUMMARY_TAG] if isinstance(tag, str) else tag for tag in tags[:MAX_SUMMARY_TAGS]]
        cut.append("tags")
    if cut:
        summary["truncated"] = cut
    return summary


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One sentence naming the first invalid field, what was wrong, and the value that was given."""
    first = exc.errors(include_url=False)[0]
    location = prefix + ".".join(str(part) for part in first["loc"]) if first["loc"] else (prefix or "body")
    message = str(first["msg"])
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    given = first.get("input")
    shown = "" if isinstance(given, dict | list) else f" (got {_short(given)})"
    more = len(exc.errors()) - 1
    tail = f"; and {more} more problem{'s' * (more > 1)}" if more else ""
    return f"{location}: {message}{shown}{tail}"


def type_name(value: object) -> str:
    """The JSON name of a value's type, for messages."""
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def _short(value: object) -> str:
    try:
        text = orjson.dumps(value, default=str).decode()
    except (TypeError, orjson.JSONEncodeError):  # an integer beyond 64 bits, for one
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_execution(raw: bytes, project: str, item: str) -> JSONObject:
    """Read an execution file's bytes as a canonical document; its path names its project and id.

    Files from the original system (no ``version``, timestamps without milliseconds) load as version 1.
    Raises InvalidBody with the reason when the bytes are not a valid execution.
    """
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"not JSON: {exc}") from None
    if isinstance(data, dict):
        data["id"], data["projectId"] = item, project
    document = validate_execution(data)
    if document["version"] is None:
        document["version"] = 1
    if document["duration"] is None and document["startedAt"] and document["completedAt"]:
        # derived, as a write derives it: files of the original system have the two times and no duration
        document["duration"] = millis_between(document["startedAt"], document["completedAt"])
    return document


def dump_execution(document: JSONObject) -> bytes:
    """The file form of a document: indented JSON with a final newline. InvalidBody if it cannot be encoded."""
    try:
        return orjson.dumps(document, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)
    except orjson.JSONEncodeError as exc:
        raise InvalidBody(f"cannot be stored as JSON: {exc}") from None


def _camel_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join("USD" if part == "usd" else part.capitalize() for part in rest)


def _snake_name(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(USD|[A-Z])", lambda found: "_" + found.group(1).lower(), name)


def json_fields(fields: Mapping[str, JSONValue], where: str) -> JSONObject:
    """Keyword arguments as the JSON fields they name: ``task_id`` is ``taskId``, ``cost_usd`` is ``costUSD``.

    A camelCase keyword (``taskId=``) still works in this version, with a DeprecationWarning naming the
    snake_case one to use instead; it goes in the next."""
    named: JSONObject = {}
    for name, value in fields.items():
        if name != name.lower():
            warnings.warn(
                f"{where}({name}=...) is deprecated; use {_snake_name(name)}=... (camelCase keywords go in the next "
                "version)",
                DeprecationWarning,
                stacklevel=3,
            )
            named[name] = value
        else:
            named[_camel_name(name)] = value
    return named
