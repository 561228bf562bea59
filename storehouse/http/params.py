"""Request input to typed values: JSON bodies (orjson, with depth and integer limits) and query strings.

Starlette's ``request.json()`` answers 500 to bad JSON; here every malformed input is an InvalidBody or
InvalidParameter (400) whose message names what was wrong, and nothing is ignored silently: an unknown
query parameter is an error too.
"""

from __future__ import annotations

import asyncio
import json
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio.to_thread
import orjson
from anyio import CapacityLimiter
from starlette.requests import Request

from ..errors import InvalidBody, InvalidParameter, UnsupportedMediaType
from ..models import MAX_INT, MAX_VERSION, JSONValue

_BIG = float(MAX_INT)
# Bodies up to this size are parsed on the event loop: ~0.7 ms at most for 16 KiB, less than handing them to a
# thread costs in all (a wake-up of a pool thread and of the loop, ~0.1 ms, plus the queue behind other work).
INLINE_BYTES = 16 * 1024
# Larger bodies are parsed in a thread, one at a time: orjson holds the GIL while it parses, so two parses at once
# would only take turns with each other, and the loop would wait for both. One turn per event loop.
_TURNS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class QueryParameter:
    """A query parameter an endpoint accepts; the same table parses requests and documents them in OpenAPI."""

    name: str
    schema: Mapping[str, object]
    description: str


async def read_json(request: Request, max_depth: int, max_values: int | None = None) -> JSONValue:
    """Parse the request body as JSON; InvalidBody if it is empty, malformed, too deep, has a >64-bit integer,
    or holds more than ``max_values`` values (default: the app's ``max_json_values``; see ``check_value_count``).

    UnsupportedMediaType unless the Content-Type is ``application/json`` (or ``application/*+json``). A body
    over ``INLINE_BYTES`` is counted, parsed and walked in a worker thread, one such body at a time, so the
    event loop goes on serving meanwhile; the value bound caps what that costs (1,000,000 values: ~0.2 s of
    orjson and ~60 MB at most).
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"the body must be sent as JSON with 'Content-Type: application/json', not {media_type or 'no type'!r}"
        )
    raw = await request.body()
    if max_values is None:
        max_values = int(request.app.state.settings.max_json_values)
    if len(raw) <= INLINE_BYTES:
        return parse_json(raw, max_depth, max_values)
    loop = asyncio.get_running_loop()
    turn = _TURNS.get(loop) or _TURNS.setdefault(loop, CapacityLimiter(1))
    return await anyio.to_thread.run_sync(parse_json, raw, max_depth, max_values, limiter=turn)


def parse_json(raw: bytes, max_depth: int, max_values: int) -> JSONValue:
    """Parse raw as a JSON body: InvalidBody if it is empty, malformed, holds more than max_values values,
    is nested more than max_depth levels deep, or has an integer past 64 bits. Pure CPU, safe in any thread."""
    if not raw.strip():
        raise InvalidBody("the request body is empty; send a JSON object with content-type application/json")
    check_value_count(raw, max_values)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidBody(f"the request body is not valid JSON: {exc}") from None
    if _walk(value, max_depth):
        _refuse_big_integers(raw)
    return value


def check_value_count(raw: bytes, max_values: int) -> None:
    """InvalidBody when raw holds more than max_values of the bytes ``[ { , :`` outside strings, before any of it
    is parsed. Every JSON value but the first follows one of them, so their number bounds the values (and the
    objects orjson would build: 16 MiB of ``[],`` is 5.6 million lists, ~1.3 s and ~400 MB). A body no longer
    than max_values passes at once; otherwise the count runs at memchr speed (~20 ms for 16 MiB), and only when
    it is over the bound are the strings taken out and the count made again (~50-80 ms for 16 MiB)."""
    if len(raw) <= max_values or _structural(raw) <= max_values:
        return
    # outside strings: drop escaped backslashes, then escaped quotes, so that every '"' left opens or closes one
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in raw else raw
    if _structural(b"".join(unescaped.split(b'"')[::2])) > max_values:
        raise InvalidBody(
            f"the JSON body holds more than {max_values} JSON values (counted as the [ {{ , : outside strings); "
            "send fewer, or raise STOREHOUSE_MAX_JSON_VALUES"
        )


def _structural(raw: bytes) -> int:
    return raw.count(b"[") + raw.count(b"{") + raw.count(b",") + raw.count(b":")


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
    """The version named by an ``If-Match`` header (``"3"``, ``W/"3"`` or ``3``), or None when absent.

    Takes every version a document can have, 0 to ``MAX_VERSION``; InvalidParameter for anything else.
    """
    header = request.headers.get("if-match")
    if header is None:
        return None
    text = header.strip().removeprefix("W/").strip('"')
    if re.fullmatch(r"[0-9]{1,30}", text) is None:  # 30 digits: leading zeros pass, and int() stays cheap
        raise InvalidParameter(f'If-Match must be a version from an ETag, such as "3"; got {header!r}')
    if int(text) > MAX_VERSION:
        raise InvalidParameter(
            f"If-Match must be a version from an ETag, at most {MAX_VERSION} (the highest a document can have), "
            f'such as "3"; got {header!r}'
        )
    return int(text)
