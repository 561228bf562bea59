"""Request input to typed values: JSON bodies (orjson, with depth and integer limits) and query strings.

Starlette's ``request.json()`` answers 500 to bad JSON; here every malformed input is an InvalidBody or
InvalidParameter (400) whose message names what was wrong, and nothing is ignored silently: an unknown
query parameter is an error too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson
from starlette.requests import Request

from ..errors import InvalidBody, InvalidParameter, UnsupportedMediaType
from ..models import MAX_INT, JSONValue

_BIG = float(MAX_INT)


@dataclass(frozen=True)
class QueryParameter:
    """A query parameter an endpoint accepts; the same table parses requests and documents them in OpenAPI."""

    name: str
    schema: Mapping[str, object]
    description: str


async def read_json(request: Request, max_depth: int) -> JSONValue:
    """Parse the request body as JSON; InvalidBody if it is empty, malformed, too deep, or has a >64-bit integer.

    UnsupportedMediaType unless the Content-Type is ``application/json`` (or ``application/*+json``).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"the body must be sent as JSON with 'Content-Type: application/json', not {media_type or 'no type'!r}"
        )
    raw = await request.body()
    if not raw.strip():
        raise InvalidBody("the request body is empty; send a JSON object with content-type application/json")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"the request body is not valid JSON: {exc}") from None
    if _walk(value, max_depth):
        _refuse_big_integers(raw)
    return value


def _walk(value: JSONValue, max_depth: int) -> bool:
    """Check nesting depth; return True if a float is large enough to have been a >64-bit integer literal."""
    suspicious = False
    stack: list[tuple[JSONValue, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > max_depth:
                raise InvalidBody(f"the JSON is nested more than {max_depth} levels deep")
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | float))
        elif isinstance(item, float) and abs(item) >= _BIG and item.is_integer():
            suspicious = True
    return suspicious


def _refuse_big_integers(raw: bytes) -> None:
    # orjson reads an integer literal beyond 64 bits as a float, silently losing digits; the standard
    # library keeps it exact, so re-read the (rare) bodies that have such a float to tell the two apart.
    def exact(text: str) -> int:
        number = int(text)
        if not -(1 << 63) <= number < (1 << 64):
            raise InvalidBody(f"the integer {text[:30]}{'...' if len(text) > 30 else ''} does not fit in 64 bits")
        return number

    json.loads(raw, parse_int=exact)


def parse_query(request: Request, accepted: Sequence[QueryParameter], repeatable: Sequence[str] = ()) -> dict[str, str]:
    """The query string as {name: value}; InvalidParameter for an unknown or repeated parameter.

    A repeatable parameter given several times is joined with commas (``status=a&status=b`` is ``a,b``).
    """
    known = {parameter.name for parameter in accepted}
    values: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InvalidParameter(f"unknown query parameter {name!r}; this endpoint accepts: {listed}")
        if name in values:
            if name not in repeatable:
                raise InvalidParameter(f"{name} is given more than once")
            value = f"{values[name]},{value}"
        values[name] = value
    return values


def integer(values: Mapping[str, str], name: str, default: int) -> int:
    """An integer query parameter; InvalidParameter naming it when it is not a whole number."""
    text = values.get(name)
    if text is None:
        return default
    if re.fullmatch(r"[+-]?[0-9]{1,30}", text.strip()) is None:  # int() would also take 1_0 and non-ASCII digits
        raise InvalidParameter(f"{name} must be a whole number, got {text!r}")
    return int(text.strip(), 10)


def if_match(request: Request) -> int | None:
    """The version named by an ``If-Match`` header (``"3"``, ``W/"3"`` or ``3``), or None when absent."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    text = header.strip().removeprefix("W/").strip('"')
    if re.fullmatch(r"[0-9]{1,18}", text) is None:
        raise InvalidParameter(f'If-Match must be a version from an ETag, such as "3"; got {header!r}')
    return int(text)
