"""The kinds of documents the file engine keeps, one JSON file each: what differs between executions and tasks.

Everything else (atomic durable replacement, per-document locks across processes, versions and If-Match,
crash intents, reconciling the index with the files, check, reindex, the change log) is the file engine's,
written once for every kind (``backends/files.py``).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from .index import EXECUTIONS, IndexRow, Row, Table
from .models import JSONObject, dump_execution, load_execution, summarize


@dataclass(frozen=True)
class Kind:
    """One kind of document: its folder in a project, its name in messages and events, and its rules."""

    folder: str  # projects/<projectId>/<folder>/<id>.json
    noun: str  # "execution": messages, event types (execution.created) and their data (executionId)
    table: Table  # its rows in the index
    load: Callable[[bytes, str, str], JSONObject]  # file bytes, project, id -> document; InvalidBody if not one
    dump: Callable[[JSONObject], bytes]  # document -> file bytes
    summarize: Callable[[JSONObject], JSONObject]  # the list view
    row: Callable[[JSONObject, JSONObject, os.stat_result], IndexRow]  # document, summary, stat -> index row
    audit: Callable[[sqlite3.Connection, int, str], list[str]] | None = None  # more for check (project key, name)

    def change(self, event: str, project: str, document: JSONObject, summary: bytes) -> tuple[str, bytes]:
        """The change-log entry of a write: ``<noun>.<event>`` with ids, version and the document's summary."""
        head = orjson.dumps({"projectId": project, f"{self.noun}Id": document["id"], "version": document["version"]})
        return f"{self.noun}.{event}", head[:-1] + f',"{self.noun}":'.encode() + summary + b"}"

    def deleted(self, project: str, item: str) -> tuple[str, bytes]:
        """The change-log entry of a delete."""
        return f"{self.noun}.deleted", orjson.dumps({"projectId": project, f"{self.noun}Id": item})


EXECUTION = Kind("executions", "execution", EXECUTIONS, load_execution, dump_execution, summarize, Row.from_document)
