"""What ``Client`` and ``AsyncClient`` share below the operations: the default URL, the headers, a
``_Call`` built into an httpx request, an error answer raised as its exception, and the readers of streamed
answers (Server-Sent Events, an export's lines)."""

from __future__ import annotations

from typing import Any

import httpx

from .. import __version__
from ..changes import ChangeEvent
from ..config import DEFAULT_HOST, DEFAULT_PORT
from ._calls import _Call, error_from_response

DEFAULT_URL = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"


class _EventReader:
    """Server-Sent Events, line by line (the WHATWG parsing rules): a blank line ends an event; ``event:``, ``data:``
    (joined with newlines) and ``id:`` (kept for the events after it) fill it; comment lines are skipped."""

    def __init__(self) -> None:
        self._type = ""
        self._data: list[str] = []
        self._id = ""

    def feed(self, line: str) -> ChangeEvent | None:
        if not line:
            event = (
                ChangeEvent(self._id, self._type or "message", "\n".join(self._data).encode()) if self._data else None
            )
            self._type, self._data = "", []
            return event
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        value = value.removeprefix(" ") if colon else ""
        if name == "event":
            self._type = value
        elif name == "data":
            self._data.append(value)
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


class _Lines:
    """Bytes cut into lines at ``\\n`` as they arrive, each with its newline (the last one may have none)."""

    def __init__(self) -> None:
        self._rest: list[bytes] = []

    def feed(self, chunk: bytes) -> list[bytes]:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            self._rest.append(chunk)
            return []
        whole = b"".join([*self._rest, chunk[:cut]])
        self._rest = [chunk[cut:]] if cut < len(chunk) else []
        return [line + b"\n" for line in whole.split(b"\n")[:-1]]

    def end(self) -> list[bytes]:
        rest, self._rest = b"".join(self._rest), []
        return [rest] if rest else []


class _Base:
    """What the two clients share: the httpx client with the base URL, token and timeout, and request building."""

    _http: httpx.Client | httpx.AsyncClient

    @staticmethod
    def _headers(token: str | None) -> dict[str, str]:
        headers = {"User-Agent": f"storehouse-client/{__version__}"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    @property
    def base_url(self) -> str:
        return str(self._http.base_url)

    def _request(self, call: _Call[Any]) -> httpx.Request:
        headers = {"Accept": call.accept}
        if call.content is not None:
            headers["Content-Type"] = call.media_type
        if call.if_match is not None:
            headers["If-Match"] = f'"{call.if_match}"'
        timeout = own = self._http.timeout
        if call.read_timeout is not None:
            timeout = httpx.Timeout(connect=own.connect, read=call.read_timeout, write=own.write, pool=own.pool)
        return self._http.build_request(
            call.method, call.path, params=call.params, content=call.content, headers=headers, timeout=timeout
        )


def _check(response: httpx.Response) -> httpx.Response:
    if not response.is_success:
        raise error_from_response(response)
    return response
