"""The Python client of a storehouse server: ``Client`` (sync) and ``AsyncClient`` (async), over httpx.

Both have the library's method names, arguments and results (``Storehouse`` / ``AsyncStorehouse``) for every
operation the HTTP API offers, and raise the library's exception classes: an error answer
``{"error": {"code", "message", ...}}`` becomes the ``storehouse.errors`` class of that code, carrying the
server's message and the error's other fields as ``details`` (a 409's ``cycle`` or ``allowed``). Code written
against the library runs against a server by changing the line that opens the store::

    with Client("http://127.0.0.1:8420", token="s3cret") as store:
        run = store.create_execution("demo", name="triage", status="running")
        store.patch_execution("demo", run["id"], {"status": "completed"}, if_match=run["version"])
        for summary in store.iter_executions("demo", status="failed"):  # every page, by cursor
            ...

A failure below HTTP (connection refused, a timeout, a connection dropped mid-answer) is not a storehouse
error: it stays an httpx exception (``httpx.TransportError`` and its subclasses), because the client cannot
know whether a write that was sent took effect. Read the stored version (or retry with ``if_match``) to find out.

Lists come whole page by page too: ``iter_executions`` (by cursor), ``iter_tasks`` and ``iter_history`` (by
offset); ``export()`` streams an export's lines and ``events()`` follows the server's event stream (the library's
``changes()`` and ``watch()``). What the library has and the API does not (``record``, ``import_lines``,
``reindex``, ``check``, ``backup``, ``history_projects``) is not here.

Each operation is written once, as a ``_Call`` (method, path, query, body, and how to read the answer) in
``_calls.py``, which ``Client`` (``sync.py``) and ``AsyncClient`` (``aio.py``) send through what they share
(``_base.py``); ``OPERATIONS`` names the method of every route of the OpenAPI document.
"""

from __future__ import annotations

from ._base import DEFAULT_URL as DEFAULT_URL
from ._base import _EventReader as _EventReader
from ._base import _Lines as _Lines
from ._calls import EVENTS_READ_TIMEOUT as EVENTS_READ_TIMEOUT
from ._calls import OPERATIONS as OPERATIONS
from ._calls import error_from_response as error_from_response
from .aio import AsyncClient
from .sync import Client

__all__ = ["AsyncClient", "Client"]
