"""Torn and corrupt files: damage planted by hand never makes the API answer 5xx, and check names all of it.

The harness runs over ``SUBJECTS``, the kinds of file the store keeps: execution files (one JSON document each),
task history logs (JSON Lines, issue #5) and task files (one JSON document each, with the edges of the
dependency graph, issue #6). In a project of each, about a tenth of the files are damaged behind the store's
back, the same seven-odd ways as each applies to the format. Whether a file is damaged, and
what it still holds, is decided by the harness itself (its own oracle), never by asking storehouse.

Executions, a project of a few hundred: truncated at a random byte (also at 0, and at len-1 where only the
final newline goes, which is no damage at all), garbage appended, replaced by random bytes, valid JSON of the
wrong shape, a symlink to a file outside the data directory, a directory named like an execution file, and
bytes that are not UTF-8. Then, through the HTTP API (ASGI, and a sample through a real ``storehouse serve``):
no request answers 5xx (lists with every sort, filters and both kinds of paging, a get of every id, stats,
projects); a get of a damaged file is a 404 that names ``storehouse check`` (a symlink or a directory is simply
not found, and what a symlink points to is never served); ``check()`` names exactly the damaged files; after
``reindex()`` every intact file is listed, filtered, sorted and counted exactly once; a PUT over a damaged file
replaces it as if it were absent, a PATCH of one is a 404, a DELETE removes it (a symlink's target is never
touched).

History logs, a project of 80 tasks of 10 to 40 entries: a torn tail (truncated at a random byte; at len-1
only the final newline goes, and the last entry with it), garbage appended, a line in the middle replaced by
garbage, random bytes, valid JSON of the wrong shape on lines, a symlink to a log outside the data directory, a
directory named like a log, and bytes that are not UTF-8 in a line; and two stray files that are not
``<taskId>.jsonl``. A damaged log still holds its whole valid lines, and the oracle (``Log``) knows which. Then,
through HTTP (ASGI, and a sample through a real server): no history route answers 5xx (a task's reads with
filters, both orders and paging, count, oldest, the read across tasks, clean-up, delete); every whole valid line
is returned exactly (ids and content) and a damaged line never is; ``check()`` names exactly the damaged logs and
the stray files; an append to a damaged log succeeds, is read back, and leaves only whole lines (a torn tail is
cut off); the clean-up finds nothing to remove; after a delete nothing is read; a symlinked log's target is never
read nor changed.

Tasks, a project of 300 (most depend on earlier ones, some on later ones, through every type of edge; most moved
through transitions, retries and reopenings included): damaged the same seven ways as executions, the wrong shapes
being mostly tasks with one field wrong. Then, through HTTP (ASGI, and a sample through a real server): no task
route answers 5xx (the list with every filter, ``ready=true`` included, the order, the metrics, and a get,
transitions, dependencies, dependents and context of every id); a read of a damaged task is a 404 that names
``storehouse check`` (a symlink or a directory is simply not found); ``check()`` names exactly the damaged files;
after ``reindex()`` every intact task is listed exactly once by every filter, ready and metrics count as the intact
files say (an edge to a task that no file holds holds nothing back; ``ready=false`` lists the others), the order
puts each task after its intact dependencies, and a task's dependencies and dependents are its files' edges (a
damaged neighbour without a summary); writes that name a damaged task (a transition, a PATCH, an edge from it or to
it) are refused and change no file; a PUT over a damaged file replaces it as if absent and the new task joins the
graph the intact files point into; a DELETE removes it, its history, and the intact tasks' edges to it.

"Cut at every byte" truncates one execution file at every offset of its content in turn: the store opens,
lists and counts consistently, and never errors, at every one (through HTTP for a sample). For history, one log
is cut at every offset of its last line: reads return exactly the entries before it, and an append repairs it.

A directory named like a log cannot be written or deleted (409, as for executions): it is left for a person,
and the clean-up goes past it.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import storehouse.backends.files
import storehouse.history
import storehouse.history_index
from storehouse import Settings, Storehouse
from storehouse.backends import FileBackend
from storehouse.backends.base import CheckReport, Progress
from storehouse.errors import NotFound
from storehouse.fsio import read_bytes
from storehouse.history import TYPES
from storehouse.index import SORTS, STATUSES
from storehouse.models import JSONObject, JSONValue
from storehouse.tasks import STATUSES as TASK_STATUSES
from tests.conftest import Server, soak

SECRET = "SECRET-OUTSIDE-THE-DATA-DIR"


# -- what the harness saw, whatever the subject -----------------------------------------------------------
@dataclass
class Seen:
    """What a torn-data harness saw; a subject's own figures are in its subclass (``Torn``, ``TornLogs``)."""

    files: int = 0
    damaged: dict[str, str] = field(default_factory=dict)  # id -> how
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    wrong_answers: list[str] = field(default_factory=list)
    list_problems: list[str] = field(default_factory=list)
    check_named: set[str] = field(default_factory=set)

    @property
    def should_name(self) -> set[str]:
        """What ``check()`` must name, in the terms of ``check_named``: every damaged file, nothing else."""
        return set(self.damaged)

    @property
    def line(self) -> str:
        raise NotImplementedError

    @property
    def clean(self) -> bool:
        return (
            not (self.server_errors or self.wrong_answers or self.list_problems)
            and self.check_named == self.should_name
        )


# A subject's harness: (the running store, an HTTP client on it, the data directory, files, whether to sample
# through a real server) -> what it saw.
Harness = Callable[[Storehouse, httpx.AsyncClient, Path, int, bool], Awaitable[Seen]]


@dataclass(frozen=True)
class Subject:
    """A kind of file the store keeps one per id under ``projects/<projectId>/<folder>/<id><suffix>``, and the
    harness that damages a project of them behind the store's back and then reads and writes it through HTTP.

    Execution files are one JSON document each: a damaged file holds nothing. History logs are JSON Lines: a
    damaged log still holds its whole valid lines. So each subject brings its own ways of damage, its own oracle
    of what a damaged file still holds and its own routes; the verdict (``Seen``) is shared.
    """

    name: str
    folder: str
    suffix: str
    route: str  # the collection's URL (for history, the read across tasks); ``{project}`` is replaced
    files: int  # in the project of the fast tier (``soak`` scales it)
    ways: tuple[str, ...]  # the kinds of damage planted, by name
    run: Harness

    def directory(self, data_dir: Path, project: str) -> Path:
        return data_dir / "projects" / project / self.folder

    def url(self, project: str) -> str:
        return self.route.format(project=project)


# -- executions: one JSON document a file, and seven ways to damage one -----------------------------------
def populate_executions(store: Storehouse, project: str, count: int) -> dict[str, JSONObject]:
    """Executions as varied as real ones: every status, tasks, tags, costs, durations, steps, non-ASCII names."""
    documents = {}
    for n in range(count):
        status = STATUSES[n % len(STATUSES)]
        body: JSONObject = {
            "name": f"run {n} ✓ naïve" if n % 4 == 0 else f"run-{n}",
            "taskId": f"task-{n % 7}",
            "status": status,
            "startedAt": f"2026-01-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.{n % 1000:03d}Z",
            "tokenUsage": {"input": n * 10, "output": n},
            "costUSD": (n % 17) / 1000,
            "tags": [f"t{n % 5}", *(["nightly"] if n % 3 == 0 else [])],
            "metadata": {"n": n},
        }
        if status in ("completed", "failed", "cancelled"):
            body["completedAt"] = f"2026-02-01T00:00:{n % 60:02d}.000Z"
        if n % 6 == 0:
            body["steps"] = [{"name": "plan", "agent": "planner", "status": "completed"}]
        item = f"run-{n:04d}"
        documents[item] = store.put_execution(project, item, body)
    return documents


def truncated(path: Path, original: bytes, rng: random.Random, nth: int, _: Path) -> bool:
    cut = (0, len(original) - 1)[nth] if nth < 2 else rng.randrange(1, len(original) - 1)
    path.write_bytes(original[:cut])
    return original[:cut].strip() != original.strip()  # a prefix of an object is the object, or not JSON


def garbage_appended(path: Path, original: bytes, rng: random.Random, _nth: int, _: Path) -> bool:
    path.write_bytes(original + rng.choice([b"\x00", b"}", b"garbage", b'{"id": 1}', b"\n]\n"]))
    return True


def random_bytes(path: Path, original: bytes, rng: random.Random, _nth: int, _: Path) -> bool:
    data = b"{"
    while data.lstrip()[:1] == b"{":  # only an object could be an execution: never make one by chance
        data = rng.randbytes(rng.randrange(1, 2 * len(original)))
    path.write_bytes(data)
    return True


WRONG_SHAPES = (
    b"[]",
    b'"an execution"',
    b"null",
    b"42",
    b'{"status": "exploded"}',
    b'{"tokenUsage": {"input": -1}}',
    b'{"costUSD": "free"}',
    b'{"steps": {"not": "a list"}}',
    b'{"startedAt": "yesterday"}',
    b'{"tags": "one"}',
)


def wrong_shape(path: Path, _original: bytes, _rng: random.Random, nth: int, _: Path) -> bool:
    path.write_bytes(WRONG_SHAPES[nth % len(WRONG_SHAPES)])
    return True


def symlink_out(path: Path, _original: bytes, _rng: random.Random, _nth: int, outside: Path) -> bool:
    path.unlink()
    path.symlink_to(outside)  # a valid execution, outside the data directory: never followed, never served
    return True


def directory_named_like_a_file(path: Path, _original: bytes, _rng: random.Random, _nth: int, _: Path) -> bool:
    path.unlink()
    path.mkdir()
    (path / "inside.json").write_bytes(b"{}")
    return True


def not_utf8(path: Path, original: bytes, rng: random.Random, _nth: int, _: Path) -> bool:
    key = b'"name": "' if b'"name": "' in original else b'"title": "'  # inside an execution's name, a task's title
    at = original.index(key) + len(key)
    path.write_bytes(original[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc"]) + original[at:])
    return True


Damage = Callable[[Path, bytes, random.Random, int, Path], bool]  # returns whether the file is now damaged
DAMAGES: dict[str, Damage] = {
    "truncated": truncated,
    "garbage appended": garbage_appended,
    "random bytes": random_bytes,
    "wrong shape": wrong_shape,
    "symlink out": symlink_out,
    "directory": directory_named_like_a_file,
    "not UTF-8": not_utf8,
}
UNPARSABLE = frozenset(DAMAGES) - {"symlink out", "directory"}  # read, but not a valid document


# -- the executions harness -------------------------------------------------------------------------------
@dataclass
class Torn(Seen):
    """What the torn-data harness saw of execution files."""

    intact: dict[str, JSONObject] = field(default_factory=dict)
    recovered: int = 0

    @property
    def line(self) -> str:
        return (
            f"torn: {self.files} files, {len(self.damaged)} damaged {len(set(self.damaged.values()))} ways, "
            f"{self.requests:,} requests, {len(self.server_errors)} server errors, "
            f"{len(self.wrong_answers)} wrong answers, check named {len(self.check_named & set(self.damaged))}"
            f"/{len(self.damaged)} (+{len(self.check_named - set(self.damaged))} intact), "
            f"reindex recovered {self.recovered}/{len(self.intact)}, {len(self.list_problems)} list problems"
        )

    @property
    def clean(self) -> bool:
        return super().clean and self.recovered == len(self.intact)


async def ask(seen: Seen, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request whose answer must never be 5xx, must always be JSON when it has a body, and never holds what a
    symlink out of the data directory points to."""
    answer = await client.request(method, url, **kwargs)
    seen.requests += 1
    where = f"{method} {url} {kwargs.get('params', '')}"
    if answer.status_code >= 500:
        seen.server_errors.append(f"{where}: {answer.status_code} {answer.text[:200]}")
    elif answer.content and answer.headers.get("content-type") not in answer_types(url, kwargs.get("params")):
        seen.wrong_answers.append(f"{where}: not JSON: {answer.headers.get('content-type')}")
    if SECRET in answer.text:
        seen.wrong_answers.append(f"{where}: served what a symlink out of the data directory points to")
    return answer


def answer_types(url: str, params: object) -> tuple[str, ...]:
    """The content types an answer may have: JSON, or Markdown for a task's context unless JSON is asked for."""
    markdown = url.endswith("/context") and not (isinstance(params, dict) and params.get("format") == "json")
    return ("application/json", "text/markdown; charset=utf-8") if markdown else ("application/json",)


def checked_ids(report: CheckReport, project: str, subject: Subject) -> set[str]:
    prefix = f"{project}/{subject.folder}/"
    return {p[len(prefix) :].split(f"{subject.suffix}:")[0] for p in report.problems if p.startswith(prefix)}


TornT = TypeVar("TornT", bound="Torn")


def plant_damage(
    data_dir: Path,
    subject: Subject,
    project: str,
    documents: dict[str, JSONObject],
    rng: random.Random,
    seen: TornT,
    damages: dict[str, Damage] = DAMAGES,
    outside: JSONObject | None = None,
) -> TornT:
    """Damage about a tenth of the files, every way in turn; record in ``seen`` what is damaged and what is
    intact. ``outside`` is the valid document a symlink out of the data directory points to."""
    directory = subject.directory(data_dir, project)
    target = data_dir.parent / "outside.json"
    target.write_text(json.dumps(outside or {"name": SECRET, "status": "completed"}))
    seen.files = len(documents)
    victims = sorted(rng.sample(sorted(documents), max(len(damages), len(documents) // 10)))
    for position, item in enumerate(victims):
        how = list(damages)[position % len(damages)]
        path = directory / f"{item}{subject.suffix}"
        if damages[how](path, path.read_bytes(), rng, position // len(damages), target):
            seen.damaged[item] = how
    seen.intact = {item: document for item, document in documents.items() if item not in seen.damaged}
    return seen


LIST_QUERIES: tuple[dict[str, str], ...] = (
    *({"sort": sort} for sort in SORTS),
    *({"status": status, "sort": "-costUSD"} for status in STATUSES),
    {"status": "failed,running"},
    {"tag": "nightly", "sort": "duration"},
    {"taskId": "task-3", "sort": "startedAt"},
    {"startedAfter": "2026-01-10T00:00:00Z", "startedBefore": "2026-01-20T00:00:00+00:00"},
)
AFTER, BEFORE = "2026-01-10T00:00:00.000Z", "2026-01-20T00:00:00.000Z"  # the two bounds above, canonical


def matches(document: JSONObject, query: dict[str, str]) -> bool:
    """The harness's own reading of the list filters (README "List parameters")."""
    if "status" in query and document["status"] not in query["status"].split(","):
        return False
    if "tag" in query and query["tag"] not in document["tags"]:
        return False
    if "taskId" in query and document["taskId"] != query["taskId"]:
        return False
    if "startedAfter" in query and document["startedAt"] < AFTER:
        return False
    return not ("startedBefore" in query and document["startedAt"] >= BEFORE)


def sort_key(summary: JSONObject, sort: str) -> tuple[object, str]:
    field_name = sort.lstrip("-")
    value: object = summary[field_name]
    if field_name == "duration" and value is None:
        value = -1
    return (value, summary["id"])


async def walk(
    seen: Torn, client: httpx.AsyncClient, url: str, query: dict[str, str], by_cursor: bool
) -> tuple[list[JSONObject], int]:
    """Every page of a listing (by cursor or by offset, 37 at a time); returns the summaries and the total."""
    summaries: list[JSONObject] = []
    params: dict[str, str | int] = {**query, "limit": 37}
    total = -1
    for _ in range(1000):
        answer = await ask(seen, client, "GET", url, params=params)
        if answer.status_code != 200:
            break
        body = answer.json()
        summaries += body["executions"]
        total = body["total"]
        if by_cursor and body["nextCursor"]:
            params = {**query, "limit": 37, "cursor": body["nextCursor"]}
        elif not by_cursor and len(summaries) < total and body["executions"]:
            params = {**query, "limit": 37, "offset": len(summaries)}
        else:
            break
    return summaries, total


async def read_everything(seen: Torn, client: httpx.AsyncClient, subject: Subject, project: str) -> None:
    """Every read the API has, over damaged data: no 5xx; a damaged file is a 404 that says what to do."""
    url = subject.url(project)
    for query in LIST_QUERIES:
        for by_cursor in (True, False):
            await walk(seen, client, url, query, by_cursor)
    for item in sorted([*seen.damaged, *seen.intact]):
        answer = await ask(seen, client, "GET", f"{url}/{item}")
        how = seen.damaged.get(item)
        if SECRET in answer.text:
            seen.wrong_answers.append(f"GET {item} ({how}): served the file a symlink points to")
        if how is None:
            if answer.status_code != 200 or answer.json()["execution"] != seen.intact[item]:
                seen.wrong_answers.append(f"GET {item} (intact): {answer.status_code} {answer.text[:200]}")
        elif answer.status_code != 404 or answer.json()["error"]["code"] != "not_found":
            seen.wrong_answers.append(f"GET {item} ({how}): {answer.status_code} {answer.text[:200]}")
        elif how in UNPARSABLE and "storehouse check" not in answer.json()["error"]["message"]:
            seen.wrong_answers.append(f"GET {item} ({how}): the 404 does not name 'storehouse check'")
    await ask(seen, client, "GET", f"{url}/stats")
    await ask(seen, client, "GET", "/api/projects")


async def verify_lists(seen: Torn, client: httpx.AsyncClient, subject: Subject, project: str) -> None:
    """Every intact document is listed exactly once by every query and both pagings, in order; none else."""
    url = subject.url(project)
    for query in LIST_QUERIES:
        expected = {item for item, document in seen.intact.items() if matches(document, query)}
        for by_cursor in (True, False):
            summaries, total = await walk(seen, client, url, query, by_cursor)
            ids = [summary["id"] for summary in summaries]
            label = f"{query} by {'cursor' if by_cursor else 'offset'}"
            if len(ids) != len(set(ids)) or set(ids) != expected or total != len(expected):
                seen.list_problems.append(f"{label}: {len(ids)} listed, total {total}, {len(expected)} intact match")
            sort = query.get("sort", "-startedAt")
            keys = [sort_key(summary, sort) for summary in summaries]
            if keys != sorted(keys, reverse=sort.startswith("-")):
                seen.list_problems.append(f"{label}: not in {sort} order")
            for summary in summaries:
                document = seen.intact.get(summary["id"], {})
                if any(summary[name] != document.get(name) for name in summary):
                    seen.list_problems.append(f"{label}: the summary of {summary['id']} is not its file's")
    stats = (await ask(seen, client, "GET", f"{url}/stats")).json()
    expected_stats = {"totalExecutions": len(seen.intact)}
    expected_stats |= {status: sum(d["status"] == status for d in seen.intact.values()) for status in STATUSES}
    expected_stats["totalTokens"] = sum(d["tokenUsage"]["total"] for d in seen.intact.values())
    if {name: stats.get(name) for name in expected_stats} != expected_stats:
        seen.list_problems.append(f"stats {stats}, the intact files say {expected_stats}")
    projects = (await ask(seen, client, "GET", "/api/projects")).json()["projects"]
    if [p["executionCount"] for p in projects if p["id"] == project] != [len(seen.intact)]:
        seen.list_problems.append(f"projects: {projects}, {len(seen.intact)} intact")


def sample_through_a_real_server(seen: Torn, data_dir: Path, subject: Subject, project: str) -> None:
    """A sample of reads through a real ``storehouse serve`` that opens the damaged project itself."""
    server = Server(data_dir)
    try:
        with httpx.Client(base_url=server.url) as client:
            url = subject.url(project)
            damaged, intact = sorted(seen.damaged), sorted(seen.intact)
            paths = [url, f"{url}?status=failed&sort=-duration", f"{url}/stats", "/api/projects"]
            paths += [f"{url}/{item}" for item in damaged[:: max(1, len(damaged) // 10)] + intact[::25]]
            for path in paths:
                answer = client.get(path)
                seen.requests += 1
                if answer.status_code >= 500 or SECRET in answer.text:
                    seen.server_errors.append(f"real server GET {path}: {answer.status_code} {answer.text[:200]}")
            if client.get(url).json()["total"] != len(seen.intact):
                seen.list_problems.append("real server: the list total is not the intact count")
    finally:
        server.stop()


async def change_damaged(
    seen: Torn, client: httpx.AsyncClient, data_dir: Path, subject: Subject, project: str, kinds: frozenset[str]
) -> dict[str, str]:
    """PUT, PATCH, DELETE over damaged files of the given kinds, each kind in turn; returns id -> method."""
    url = subject.url(project)
    changed: dict[str, str] = {}
    for how in sorted(kinds):
        victims = [item for item, kind in sorted(seen.damaged.items()) if kind == how]
        for item, method in zip(victims, ("PUT", "PATCH", "DELETE"), strict=False):
            body = {"status": "completed"} if method != "DELETE" else None
            answer = await ask(seen, client, method, f"{url}/{item}", json=body)
            changed[item] = method
            expected = {"PUT": 201, "PATCH": 404, "DELETE": 204}[method]  # a damaged file counts as absent
            if answer.status_code != expected:
                seen.wrong_answers.append(f"{method} {item} ({how}): {answer.status_code} {answer.text[:200]}")
            path = subject.directory(data_dir, project) / f"{item}{subject.suffix}"
            if method == "PUT" and (path.is_symlink() or not path.is_file()):
                seen.wrong_answers.append(f"PUT {item} ({how}): the path is not a regular file afterwards")
            if method == "DELETE" and (path.is_symlink() or path.exists()):
                seen.wrong_answers.append(f"DELETE {item} ({how}): still there")
    return changed


async def torn_harness(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, subject: Subject, count: int, real_server: bool
) -> Torn:
    project = "torn"
    with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as writer:
        documents = populate_executions(writer, project, count)
    assert (await http.get(subject.url(project))).json()["total"] == count  # the running store opens it
    seen = plant_damage(data_dir, subject, project, documents, random.Random(4), Torn())
    # 1. the running store, whose index still holds the old rows (README: run reindex after hand edits)
    await read_everything(seen, http, subject, project)
    # 2. check names exactly the damaged files
    seen.check_named = checked_ids(store.check(), project, subject)
    # 3. after reindex, every intact file exactly once, everywhere
    store.reindex(project)
    await verify_lists(seen, http, subject, project)
    listed, _ = await walk(seen, http, subject.url(project), {}, by_cursor=True)
    seen.recovered = len({summary["id"] for summary in listed} & set(seen.intact))
    await read_everything(seen, http, subject, project)
    if real_server:
        sample_through_a_real_server(seen, data_dir, subject, project)
    return seen


async def run_executions(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, count: int, real_server: bool
) -> Torn:
    """The executions subject: every read of ``torn_harness``, then writes over the damaged files."""
    seen = await torn_harness(store, http, data_dir, EXECUTIONS, count, real_server)
    project = "torn"
    outside = (data_dir.parent / "outside.json").read_bytes()
    # 4. writes over damaged files (a directory named like a file is a 409: it has a test of its own below)
    changed = await change_damaged(seen, http, data_dir, EXECUTIONS, project, frozenset(DAMAGES) - {"directory"})
    named_after = checked_ids(store.check(), project, EXECUTIONS)
    listed, total = await walk(seen, http, EXECUTIONS.url(project), {}, by_cursor=True)
    if (data_dir.parent / "outside.json").read_bytes() != outside:
        seen.wrong_answers.append("a write over a symlink changed the file it points to")
    still = {item for item in seen.damaged if changed.get(item) in (None, "PATCH")}
    if named_after != still:
        seen.wrong_answers.append(f"after the writes check named {sorted(named_after)}, not {sorted(still)}")
    put = {item for item, method in changed.items() if method == "PUT"}  # a PUT replaced a damaged file
    if {summary["id"] for summary in listed} != set(seen.intact) | put or total != len(seen.intact) + len(put):
        seen.list_problems.append(f"after the writes: {total} listed, {len(seen.intact)} intact + {len(put)} put")
    return seen


# -- history logs: JSON Lines, so a damaged log still holds its whole lines --------------------------------
Line = tuple[bytes, JSONObject | None]  # a line's bytes (without its newline) and the entry it holds, if any


@dataclass
class Log:
    """The harness's own account of one history log: its lines in order, what follows the last newline (a torn
    tail: never an entry), and what the path is. Built from what the store acknowledged and from how the harness
    damaged it, never by asking storehouse."""

    lines: list[Line]
    tail: bytes = b""
    kind: str = "file"  # or "symlink" (to a log outside the data directory), or "directory"

    @property
    def entries(self) -> list[JSONObject]:
        """What a read of the task must return, oldest first: the entry of every whole valid line."""
        return [entry for _, entry in self.lines if entry is not None] if self.kind == "file" else []

    @property
    def damaged(self) -> bool:
        return self.kind != "file" or bool(self.tail) or any(entry is None for _, entry in self.lines)

    def render(self) -> bytes:
        return b"".join(raw + b"\n" for raw, _ in self.lines) + self.tail

    def replaced(self, at: int, raw: bytes) -> Log:
        """The log with line ``at`` replaced by bytes that are not an entry."""
        return Log([*self.lines[:at], (raw, None), *self.lines[at + 1 :]], self.tail)


def stamp(moment: datetime) -> str:
    """The canonical text of a UTC time, as the API writes it (RFC 3339, milliseconds, ``Z``)."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def canonical(text: str) -> str:
    return stamp(datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC))


ENTRY_TYPES = sorted(TYPES)


def history_entry(t: int, n: int, start: datetime) -> JSONObject:
    """Entry ``n`` of task ``t``: every type, workspaces, sessions, executions, roles, metadata, non-ASCII and
    multi-line content (every content starts with ``step``), createdAt rising with n (ties across tasks)."""
    return {
        "type": ENTRY_TYPES[(t + n) % len(ENTRY_TYPES)],
        "executionId": f"run-{n % 4}" if n % 3 else None,
        "workspaceId": f"ws-{t % 3}",
        "sessionId": f"s-{(t + n) % 5}",
        "role": "planner" if n % 2 else None,
        "content": f"step {n} of task {t}: naïve ✓ 日本" if n % 5 else f'step {n}\nsecond line, "quoted" \\ ü',
        "metadata": {"n": n, "nested": {"list": [1, 2.5, None, True]}} if n % 4 == 0 else None,
        "createdAt": stamp(start + timedelta(minutes=17 * n + t % 7)),
    }


def populate_history(store: Storehouse, project: str, count: int, start: datetime) -> dict[str, list[JSONObject]]:
    """``count`` tasks of 10 to 40 entries, appended a few at a time; returns what the store acknowledged."""
    logs = {}
    for t in range(count):
        entries = [history_entry(t, n, start) for n in range(10 + t * 7 % 31)]
        task = f"task-{t:03d}"
        logs[task] = [
            added
            for at in range(0, len(entries), 6)
            for added in store.add_history(project, task, entries[at : at + 6])
        ]
    return logs


def read_log(path: Path, entries: list[JSONObject]) -> Log:
    """The log as written: one line per acknowledged entry, each line that entry (read with the standard json)."""
    *lines, last = path.read_bytes().split(b"\n")
    assert last == b"", f"{path} does not end with a newline"
    assert [json.loads(line) for line in lines] == entries, f"{path} is not what was acknowledged"
    return Log(list(zip(lines, entries, strict=True)))


def cut_log(log: Log, cut: int) -> Log:
    """The log truncated at byte ``cut``: the lines wholly before it, and the line cut short as a torn tail."""
    kept: list[Line] = []
    at = 0
    for raw, entry in log.lines:
        if at + len(raw) + 1 > cut:
            return Log(kept, raw[: cut - at])
        kept.append((raw, entry))
        at += len(raw) + 1
    return Log(kept, log.tail[: cut - at])


def middle(log: Log, rng: random.Random) -> int:
    return rng.randrange(1, len(log.lines) - 1)


def log_torn_tail(log: Log, rng: random.Random, nth: int) -> Log:
    """Truncated at a random byte: inside the last line (nth 0), just its newline (1), anywhere (then)."""
    content = log.render()
    last = len(content) - len(log.lines[-1][0]) - 1
    cut = (rng.randrange(last + 1, len(content) - 1), len(content) - 1)[nth] if nth < 2 else rng.randrange(len(content))
    return cut_log(log, cut)


GARBAGE_TAILS = (b"\x00", b"}", b"garbage", b'{"type": "log", "content": "cut sh', b"\n", b"\xff\xfe\n", b"[1, 2]\n")


def log_garbage_appended(log: Log, rng: random.Random, _nth: int) -> Log:
    garbage = rng.choice(GARBAGE_TAILS)  # with a newline it is a whole line, without one a torn tail
    if garbage.endswith(b"\n"):
        return Log([*log.lines, (garbage[:-1], None)])
    return Log(list(log.lines), garbage)


def log_garbage_line(log: Log, rng: random.Random, _nth: int) -> Log:
    """A line in the middle replaced: by a line cut short (a crash the next append did not repair), or junk."""
    at = middle(log, rng)
    raw = log.lines[at][0]  # a strict prefix of a JSON object's line never parses
    return log.replaced(at, rng.choice([raw[: rng.randrange(1, len(raw))], b"\x00" * 16, b"garbage", b"}{", b""]))


def log_random_bytes(log: Log, rng: random.Random, _nth: int) -> Log:
    data = b"{"
    while any(segment.lstrip()[:1] == b"{" for segment in data.split(b"\n")):  # only an object could be an entry
        data = rng.randbytes(rng.randrange(1, 2 * len(log.render())))
    *lines, tail = data.split(b"\n")
    return Log([(line, None) for line in lines], tail)


WRONG_LINES = (  # valid JSON that is not an entry, without an integer "id" (for those: test_a_log_line_with_an_id_...)
    b"[]",
    b'"a history entry"',
    b"null",
    b"42",
    b"{}",
    b'{"id": "7", "taskId": "task-000", "type": "log", "content": "a string id", "expiresAt": "2999-01-01T00:00:00Z"}',
    b'{"id": 7.5, "taskId": "task-000", "type": "log", "content": "a fractional id"}',
    b'{"id": null, "type": "log"}',
    b'{"entries": [{"id": 1}]}',
)


def log_wrong_shape(log: Log, rng: random.Random, nth: int) -> Log:
    """Three lines replaced by valid JSON of the wrong shape."""
    for k, at in enumerate(sorted(rng.sample(range(len(log.lines)), 3))):
        log = log.replaced(at, WRONG_LINES[(3 * nth + k) % len(WRONG_LINES)])
    return log


def log_symlink_out(_log: Log, _rng: random.Random, _nth: int) -> Log:
    return Log([], kind="symlink")  # to a log of valid entries outside the data directory: never followed


def log_directory(_log: Log, _rng: random.Random, _nth: int) -> Log:
    return Log([], kind="directory")


def log_not_utf8(log: Log, rng: random.Random, _nth: int) -> Log:
    at = middle(log, rng)
    raw = log.lines[at][0]
    where = raw.index(b'"step') + 3  # inside the content
    return log.replaced(at, raw[:where] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc"]) + raw[where:])


LOG_DAMAGES: dict[str, Callable[[Log, random.Random, int], Log]] = {
    "torn tail": log_torn_tail,
    "garbage appended": log_garbage_appended,
    "garbage line": log_garbage_line,
    "random bytes": log_random_bytes,
    "wrong shape": log_wrong_shape,
    "symlink out": log_symlink_out,
    "directory": log_directory,
    "not UTF-8": log_not_utf8,
}
STRAY_FILES = ("notes.txt", "-not-a-task-id.jsonl")  # check names them too; no read sees them


@dataclass
class TornLogs(Seen):
    """What the torn-data harness saw of history logs (``damaged`` and ``logs`` are by task id)."""

    logs: dict[str, Log] = field(default_factory=dict)  # the oracle: what each log holds now
    entries: int = 0  # written before the damage
    held: int = 0  # entries the damaged logs still hold, by the oracle
    returned: int = 0  # of those, returned exactly by a read of their task
    damaged_served: int = 0  # entries returned that no whole valid line holds
    appended: int = 0  # appends to damaged logs, each read back
    tails_cut: int = 0  # of those, to a log with a torn tail, which the append cut off
    deleted: int = 0
    kept_aside: set[str] = field(default_factory=set)  # logs with damaged lines a delete set aside

    @property
    def should_name(self) -> set[str]:
        return {f"{task}.jsonl" for task in self.damaged} | set(STRAY_FILES)

    @property
    def line(self) -> str:
        named, should = self.check_named, self.should_name
        return (
            f"torn history: {self.files} logs ({self.entries:,} entries), {len(self.damaged)} damaged "
            f"{len(set(self.damaged.values()))} ways (+{len(STRAY_FILES)} stray files), {self.requests:,} requests, "
            f"{len(self.server_errors)} server errors, {len(self.wrong_answers)} wrong answers, "
            f"{len(self.list_problems)} wrong reads, check named {len(named & should)}/{len(should)} "
            f"(+{len(named - should)} intact), {self.returned}/{self.held} whole entries of damaged logs returned, "
            f"{self.damaged_served} damaged lines served, {self.appended} appends to damaged logs read back "
            f"({self.tails_cut} torn tails cut), {self.deleted} deleted"
        )


def task_url(project: str, task: str) -> str:
    return f"/api/projects/{project}/tasks/{task}/history"


def named_logs(report: CheckReport, project: str) -> set[str]:
    """The file names under the project's history directory that check reported."""
    prefix = f"{project}/history/"
    return {p[len(prefix) :].split(": ", 1)[0] for p in report.problems if p.startswith(prefix)}


def secret_log(start: datetime) -> bytes:
    """Valid entries, outside the data directory: served or counted, they would show a symlink was followed."""
    entries = [
        {"id": n, "taskId": "task-000", "type": "log", "executionId": None, "workspaceId": "ws-0", "sessionId": None,
         "role": None, "content": SECRET, "metadata": None, "createdAt": stamp(start),
         "expiresAt": stamp(start + timedelta(days=20))}
        for n in (1, 2, 3)
    ]  # fmt: skip
    return b"".join(json.dumps(entry).encode() + b"\n" for entry in entries)


def plant_log_damage(data_dir: Path, project: str, logs: dict[str, Log], rng: random.Random) -> TornLogs:
    """Damage about a tenth of the logs, every way in turn, and add the stray files; the oracle follows."""
    directory = HISTORY.directory(data_dir, project)
    outside = data_dir.parent / "outside.jsonl"
    seen = TornLogs(files=len(logs), logs=dict(logs), entries=sum(len(log.entries) for log in logs.values()))
    victims = sorted(rng.sample(sorted(logs), max(len(LOG_DAMAGES), len(logs) // 10)))
    for position, task in enumerate(victims):
        how = list(LOG_DAMAGES)[position % len(LOG_DAMAGES)]
        log = LOG_DAMAGES[how](logs[task], rng, position // len(LOG_DAMAGES))
        path = directory / f"{task}.jsonl"
        if log.kind == "symlink":
            symlink_out(path, b"", rng, 0, outside)
        elif log.kind == "directory":
            directory_named_like_a_file(path, b"", rng, 0, outside)
        else:
            path.write_bytes(log.render())
        seen.logs[task] = log
        if log.damaged:
            seen.damaged[task] = how
    for name in STRAY_FILES:
        (directory / name).write_bytes(logs[victims[0]].render())
    return seen


def log_queries(start: datetime) -> tuple[dict[str, str], ...]:
    """Reads with every filter, both orders; ``since`` with an offset, to be normalised."""
    since = (start + timedelta(hours=3)).astimezone(timezone(timedelta(hours=2))).isoformat()
    until = stamp(start + timedelta(hours=8))
    return (
        {},
        {"order": "desc"},
        {"type": "chat_message,agent_turn"},
        {"type": "log", "order": "desc"},
        {"workspaceId": "ws-1"},
        {"sessionId": "s-2", "order": "desc"},
        {"executionId": "run-3"},
        {"since": since, "until": until},
        {"type": "error", "since": since, "order": "desc"},
    )


def log_matches(entry: JSONObject, query: dict[str, str]) -> bool:
    """The harness's own reading of the history filters (DESIGN section 4, README)."""
    if "type" in query and entry["type"] not in query["type"].split(","):
        return False
    for name in ("workspaceId", "sessionId", "executionId"):
        if name in query and entry[name] != query[name]:
            return False
    if "since" in query and entry["createdAt"] < canonical(query["since"]):
        return False
    return not ("until" in query and entry["createdAt"] >= canonical(query["until"]))


def across_tasks(logs: dict[str, Log]) -> list[JSONObject]:
    """Every entry of every task, as the read across tasks orders them: by createdAt, then task, then id."""
    entries = [entry for log in logs.values() for entry in log.entries]
    return sorted(entries, key=lambda entry: (entry["createdAt"], entry["taskId"], entry["id"]))


def oldest(entries: list[JSONObject]) -> str | None:
    return min((str(entry["createdAt"]) for entry in entries), default=None)


async def read_log_pages(
    seen: TornLogs, client: httpx.AsyncClient, url: str, query: dict[str, str], expected: list[JSONObject], limit: int
) -> list[JSONObject]:
    """Every page of a history read (by offset); records a wrong answer against the oracle; returns the entries."""
    want = [entry for entry in expected if log_matches(entry, query)]
    want = want[::-1] if query.get("order") == "desc" else want
    got: list[JSONObject] = []
    total = -1
    for _ in range(1000):
        answer = await ask(seen, client, "GET", url, params={**query, "limit": limit, "offset": len(got)})
        if answer.status_code != 200:
            seen.wrong_answers.append(f"GET {url} {query}: {answer.status_code} {answer.text[:200]}")
            return got
        body = answer.json()
        got += body["entries"]
        total = body["total"]
        if len(got) >= total or not body["entries"]:
            break
    if got != want or total != len(want):
        served = [entry for entry in got if entry not in expected]
        seen.damaged_served += len(served)
        seen.list_problems.append(
            f"GET {url} {query}: {[(e.get('taskId'), e.get('id')) for e in got]} (total {total}), the oracle says "
            f"{[(e['taskId'], e['id']) for e in want]}; {len(served)} held by no whole valid line"
        )
    return got


async def read_logs(
    seen: TornLogs, client: httpx.AsyncClient, project: str, queries: tuple[dict[str, str], ...]
) -> dict[str, list[JSONObject]]:
    """Every history read over the damaged project; returns what the plain read of each task returned."""
    plain: dict[str, list[JSONObject]] = {}
    for task, log in sorted(seen.logs.items()):
        url = task_url(project, task)
        for query in queries:
            got = await read_log_pages(seen, client, url, query, log.entries, limit=7)
            if not query:
                plain[task] = got
        for path, want in (
            (f"{url}/count", {"count": len(log.entries)}),
            (f"{url}/oldest", {"createdAt": oldest(log.entries)}),
        ):
            answer = await ask(seen, client, "GET", path)
            if answer.status_code != 200 or answer.json() != want:
                seen.list_problems.append(
                    f"GET {path}: {answer.status_code} {answer.text[:200]}, the oracle says {want}"
                )
    everything = across_tasks(seen.logs)
    for query in queries:
        await read_log_pages(seen, client, HISTORY.url(project), query, everything, limit=250)
    return plain


def sample_logs_through_a_real_server(seen: TornLogs, data_dir: Path, project: str) -> None:
    """A sample of history reads through a real ``storehouse serve`` that opens the damaged project itself."""
    server = Server(data_dir)
    try:
        with httpx.Client(base_url=server.url) as client:
            intact = sorted(set(seen.logs) - set(seen.damaged))
            expected: list[tuple[str, object]] = []
            for task in sorted(seen.damaged) + intact[::10]:
                entries, url = seen.logs[task].entries, task_url(project, task)
                expected += [
                    (f"{url}?limit=1000", {"entries": entries, "total": len(entries)}),
                    (f"{url}?limit=5&offset=3&order=desc", {"entries": entries[::-1][3:8], "total": len(entries)}),
                    (f"{url}/count", {"count": len(entries)}),
                    (f"{url}/oldest", {"createdAt": oldest(entries)}),
                ]
            everything = across_tasks(seen.logs)
            expected += [
                (
                    f"{HISTORY.url(project)}?limit=1000&offset={offset}",
                    {"entries": everything[offset : offset + 1000], "total": len(everything)},
                )
                for offset in range(0, len(everything) + 1, 1000)
            ]
            for path, want in expected:
                answer = client.get(path)
                seen.requests += 1
                if answer.status_code >= 500 or SECRET in answer.text:
                    seen.server_errors.append(f"real server GET {path}: {answer.status_code} {answer.text[:200]}")
                elif answer.status_code != 200 or answer.json() != want:
                    seen.list_problems.append(f"real server GET {path}: {answer.status_code} {answer.text[:200]}")
    finally:
        server.stop()


async def append_to_damaged_logs(
    seen: TornLogs, client: httpx.AsyncClient, data_dir: Path, project: str, kinds: frozenset[str]
) -> None:
    """Append an entry to each damaged log of the given kinds: a 201; the log then holds its whole lines and the
    new one (a torn tail cut off, nothing else changed); a read returns the entries before and the new one."""
    for task, how in sorted(seen.damaged.items()):
        if how not in kinds:
            continue
        log, url = seen.logs[task], task_url(project, task)
        body = {"type": "log", "content": f"appended after damage: {how}", "sessionId": "s-after"}
        answer = await ask(seen, client, "POST", url, json=body)
        if how == "directory":  # nothing can replace it: a 409 that names it, and the directory stays
            if answer.status_code != 409 or not (HISTORY.directory(data_dir, project) / f"{task}.jsonl").is_dir():
                seen.wrong_answers.append(f"POST {url} ({how}): {answer.status_code} {answer.text[:200]}, not 409")
            continue
        if answer.status_code != 201:
            seen.wrong_answers.append(f"POST {url} ({how}): {answer.status_code} {answer.text[:200]}")
            continue
        [added] = answer.json()["entries"]
        if added["id"] <= max((entry["id"] for entry in log.entries), default=0) or added["content"] != body["content"]:
            seen.wrong_answers.append(f"POST {url} ({how}): {added}, after ids {[e['id'] for e in log.entries]}")
        path = HISTORY.directory(data_dir, project) / f"{task}.jsonl"
        before = b"".join(raw + b"\n" for raw, _ in log.lines) if log.kind == "file" else b""
        raw = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        if not raw.startswith(before) or raw[len(before) :].count(b"\n") != 1 or not raw.endswith(b"\n"):
            seen.wrong_answers.append(
                f"POST {url} ({how}): the log is not its whole lines and the new one: {raw[-300:]!r}"
            )
            continue
        if json.loads(raw[len(before) :]) != added:
            seen.wrong_answers.append(f"POST {url} ({how}): the new line is not the entry answered")
        seen.logs[task] = Log([*(log.lines if log.kind == "file" else []), (raw[len(before) : -1], added)])
        seen.appended += 1
        seen.tails_cut += bool(log.tail)
        await read_log_pages(seen, client, url, {}, seen.logs[task].entries, limit=100)


async def delete_logs(seen: TornLogs, client: httpx.AsyncClient, project: str, tasks: list[str]) -> None:
    """Delete each task's history: the answer counts what a read showed, and a read shows nothing afterwards.
    (What stays on disk is the store's business: a tombstone of the newest id keeps ids from starting again.)"""
    for task in tasks:
        url, log = task_url(project, task), seen.logs[task]
        answer = await ask(seen, client, "DELETE", url)
        if seen.damaged.get(task) == "directory":  # nothing can remove it but a person: a 409, and it stays
            if answer.status_code != 409:
                seen.wrong_answers.append(f"DELETE {url} (directory): {answer.status_code} {answer.text[:200]}")
            continue
        if answer.status_code != 200 or answer.json() != {"deleted": len(log.entries)}:
            seen.wrong_answers.append(
                f"DELETE {url}: {answer.status_code} {answer.text[:200]}, {len(log.entries)} held"
            )
            continue
        if log.damaged:  # a file with a line that is not an entry is never rewritten: it stays aside (#13)
            seen.kept_aside.add(f"{task}.jsonl")
        seen.logs[task] = Log([])
        seen.deleted += 1
        await read_log_pages(seen, client, url, {}, [], limit=100)


async def run_history(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, count: int, real_server: bool
) -> TornLogs:
    """The history subject: damage, every read, appends to the damaged logs, clean-up, deletes."""
    project = "torn"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=5)  # well within the 20 days entries live
    with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as writer:
        written = populate_history(writer, project, count, start)
    directory = HISTORY.directory(data_dir, project)
    logs = {task: read_log(directory / f"{task}.jsonl", entries) for task, entries in written.items()}
    (data_dir.parent / "outside.jsonl").write_bytes(secret_log(start))
    outside = (data_dir.parent / "outside.jsonl").read_bytes()
    seen = plant_log_damage(data_dir, project, logs, random.Random(4))
    # 1. every read, over the damaged logs: whole lines exactly, damaged lines never
    plain = await read_logs(seen, http, project, log_queries(start))
    for task in seen.damaged:
        seen.held += len(seen.logs[task].entries)
        seen.returned += len(seen.logs[task].entries) if plain.get(task) == seen.logs[task].entries else 0
    # 2. check names exactly the damaged logs and the stray files
    seen.check_named = named_logs(store.check(), project)
    if real_server:
        sample_logs_through_a_real_server(seen, data_dir, project)
    # 3. an append to every damaged log; then check names only those that still hold a damaged line
    await append_to_damaged_logs(seen, http, data_dir, project, frozenset(LOG_DAMAGES))
    still = {f"{task}.jsonl" for task, log in seen.logs.items() if log.damaged} | set(STRAY_FILES)
    if (named := named_logs(store.check(), project)) != still:
        seen.wrong_answers.append(f"after the appends check named {sorted(named)}, not {sorted(still)}")
    # 4. the clean-up finds nothing expired and no task past its cap, and no read changes
    answer = await ask(seen, http, "POST", f"{HISTORY.url(project)}/cleanup", json={})
    if answer.status_code != 200 or answer.json() != {"deleted": 0}:
        seen.wrong_answers.append(f"POST cleanup: {answer.status_code} {answer.text[:200]}, nothing has expired")
    await read_logs(seen, http, project, ({}, {"order": "desc"}))
    # 5. delete every damaged log, and two intact ones; then check names what is left
    intact = sorted(set(seen.logs) - set(seen.damaged))[:2]
    await delete_logs(seen, http, project, [task for task in sorted(seen.damaged) if task not in intact] + intact)
    still = {f"{task}.jsonl" for task, log in seen.logs.items() if log.damaged} | set(STRAY_FILES)
    still |= {f"{name} (kept aside)" for name in seen.kept_aside}
    named = {f"{n.split('.kept-')[0]} (kept aside)" if ".kept-" in n else n for n in named_logs(store.check(), project)}
    if named != still:
        seen.wrong_answers.append(f"after the deletes check named {sorted(named)}, not {sorted(still)}")
    await read_logs(seen, http, project, ({},))
    if (data_dir.parent / "outside.jsonl").read_bytes() != outside:
        seen.wrong_answers.append("the log a symlink points to was changed")
    return seen


# -- tasks: one JSON document a file, as executions, and a graph of dependencies between them -------------
PRIORITY_ORDER = ("critical", "high", "medium", "low")  # README "### Tasks": critical first, then oldest first
EDGE_TYPES = ("blocks", "requires", "related")
HOLDING = frozenset({"blocks", "requires"})  # README: related never holds a task back
MOVES: tuple[tuple[str, ...], ...] = (  # the transitions each task makes (README's table), by task number
    (),
    ("running", "succeeded"),
    ("running",),
    ("running", "failed"),
    ("running", "succeeded"),
    ("cancelled",),
    ("running", "failed", "pending"),  # a retry
    ("running", "cancelled", "pending", "running", "succeeded"),  # reopened, then done
)


def populate_tasks(store: Storehouse, project: str, count: int) -> dict[str, JSONObject]:
    """Tasks as varied as real ones: every priority and status (through transitions, retries and reopenings),
    tags, assignees, complexities, non-ASCII and multi-line text; most depend on one to three of the 20 tasks
    before them (every type of edge), some through a dependency call after creation, and the task before each
    of the others depends on it. Returns each task as the store last acknowledged it."""
    rng = random.Random(6)
    documents: dict[str, JSONObject] = {}
    for n in range(count):
        item = f"task-{n:04d}"
        earlier = list(documents)[-20:]
        targets = sorted(rng.sample(earlier, min(len(earlier), (0, 1, 1, 2, 2, 3)[n % 6])))
        body: JSONObject = {
            "id": item,
            "title": f"task {n} ✓ naïve 日本" if n % 4 == 0 else f"task-{n}",
            "description": f'do step {n}\nsecond line, "quoted" \\ ü' if n % 3 else None,
            "priority": PRIORITY_ORDER[n * 7 % 4],
            "complexityScore": 1 + n % 10 if n % 5 else None,
            "tags": [f"t{n % 5}", *(["nightly"] if n % 3 == 0 else [])],
            "assignedTo": f"agent-{n % 3}" if n % 2 else None,
            "requirements": [{"text": f"requirement {n}", "nested": [1, 2.5, None]}] if n % 4 == 1 else [],
            "metadata": {"n": n},
            "dependencies": [{"taskId": t, "type": EDGE_TYPES[(n + k) % 3]} for k, t in enumerate(targets)],
        }
        documents[item] = store.create_task(project, body)
        for to in MOVES[n % len(MOVES)]:
            actor = f"agent-{n % 3}" if n % 2 else None
            documents[item] = store.transition_task(project, item, to, reason=f"step {n}", actor=actor)
        extra = [(item, t) for t in earlier[::-1] if t not in targets][:1] if n % 9 == 4 else []
        if not targets and earlier:  # nothing to reach from item, so an edge to it closes no cycle
            extra.append((earlier[-1], item))  # an edge to a later task: the order is not the order of ids
        for source, target in extra:  # an edge added after creation, through its own call
            store.add_dependency(project, source, target, "requires")
            documents[source] = store.get_task(project, source)
            assert {"taskId": target, "type": "requires"} in documents[source]["dependencies"]
    return documents


TASK_WRONG_SHAPES: tuple[JSONValue, ...] = (  # an object: changes to the task's own fields; else the whole file
    {"status": "exploded"},
    [],
    {"dependencies": {"not": "a list"}},
    {"version": None},
    {"complexityScore": 11},
    None,
    {"transitions": "none"},
    {"title": ""},
    {"createdAt": "yesterday"},
    {"dependencies": [{"taskId": "../outside", "type": "blocks"}]},
    {"tags": "one"},
    "a task",
    {"priority": "urgent"},
    42,
)


def task_wrong_shape(path: Path, original: bytes, _rng: random.Random, nth: int, _: Path) -> bool:
    shape = TASK_WRONG_SHAPES[nth % len(TASK_WRONG_SHAPES)]
    path.write_text(json.dumps({**json.loads(original), **shape} if isinstance(shape, dict) else shape, indent=2))
    return True


TASK_DAMAGES: dict[str, Damage] = {**DAMAGES, "wrong shape": task_wrong_shape}  # the same seven, in order


@dataclass
class TornTasks(Torn):
    """What the torn-data harness saw of task files (the graph: edges between tasks, held in their files)."""

    tasks: dict[str, JSONObject] = field(default_factory=dict)  # the oracle: every readable task, as it is now
    fixed: dict[str, str] = field(default_factory=dict)  # damaged id -> the PUT or DELETE that replaced it
    edges: int = 0  # in the intact files
    transitions: int = 0  # in the intact files
    refused: int = 0  # writes that named a damaged task and were refused, leaving every file as it was

    def state(self, item: str) -> str | None:
        """How a task's file is damaged now: a way of damage, "deleted", or None (readable: in ``tasks``)."""
        if self.fixed.get(item) == "DELETE":
            return "deleted"
        return None if item in self.tasks else self.damaged[item]

    @property
    def line(self) -> str:
        return (
            f"torn tasks: {self.files} files ({self.edges} edges, {self.transitions} transitions intact), "
            f"{len(self.damaged)} damaged {len(set(self.damaged.values()))} ways, {self.requests:,} requests, "
            f"{len(self.server_errors)} server errors, {len(self.wrong_answers)} wrong answers, check named "
            f"{len(self.check_named & set(self.damaged))}/{len(self.damaged)} "
            f"(+{len(self.check_named - set(self.damaged))} intact), reindex recovered {self.recovered}/"
            f"{len(self.intact)}, {len(self.list_problems)} list problems, {self.refused} writes naming a damaged "
            f"task refused, {sum(m == 'PUT' for m in self.fixed.values())} replaced by PUT, "
            f"{sum(m == 'DELETE' for m in self.fixed.values())} deleted"
        )


TASK_QUERIES: tuple[dict[str, str], ...] = (
    {},
    *({"status": status} for status in TASK_STATUSES),
    {"status": "failed,running"},
    *({"priority": priority} for priority in PRIORITY_ORDER),
    {"priority": "critical,low", "status": "pending"},
    {"tag": "nightly"},
    {"tag": "t3", "status": "succeeded"},
    {"assignedTo": "agent-1"},
    {"assignedTo": "agent-2", "priority": "high,medium"},
    {"ready": "true"},
    {"ready": "false"},
    {"ready": "false", "status": "pending"},  # pending, but held back
    {"ready": "true", "priority": "critical"},
    {"ready": "true", "tag": "t2", "assignedTo": "agent-1"},
)


def ready_tasks(documents: dict[str, JSONObject]) -> set[str]:
    """The harness's own reading of readiness (README): pending, and every blocks or requires dependency has
    succeeded. An edge to a task that no readable file holds (damaged, deleted) holds nothing back, as
    ``storehouse/task_index.py`` rules for an edge to a task that is gone."""
    return {
        item
        for item, document in documents.items()
        if document["status"] == "pending"
        and all(
            documents.get(edge["taskId"], {}).get("status", "succeeded") == "succeeded"
            for edge in document["dependencies"]
            if edge["type"] in HOLDING
        )
    }


def task_matches(document: JSONObject, query: dict[str, str], ready: set[str]) -> bool:
    """The harness's own reading of the task list filters (README "### Tasks")."""
    for name in ("status", "priority"):
        if name in query and document[name] not in query[name].split(","):
            return False
    if "tag" in query and query["tag"] not in document["tags"]:
        return False
    if "assignedTo" in query and document["assignedTo"] != query["assignedTo"]:
        return False
    return query.get("ready") is None or (document["id"] in ready) == (query["ready"] == "true")  # false: the others


def task_order_key(summary: JSONObject) -> tuple[int, str]:
    return PRIORITY_ORDER.index(summary["priority"]), summary["createdAt"]


def summary_differs(summary: JSONObject, document: JSONObject | None) -> bool:
    """Whether a summary holds anything its task's file does not (a summary is a subset of the document)."""
    return document is None or any(summary[name] != document.get(name) for name in summary)


async def walk_tasks(
    seen: Torn, client: httpx.AsyncClient, url: str, query: dict[str, str]
) -> tuple[list[JSONObject], int]:
    """Every page of a task listing, 37 at a time by offset; returns the summaries and the total."""
    summaries: list[JSONObject] = []
    total = -1
    for _ in range(1000):
        answer = await ask(seen, client, "GET", url, params={**query, "limit": 37, "offset": len(summaries)})
        if answer.status_code != 200:
            seen.wrong_answers.append(f"GET {url} {query}: {answer.status_code} {answer.text[:200]}")
            break
        body = answer.json()
        summaries += body["tasks"]
        total = body["total"]
        if len(summaries) >= total or not body["tasks"]:
            break
    return summaries, total


TASK_READS = ("", "/transitions", "/dependencies", "/dependents", "/context")  # the reads of one task


async def read_tasks(
    seen: TornTasks, client: httpx.AsyncClient, project: str, exact: bool, items: set[str] | None = None
) -> None:
    """Every read the task API has, over damaged files: no 5xx; each read of a damaged task is a 404 (that names
    ``storehouse check`` when the file is there but unreadable). With ``exact`` (the index is rebuilt), every
    read of an intact task is also held against the oracle: its transitions, its dependencies and dependents
    (a damaged one has no summary) and its context. ``items``: only the reads of these tasks (default: all)."""
    url = TASKS.url(project)
    for query in TASK_QUERIES:
        await walk_tasks(seen, client, url, query)
    await ask(seen, client, "GET", f"{url}/order")
    await ask(seen, client, "GET", f"/api/projects/{project}/metrics")
    for n, item in enumerate(sorted(items if items is not None else {*seen.damaged, *seen.intact})):
        how = seen.state(item)
        for read in TASK_READS:
            params = {"format": "json", "maxChars": 600} if read == "/context" and n % 2 else {}
            answer = await ask(seen, client, "GET", f"{url}/{item}{read}", params=params)
            where = f"GET {item}{read} ({how or 'intact'})"
            if how is not None:
                if answer.status_code != 404 or answer.json()["error"]["code"] != "not_found":
                    seen.wrong_answers.append(f"{where}: {answer.status_code} {answer.text[:200]}")
                elif how in UNPARSABLE and "storehouse check" not in answer.json()["error"]["message"]:
                    seen.wrong_answers.append(f"{where}: the 404 does not name 'storehouse check'")
            elif answer.status_code != 200:
                seen.wrong_answers.append(f"{where}: {answer.status_code} {answer.text[:200]}")
            elif exact or read == "":
                problem = intact_read_problem(seen, project, item, read, params, answer)
                if problem:
                    seen.wrong_answers.append(f"{where}: {problem}")


def intact_read_problem(
    seen: TornTasks, project: str, item: str, read: str, params: dict[str, Any], answer: httpx.Response
) -> str | None:
    """What is wrong with a read of an intact task, by the oracle (None: nothing)."""
    document = seen.tasks[item]
    if read == "":
        return None if answer.json() == {"task": document} else "not the task as acknowledged"
    if read == "/transitions":
        return None if answer.json() == {"transitions": document["transitions"]} else "not its transitions"
    if read in ("/dependencies", "/dependents"):
        if read == "/dependencies":
            want = {(edge["taskId"], edge["type"]) for edge in document["dependencies"]}
        else:
            want = {
                (other, edge["type"])
                for other, task in seen.tasks.items()
                for edge in task["dependencies"]
                if edge["taskId"] == item
            }
        found = answer.json()[read[1:]]
        if {(edge["taskId"], edge["type"]) for edge in found} != want or len(found) != len(want):
            return f"{sorted((e['taskId'], e['type']) for e in found)}, the files say {sorted(want)}"
        for edge in found:  # a damaged neighbour has no summary; an intact one has its file's
            other = seen.tasks.get(edge["taskId"])
            if (edge["task"] is None) != (other is None) or (other and summary_differs(edge["task"], other)):
                return f"the summary of {edge['taskId']} is not its file's: {edge['task']}"
        return None
    text = answer.text  # the context: within its budget, about this task
    if len(text) > params.get("maxChars", 8000):
        return f"{len(text)} characters, over the budget"
    if params.get("format") == "json":
        return None if json.loads(text)["task"]["id"] == item else "the JSON context is not about this task"
    return None if text.startswith(f"# Task {item}: ") else f"the Markdown context starts {text[:80]!r}"


async def verify_task_lists(seen: TornTasks, client: httpx.AsyncClient, project: str) -> None:
    """Every readable task is listed exactly once by every filter and page, in order, with its file's summary;
    the order puts each after its readable dependencies; the metrics count the readable files."""
    url = TASKS.url(project)
    tasks = seen.tasks
    ready = ready_tasks(tasks)
    for query in TASK_QUERIES:
        expected = {item for item, document in tasks.items() if task_matches(document, query, ready)}
        summaries, total = await walk_tasks(seen, client, url, query)
        ids = [summary["id"] for summary in summaries]
        if len(ids) != len(set(ids)) or set(ids) != expected or total != len(expected):
            seen.list_problems.append(f"{query}: {len(ids)} listed, total {total}, {len(expected)} intact match")
        keys = [task_order_key(summary) for summary in summaries]
        if keys != sorted(keys):
            seen.list_problems.append(f"{query}: not critical first, then oldest first")
        for summary in summaries:
            if summary_differs(summary, tasks.get(summary["id"])):
                seen.list_problems.append(f"{query}: the summary of {summary['id']} is not its file's")
    order = (await ask(seen, client, "GET", f"{url}/order")).json()["tasks"]
    position = {summary["id"]: at for at, summary in enumerate(order)}
    if len(order) != len(position) or set(position) != set(tasks):
        seen.list_problems.append(f"order: {len(order)} listed, {len(tasks)} readable")
    for item, document in tasks.items():
        before = [edge["taskId"] for edge in document["dependencies"] if edge["taskId"] in tasks]
        if item in position and any(position.get(other, len(order)) > position[item] for other in before):
            seen.list_problems.append(f"order: {item} comes before one of {before}")
    if any(summary_differs(summary, tasks.get(summary["id"])) for summary in order):
        seen.list_problems.append("order: a summary is not its file's")
    metrics = (await ask(seen, client, "GET", f"/api/projects/{project}/metrics")).json()
    by_status = {status: sum(d["status"] == status for d in tasks.values()) for status in TASK_STATUSES}
    scores = [d["complexityScore"] for d in tasks.values() if d["complexityScore"] is not None]
    expected_metrics = {
        "totalTasks": len(tasks),
        "tasksByStatus": by_status,
        "pendingTasks": by_status["pending"],
        "readyTasks": len(ready),
        "totalExecutions": 0,
    }
    average, want = metrics.get("averageComplexity"), sum(scores) / len(scores) if scores else None
    if {name: metrics.get(name) for name in expected_metrics} != expected_metrics or (
        average != want and (average is None or want is None or abs(average - want) > 0.006)
    ):
        seen.list_problems.append(f"metrics {metrics}, the readable files say {expected_metrics}, average {want}")


def sample_tasks_through_a_real_server(seen: TornTasks, data_dir: Path, project: str) -> None:
    """A sample of task reads through a real ``storehouse serve`` that opens the damaged project itself."""
    server = Server(data_dir)
    try:
        with httpx.Client(base_url=server.url) as client:
            url = TASKS.url(project)
            damaged, intact = sorted(seen.damaged), sorted(seen.intact)
            paths = [url, f"{url}?ready=true", f"{url}?status=pending&priority=high", f"{url}/order"]
            paths += [f"/api/projects/{project}/metrics"]
            reads = [
                (f"{url}/{item}{read}", item in seen.damaged) for item in damaged + intact[::25] for read in TASK_READS
            ]
            for path, damaged_task in [(path, False) for path in paths] + reads:
                answer = client.get(path)
                seen.requests += 1
                if answer.status_code >= 500 or SECRET in answer.text:
                    seen.server_errors.append(f"real server GET {path}: {answer.status_code} {answer.text[:200]}")
                elif answer.status_code != (404 if damaged_task else 200):
                    seen.wrong_answers.append(f"real server GET {path}: {answer.status_code} {answer.text[:200]}")
            listed = client.get(url, params={"limit": 1000}).json()
            order = client.get(f"{url}/order").json()["tasks"]
            if listed["total"] != len(seen.intact) or len(order) != len(seen.intact):
                seen.list_problems.append("real server: the list total or the order is not the intact count")
    finally:
        server.stop()


async def refuse_damaged_tasks(seen: TornTasks, client: httpx.AsyncClient, data_dir: Path, project: str) -> None:
    """Every write that names a damaged task but does not replace or delete it is refused, and changes no file:
    a transition (404; a directory: 404 or 409), a PATCH, an edge from it or to it, removing an edge of it."""
    url = TASKS.url(project)
    directory = TASKS.directory(data_dir, project)
    files = {path.name: snapshot(path) for path in directory.iterdir()}
    intact = sorted(seen.tasks)
    for n, (item, how) in enumerate(sorted(seen.damaged.items())):
        other = intact[n * 7 % len(intact)]
        edges = {edge["taskId"] for edge in seen.tasks[other]["dependencies"]}
        writes: list[tuple[str, str, JSONObject | None]] = [
            ("POST", f"{url}/{item}/transitions", {"to": "running", "reason": "after damage"}),
            ("PATCH", f"{url}/{item}", {"title": "patched after damage"}),
            ("PUT", f"{url}/{item}/dependencies/{other}", {"type": "blocks"}),
            ("DELETE", f"{url}/{item}/dependencies/{other}", None),
        ]
        if item not in edges:  # a PUT of an edge the file already holds is that edge, whatever it points to
            writes.append(("PUT", f"{url}/{other}/dependencies/{item}", {"type": "requires"}))
        for method, path, body in writes:
            answer = await ask(seen, client, method, path, json=body)
            allowed = (404, 409) if how == "directory" else (404,)
            if answer.status_code not in allowed:
                seen.wrong_answers.append(f"{method} {path} ({how}): {answer.status_code} {answer.text[:200]}")
            else:
                seen.refused += 1
    after = {path.name: snapshot(path) for path in directory.iterdir()}
    if after != files:
        changed = sorted(name for name in set(files) | set(after) if files.get(name) != after.get(name))
        seen.wrong_answers.append(f"refused writes changed the files {changed}")


def snapshot(path: Path) -> tuple[str, bytes]:
    """What a directory entry is and holds, without following a symlink."""
    if path.is_symlink():
        return "symlink", str(path.readlink()).encode()
    if not path.exists():
        return "absent", b""
    return ("directory", b"") if path.is_dir() else ("file", path.read_bytes())


async def replace_and_delete_damaged(seen: TornTasks, client: httpx.AsyncClient, data_dir: Path, project: str) -> None:
    """For each way of damage but a directory: a PUT over the first damaged file replaces it as if absent (201,
    version 1, a regular file) and the task joins the graph the intact files already point into; a DELETE
    removes the second (204). A directory named like a task file is a 409 for both, and stays."""
    url = TASKS.url(project)
    directory = TASKS.directory(data_dir, project)
    for how in TASK_DAMAGES:
        victims = [item for item, kind in sorted(seen.damaged.items()) if kind == how]
        for item, method in zip(victims, ("PUT", "DELETE"), strict=False):
            path = directory / f"{item}.json"
            body = {"title": f"replaced after damage: {how}", "priority": "critical", "tags": ["replaced"]}
            answer = await ask(seen, client, method, f"{url}/{item}", json=body if method == "PUT" else None)
            if how == "directory":
                if answer.status_code != 409 or not path.is_dir():
                    seen.wrong_answers.append(f"{method} {item} (directory): {answer.status_code}, not 409")
            elif method == "PUT":
                await replaced_damaged(seen, client, project, item, how, answer, path)
            else:
                await deleted_damaged(seen, client, project, item, how, answer, path)


async def replaced_damaged(
    seen: TornTasks, client: httpx.AsyncClient, project: str, item: str, how: str, answer: httpx.Response, path: Path
) -> None:
    """After a PUT over a damaged task: a new task (201, version 1, no transitions), its file a regular file that
    holds it; an edge from it to a task that depends on it would close a cycle (409 naming it)."""
    task = answer.json().get("task", {}) if answer.status_code == 201 else {}
    if task.get("version") != 1 or task.get("transitions") != [] or not str(task.get("title")).endswith(how):
        seen.wrong_answers.append(f"PUT {item} ({how}): {answer.status_code} {answer.text[:200]}")
        return
    kind, raw = snapshot(path)
    if kind != "file" or json.loads(raw) != task:
        seen.wrong_answers.append(f"PUT {item} ({how}): the file is not the task answered")
        return
    seen.tasks[item] = task
    seen.fixed[item] = "PUT"
    dependents = sorted(t for t, d in seen.tasks.items() if any(e["taskId"] == item for e in d["dependencies"]))
    for other in dependents[:1]:
        refused = await ask(seen, client, "PUT", f"{TASKS.url(project)}/{item}/dependencies/{other}")
        if refused.status_code != 409 or refused.json()["error"].get("cycle") != [item, other, item]:
            seen.wrong_answers.append(f"PUT {item}/dependencies/{other}: {refused.status_code} {refused.text[:200]}")


async def deleted_damaged(
    seen: TornTasks, client: httpx.AsyncClient, project: str, item: str, how: str, answer: httpx.Response, path: Path
) -> None:
    """After a DELETE of a damaged task: 204, the path gone, no history, and each task that depended on it without
    that edge (a version more, nothing else changed)."""
    if answer.status_code != 204 or snapshot(path) != ("absent", b""):
        seen.wrong_answers.append(f"DELETE {item} ({how}): {answer.status_code} {answer.text[:200]}, or still there")
        return
    seen.fixed[item] = "DELETE"
    history = (await ask(seen, client, "GET", f"{TASKS.url(project)}/{item}/history")).json()
    if history.get("total") != 0:
        seen.wrong_answers.append(f"DELETE {item} ({how}): its history is still read: {history}")
    for other, document in sorted(seen.tasks.items()):
        if not any(edge["taskId"] == item for edge in document["dependencies"]):
            continue
        now = (await ask(seen, client, "GET", f"{TASKS.url(project)}/{other}")).json().get("task", {})
        kept = [edge for edge in document["dependencies"] if edge["taskId"] != item]
        expected = {**document, "dependencies": kept, "version": document["version"] + 1}
        if {**now, "updatedAt": None} != {**expected, "updatedAt": None}:
            seen.wrong_answers.append(f"DELETE {item} ({how}): its dependent {other} is now {now}")
        else:
            seen.tasks[other] = now


async def run_tasks(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, count: int, real_server: bool
) -> TornTasks:
    """The tasks subject: damage, every read before and after reindex, refused writes, PUT and DELETE."""
    project = "torn"
    with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as writer:
        documents = populate_tasks(writer, project, count)
    assert (await http.get(TASKS.url(project))).json()["total"] == count  # the running store opens it
    outside = {**documents[min(documents)], "title": SECRET, "description": SECRET}  # a valid task, outside
    seen = plant_damage(data_dir, TASKS, project, documents, random.Random(4), TornTasks(), TASK_DAMAGES, outside)
    seen.tasks = dict(seen.intact)
    seen.edges = sum(len(document["dependencies"]) for document in seen.intact.values())
    seen.transitions = sum(len(document["transitions"]) for document in seen.intact.values())
    target = (data_dir.parent / "outside.json").read_bytes()
    # 1. the running store, whose index still holds the damaged rows (README: run reindex after hand edits)
    await read_tasks(seen, http, project, exact=False)
    # 2. check names exactly the damaged files
    seen.check_named = checked_ids(store.check(), project, TASKS)
    # 3. after reindex, every intact task exactly once, everywhere, and every read as the files say
    store.reindex(project)
    await verify_task_lists(seen, http, project)
    listed, _ = await walk_tasks(seen, http, TASKS.url(project), {})
    seen.recovered = len({summary["id"] for summary in listed} & set(seen.intact))
    await read_tasks(seen, http, project, exact=True)
    if real_server:
        sample_tasks_through_a_real_server(seen, data_dir, project)
    # 4. writes naming a damaged task are refused and change no file; then PUT and DELETE over damaged files.
    # (Writes come after the reindex, as for executions; a DELETE of a task that a damaged file depends on,
    # before a reindex, has its own test: test_deleting_a_task_a_damaged_file_depends_on_... below.)
    await refuse_damaged_tasks(seen, http, data_dir, project)
    await replace_and_delete_damaged(seen, http, data_dir, project)
    still = {item for item in seen.damaged if item not in seen.fixed}
    if (named := checked_ids(store.check(), project, TASKS)) != still:
        seen.wrong_answers.append(f"after the writes check named {sorted(named)}, not {sorted(still)}")
    if (data_dir.parent / "outside.json").read_bytes() != target:
        seen.wrong_answers.append("a write over a symlink changed the file it points to")
    # 5. every list again, and every read of the tasks the writes changed (and a sample), as the oracle has them
    await verify_task_lists(seen, http, project)
    changed = {t for t, d in seen.intact.items() if any(e["taskId"] in seen.fixed for e in d["dependencies"])}
    await read_tasks(seen, http, project, exact=True, items={*seen.damaged, *changed, *sorted(seen.tasks)[::10]})
    return seen


EXECUTIONS = Subject(
    "executions", "executions", ".json", "/api/projects/{project}/executions", 300, tuple(DAMAGES), run_executions
)
HISTORY = Subject(
    "history", "history", ".jsonl", "/api/projects/{project}/history", 80, tuple(LOG_DAMAGES), run_history
)
TASKS = Subject("tasks", "tasks", ".json", "/api/projects/{project}/tasks", 300, tuple(TASK_DAMAGES), run_tasks)
SUBJECTS = (EXECUTIONS, HISTORY, TASKS)


@pytest.mark.parametrize("subject", SUBJECTS, ids=lambda s: s.name)
async def test_damaged_files_never_cause_a_server_error_and_check_names_each(
    store: Storehouse,
    http: httpx.AsyncClient,
    data_dir: Path,
    subject: Subject,
    scorecard: Callable[[str], None],
) -> None:
    seen = await subject.run(store, http, data_dir, soak(subject.files), True)
    scorecard(seen.line)
    assert seen.server_errors == []
    assert seen.wrong_answers == []
    assert seen.list_problems == []
    assert seen.check_named == seen.should_name
    assert set(seen.damaged.values()) == set(subject.ways)
    assert 0.08 * seen.files <= len(seen.damaged) <= 0.1 * seen.files
    assert seen.clean


async def test_a_directory_named_like_an_execution_file_does_not_break_writes(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path
) -> None:
    with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as writer:
        for item in ("a-dir", "b-dir", "c-run", "d-run"):
            writer.put_execution("torn", item, {"status": "completed"})
    directory = EXECUTIONS.directory(data_dir, "torn")
    for item in ("a-dir", "b-dir"):
        directory_named_like_a_file(directory / f"{item}.json", b"", random.Random(0), 0, data_dir)
    url = EXECUTIONS.url("torn")
    answers = [
        await http.put(f"{url}/a-dir", json={"status": "running"}),
        await http.delete(f"{url}/b-dir"),
        await http.delete(url),
    ]
    assert [answer.status_code for answer in answers if answer.status_code >= 500] == []
    assert sorted(path.name for path in directory.glob("*-run.json")) == []  # every execution file deleted


async def test_the_harness_goes_red_when_check_skips_a_kind_of_damage(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = FileBackend.check

    def skipping(self: FileBackend, progress: Progress | None = None) -> CheckReport:
        report = original(self, progress)
        report.problems = [problem for problem in report.problems if "UTF-8" not in problem]  # planted
        return report

    monkeypatch.setattr(FileBackend, "check", skipping)
    seen = await torn_harness(store, http, data_dir, EXECUTIONS, 70, real_server=False)
    assert not seen.clean
    missed = {seen.damaged[item] for item in set(seen.damaged) - seen.check_named}
    assert "not UTF-8" in missed  # (random bytes are mostly not UTF-8 either, so they may be missed too)


async def test_the_history_harness_goes_red_when_a_damaged_line_is_served(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lenient(path: Path) -> list[JSONObject]:
        entries = []
        for line in (read_bytes(path) or b"").split(b"\n")[:-1]:
            with contextlib.suppress(ValueError):
                entry = json.loads(line.decode(errors="replace"))  # planted: bytes not UTF-8 replaced, not refused
                entries += [entry] if isinstance(entry, dict) and isinstance(entry.get("id"), int) else []
        return entries

    monkeypatch.setattr(storehouse.history, "read_entries", lenient)
    parse = storehouse.history._parse_line
    # the same bug where the history index parses lines (it serves the reads; read_entries is its fallback)
    monkeypatch.setattr(
        "storehouse.history_index._parse_line", lambda line: parse(line.decode(errors="replace").encode())
    )
    seen = await run_history(store, http, data_dir, 24, real_server=False)
    assert not seen.clean
    assert seen.damaged_served > 0
    assert any("held by no whole valid line" in problem for problem in seen.list_problems)


async def test_the_tasks_harness_goes_red_when_a_symlinked_task_file_is_followed(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def following(path: Path) -> bytes | None:
        return path.read_bytes() if path.is_file() else None  # planted: a symlink is followed, out of the data dir

    monkeypatch.setattr(storehouse.backends.files, "read_bytes", following)
    seen = await run_tasks(store, http, data_dir, 70, real_server=False)
    assert not seen.clean
    assert any("symlink out of the data directory" in problem for problem in seen.wrong_answers)


# -- task bugs this harness found, now fixed: each keeps its own test ---------------------------------------
def write_tasks(data_dir: Path, tasks: dict[str, list[str]]) -> None:
    """Tasks of project ``torn`` (id -> what it depends on, created in order), written by another process."""
    with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as writer:
        for item, after in tasks.items():
            writer.create_task("torn", {"id": item, "title": item, "dependencies": [{"taskId": t} for t in after]})


async def test_deleting_a_task_a_damaged_file_depends_on_deletes_it_and_every_intact_edge(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path
) -> None:
    write_tasks(data_dir, {"x": [], "a": ["x"], "b": ["x"], "c": ["x"]})
    url = TASKS.url("torn")
    assert (await http.get(url)).json()["total"] == 4  # the running server has the project open
    (TASKS.directory(data_dir, "torn") / "a.json").write_bytes(b"garbage")  # damaged behind its back
    answer = await http.delete(f"{url}/x")
    assert not (TASKS.directory(data_dir, "torn") / "x.json").exists()  # deleted, whatever the answer says
    assert answer.status_code == 204, answer.text
    for item in ("b", "c"):
        assert (await http.get(f"{url}/{item}")).json()["task"]["dependencies"] == []


def test_a_directory_named_like_a_file_is_not_listed_by_a_process_that_opens_the_project(data_dir: Path) -> None:
    write_tasks(data_dir, {"a-dir": [], "b-task": []})
    settings = Settings(data_dir=data_dir, durable=False)
    with Storehouse(settings=settings) as writer:
        for item in ("a-dir", "b-run"):
            writer.put_execution("torn", item, {"status": "completed"})
    for subject in (EXECUTIONS, TASKS):
        directory_named_like_a_file(
            subject.directory(data_dir, "torn") / "a-dir.json", b"", random.Random(0), 0, data_dir
        )
    with Storehouse(settings=settings) as opened:  # a process starting on the project: it reconciles the index
        assert [summary["id"] for summary in opened.list_tasks("torn").items] == ["b-task"]
        assert [summary["id"] for summary in opened.list_executions("torn").items] == ["b-run"]
        assert opened.execution_stats("torn")["totalExecutions"] == 1


async def test_a_cycle_made_by_hand_is_named_by_check_and_the_order_leaves_out_no_task(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path
) -> None:
    write_tasks(data_dir, {"a": [], "b": ["a"], "c": ["b"], "d": []})
    path = TASKS.directory(data_dir, "torn") / "a.json"
    path.write_text(json.dumps({**json.loads(path.read_bytes()), "dependencies": [{"taskId": "c", "type": "blocks"}]}))
    store.reindex("torn")  # a -> c -> b -> a: each file is valid, the graph is not
    answer = await http.get(f"{TASKS.url('torn')}/order")
    assert answer.status_code < 500
    if answer.status_code == 200:  # every task, or a 409 that names the cycle
        assert sorted(summary["id"] for summary in answer.json()["tasks"]) == ["a", "b", "c", "d"]
    else:
        assert answer.status_code == 409, answer.text
        assert answer.json()["error"]["cycle"]
    assert any("cycle" in problem for problem in store.check().problems)


# -- cut at every byte -----------------------------------------------------------------------------------
@dataclass
class Cuts:
    """What cutting one file at every byte saw."""

    files: int = 0
    truncations: int = 0
    over_http: int = 0
    errors: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        return (
            f"cut at every byte: {self.files} files, {self.truncations:,} truncations through the library, "
            f"{self.over_http} over HTTP, {len(self.errors)} errors, {len(self.inconsistent)} inconsistent lists"
        )


def victims(count: int) -> Iterator[tuple[str, JSONObject]]:
    """Documents to cut: one with steps, non-ASCII text and nested data; soak runs add more shapes."""
    for n in range(count):
        yield (
            f"victim-{n}",
            {
                "name": "naïve ✓ 日本" if n % 2 == 0 else f"plain {n}",
                "taskId": "task-1",
                "status": STATUSES[n % len(STATUSES)],
                "tokenUsage": {"input": 12, "output": 3},
                "costUSD": 0.25,
                "tags": ["a", "ü"],
                "metadata": {"nested": {"list": [1, 2.5, None, True]}, "n": n},
                "steps": [{"name": f"s{i}", "status": "completed"} for i in range(n % 3 + 1)],
                "output": {"answer": "é" * (n % 5)},
            },
        )


def state_problems(
    store: Storehouse, project: str, item: str, intact: set[str], original: JSONObject, valid: bool
) -> list[str]:
    problems = []
    page = store.list_executions(project, limit=1000)
    expected = intact | ({item} if valid else set())
    if {summary["id"] for summary in page.items} != expected or page.total != len(expected):
        problems.append(f"listed {sorted(s['id'] for s in page.items)}, total {page.total}")
    if store.execution_stats(project)["totalExecutions"] != len(expected):
        problems.append("stats count the file wrongly")
    try:
        got = store.get_execution(project, item)
        if not valid or got != original:
            problems.append("get served a damaged file")
    except NotFound as exc:
        if valid or "storehouse check" not in exc.message:
            problems.append(f"get: {exc.message}")
    reported = store.check().problems
    named = [problem for problem in reported if problem.startswith(f"{project}/executions/{item}.json: ")]
    if len(reported) != len(named) or len(named) != (0 if valid else 1):
        problems.append(f"check: {reported}")
    return problems


async def cut_every_byte(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, count: int, http_every: int, stride: int = 1
) -> Cuts:
    """Cut each of ``count`` files at every ``stride``-th byte, from its full length down to 0."""
    project = "cut"
    seen = Cuts(files=count)
    settings = Settings(data_dir=data_dir, durable=False)
    with Storehouse(settings=settings) as writer:
        for n in range(5):
            writer.put_execution(project, f"intact-{n}", {"status": "completed"})
        documents = {item: writer.put_execution(project, item, body) for item, body in victims(count)}
    directory = EXECUTIONS.directory(data_dir, project)
    for item, original in documents.items():
        intact = {f"intact-{n}" for n in range(5)} | (set(documents) - {item})  # every other file is whole
        path = directory / f"{item}.json"
        content = path.read_bytes()
        for cut in range(len(content), -1, -stride):
            path.write_bytes(content[:cut])
            valid = content[:cut].strip() == content.strip()
            seen.truncations += 1
            try:
                with Storehouse(settings=settings) as opened:  # a process starting on the torn file
                    problems = state_problems(opened, project, item, intact, original, valid)
            except Exception as exc:
                seen.errors.append(f"{item} cut at {cut}: {type(exc).__name__}: {exc}")
                continue
            seen.inconsistent += [f"{item} cut at {cut}: {problem}" for problem in problems]
            if cut % http_every == 0 or cut >= len(content) - 2:  # through the running server, after reindex
                seen.over_http += 1
                store.reindex(project)
                url = EXECUTIONS.url(project)
                answers = [await http.get(url), await http.get(f"{url}/{item}"), await http.get(f"{url}/stats")]
                if any(answer.status_code >= 500 for answer in answers):
                    seen.errors.append(f"{item} cut at {cut}: HTTP {[a.status_code for a in answers]}")
                elif (
                    answers[0].json()["total"] != len(intact) + valid
                    or answers[2].json()["totalExecutions"] != len(intact) + valid
                    or answers[1].status_code != (200 if valid else 404)
                    or (valid and answers[1].json()["execution"] != original)
                ):
                    seen.inconsistent.append(f"{item} cut at {cut}: HTTP {[a.status_code for a in answers]}")
        path.write_bytes(content)
    return seen


async def test_a_file_cut_at_every_byte_never_breaks_the_store(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, scorecard: Callable[[str], None]
) -> None:
    seen = await cut_every_byte(store, http, data_dir, soak(1), http_every=20)
    scorecard(seen.line)
    assert seen.errors == []
    assert seen.inconsistent == []
    assert seen.truncations > 500
    assert seen.over_http > 20


async def test_cutting_goes_red_when_a_torn_file_is_served(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = FileBackend.read

    def lenient(self: FileBackend, project: str, item: str) -> JSONObject | None:
        try:
            return original(self, project, item)
        except NotFound:
            return {"id": item, "version": 1}  # planted: a torn file is served as an empty execution

    monkeypatch.setattr(FileBackend, "read", lenient)
    seen = await cut_every_byte(store, http, data_dir, 1, http_every=1000, stride=25)
    assert any("get served a damaged file" in problem for problem in seen.inconsistent)


# -- history: cut at every byte of the last line ----------------------------------------------------------
@dataclass
class LogCuts:
    """What cutting the last line of a history log at every byte saw."""

    logs: int = 0
    truncations: int = 0
    over_http: int = 0
    appends: int = 0
    errors: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        return (
            f"cut at every byte (history): {self.logs} logs, {self.truncations:,} truncations of the last line "
            f"through the library, {self.over_http} over HTTP, {self.appends:,} appends after them, "
            f"{len(self.errors)} errors, {len(self.inconsistent)} inconsistent reads or repairs"
        )


def log_victims(count: int, start: datetime) -> Iterator[tuple[str, list[JSONObject]]]:
    """Logs to cut: the last entry has nested metadata, non-ASCII and multi-line content; soak runs add more."""
    for n in range(count):
        entries = [history_entry(n, k, start) for k in range(8 + n % 40)]  # within the cap of 100
        entries[-1] |= {"content": "naïve ✓ 日本\nzweite Zeile", "metadata": {"nested": {"list": [1, 2.5, None]}}}
        yield f"victim-{n}", entries


def log_problems(
    store: Storehouse, project: str, task: str, expected: list[JSONObject], others: list[JSONObject], torn: bool
) -> list[str]:
    """Where a read of the task, its count, its oldest, the read across tasks or check disagree with the oracle."""
    problems = []
    page = store.list_history(project, task, limit=1000)
    if page.entries != expected or page.total != len(expected):
        problems.append(f"read {[e.get('id') for e in page.entries]}, total {page.total}")
    if store.count_history(project, task) != len(expected):
        problems.append(f"count {store.count_history(project, task)}")
    if store.oldest_history(project, task) != oldest(expected):
        problems.append(f"oldest {store.oldest_history(project, task)}")
    everything = sorted(expected + others, key=lambda entry: (entry["createdAt"], entry["taskId"], entry["id"]))
    if store.list_history(project, limit=1000).entries != everything:
        problems.append("the read across tasks")
    reported = store.check().problems
    named = [problem for problem in reported if problem.startswith(f"{project}/history/{task}.jsonl: ")]
    if len(reported) != len(named) or len(named) != torn:
        problems.append(f"check: {reported}")
    return problems


def repair_problems(path: Path, before: bytes, expected: list[JSONObject], added: JSONObject) -> list[str]:
    """Where the log after an append is not its whole lines before the cut plus the new entry's line."""
    raw = path.read_bytes()
    rest = raw[len(before) :] if raw.startswith(before) else raw
    with contextlib.suppress(ValueError):
        if rest.endswith(b"\n") and rest.count(b"\n") == 1 and json.loads(rest) == added:
            rest = b""
    problems = [f"after the append the log ends {raw[-200:]!r}, not with the new entry's line"] if rest else []
    if added["id"] <= max((entry["id"] for entry in expected), default=0):
        problems.append(f"the appended id {added['id']} does not follow {[e['id'] for e in expected]}")
    return problems


async def cut_every_last_line(
    http: httpx.AsyncClient, data_dir: Path, count: int, http_every: int, stride: int = 1
) -> LogCuts:
    """Cut each of ``count`` logs at every ``stride``-th byte of its last line, from just its newline down to the
    line's first byte; at each a fresh store reads the entries before it, and an append repairs the log."""
    project = "cut"
    seen = LogCuts(logs=count)
    settings = Settings(data_dir=data_dir, durable=False)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    with Storehouse(settings=settings) as writer:
        others = writer.add_history(project, "intact", [history_entry(99, k, start) for k in range(3)])
        written = {task: writer.add_history(project, task, entries) for task, entries in log_victims(count, start)}
    for task, entries in written.items():
        path = HISTORY.directory(data_dir, project) / f"{task}.jsonl"
        content = path.read_bytes()
        last = content.rstrip(b"\n").rfind(b"\n") + 1  # where the last line starts
        expected = entries[:-1]
        for cut in range(len(content) - 1, last - 1, -stride):
            path.write_bytes(content[:cut])
            seen.truncations += 1
            try:
                with Storehouse(settings=settings) as opened:  # a process starting on the torn log
                    problems = log_problems(opened, project, task, expected, others, torn=cut > last)
                    [added] = opened.add_history(project, task, {"type": "log", "content": f"after a cut at {cut}"})
                    problems += repair_problems(path, content[:last], expected, added)
                    problems += log_problems(opened, project, task, [*expected, added], others, torn=False)
            except Exception as exc:
                seen.errors.append(f"{task} cut at {cut}: {type(exc).__name__}: {exc}")
                continue
            seen.appends += 1
            seen.inconsistent += [f"{task} cut at {cut}: {problem}" for problem in problems]
            if cut % http_every == 0 or cut >= len(content) - 2:  # through the running server
                seen.over_http += 1
                path.write_bytes(content[:cut])
                seen.inconsistent += [
                    f"{task} cut at {cut}: HTTP {p}"
                    for p in await cut_over_http(http, project, task, path, content[:last], expected, others)
                ]
        path.write_bytes(content)
    return seen


async def cut_over_http(
    http: httpx.AsyncClient,
    project: str,
    task: str,
    path: Path,
    before: bytes,
    expected: list[JSONObject],
    others: list[JSONObject],
) -> list[str]:
    url = task_url(project, task)
    everything = sorted(expected + others, key=lambda entry: (entry["createdAt"], entry["taskId"], entry["id"]))
    reads = {
        f"{url}?limit=1000": {"entries": expected, "total": len(expected)},
        f"{url}/count": {"count": len(expected)},
        f"{url}/oldest": {"createdAt": oldest(expected)},
        f"{HISTORY.url(project)}?limit=1000": {"entries": everything, "total": len(everything)},
    }
    problems = []
    for where, want in reads.items():
        answer = await http.get(where)
        if answer.status_code != 200 or answer.json() != want:
            problems.append(f"GET {where}: {answer.status_code} {answer.text[:200]}")
    answer = await http.post(url, json={"type": "log", "content": "appended over HTTP"})
    if answer.status_code != 201:
        return [*problems, f"POST: {answer.status_code} {answer.text[:200]}"]
    [added] = answer.json()["entries"]
    return problems + repair_problems(path, before, expected, added)


async def test_a_log_cut_at_every_byte_of_its_last_line_reads_the_entries_before_it(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, scorecard: Callable[[str], None]
) -> None:
    seen = await cut_every_last_line(http, data_dir, soak(1), http_every=20)
    scorecard(seen.line)
    assert seen.errors == []
    assert seen.inconsistent == []
    assert seen.truncations > 200
    assert seen.over_http > 10


async def test_cutting_a_log_goes_red_when_a_torn_last_line_is_read(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = storehouse.history.read_entries

    def lenient(path: Path) -> list[JSONObject]:
        entries = original(path)
        raw = path.read_bytes() if path.is_file() else b""
        with contextlib.suppress(ValueError):
            entries.append(json.loads(raw[raw.rfind(b"\n") + 1 :]))  # planted: a torn last line is read if it parses
        return entries

    monkeypatch.setattr(storehouse.history, "read_entries", lenient)
    pread = storehouse.history_index._pread

    def whole(fd: int, start: int, size: int) -> bytes:
        data = pread(fd, start, size)
        return data + b"\n" if data and not data.endswith(b"\n") else data  # planted in the index: the same bug

    monkeypatch.setattr(storehouse.history_index, "_pread", whole)
    seen = await cut_every_last_line(http, data_dir, 1, http_every=1000, stride=40)
    assert any(": read " in problem for problem in seen.inconsistent)  # at len-1: the whole last line, no newline


async def test_cutting_a_log_goes_red_when_an_append_keeps_the_torn_tail(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storehouse.history, "_cut_torn_tail", lambda *args: None)  # planted: the tail stays
    seen = await cut_every_last_line(http, data_dir, 1, http_every=1000, stride=40)
    assert any("after the append the log ends" in problem for problem in seen.inconsistent)


# -- history bugs this harness found, now fixed: each keeps its own test ------------------------------------
def write_log(data_dir: Path, task: str, count: int) -> tuple[Path, list[JSONObject]]:
    """A log of ``count`` entries in project ``torn``; returns its path and the entries."""
    with Storehouse(settings=Settings(data_dir=data_dir, durable=False)) as writer:
        entries = writer.add_history("torn", task, [{"type": "log", "content": f"entry {n}"} for n in range(count)])
    return HISTORY.directory(data_dir, "torn") / f"{task}.jsonl", entries


async def test_a_log_line_with_an_id_that_is_not_an_entry_is_never_served(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path
) -> None:
    path, entries = write_log(data_dir, "t", 2)
    recent, future = entries[0]["createdAt"], "2999-01-01T00:00:00.000Z"
    wrong = [  # JSON objects with an integer id that are neither an entry nor a tombstone ({"id": N})
        {"id": 9, "taskId": "t", "type": "exploded", "createdAt": recent, "expiresAt": future},
        {"id": 10, "taskId": "t", "type": "log", "createdAt": "yesterday", "expiresAt": future},
        {"id": 11, "createdAt": recent, "expiresAt": future},
        {"id": 12, "expiresAt": future},
    ]
    first, second = path.read_bytes().splitlines()
    path.write_bytes(b"\n".join([first, *(json.dumps(line).encode() for line in wrong), second]) + b"\n")
    url = task_url("torn", "t")
    answers = [await http.get(url), await http.get(f"{url}/count"), await http.get(HISTORY.url("torn"))]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert answers[0].json() == {"entries": entries, "total": 2}
    assert answers[1].json() == {"count": 2}
    assert answers[2].json() == {"entries": entries, "total": 2}
    assert named_logs(store.check(), "torn") == {"t.jsonl"}


async def test_an_append_to_a_symlinked_log_writes_a_new_log_and_leaves_the_target_alone(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path
) -> None:
    path, _ = write_log(data_dir, "t", 2)
    outside = data_dir.parent / "outside.jsonl"
    outside.write_bytes(secret_log(datetime.now(UTC)))
    target = outside.read_bytes()
    path.unlink()
    path.symlink_to(outside)
    answer = await http.post(task_url("torn", "t"), json={"type": "log", "content": "new"})
    assert outside.read_bytes() == target
    assert answer.status_code == 201, answer.text
    [added] = answer.json()["entries"]
    assert not path.is_symlink()
    assert path.read_bytes().count(b"\n") == 1
    assert (await http.get(task_url("torn", "t"))).json() == {"entries": [added], "total": 1}


async def test_a_directory_named_like_a_log_does_not_break_writes(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path
) -> None:
    path, _ = write_log(data_dir, "a-dir", 2)
    write_log(data_dir, "b-log", 2)
    directory_named_like_a_file(path, b"", random.Random(0), 0, data_dir)
    answers = [
        await http.post(task_url("torn", "a-dir"), json={"type": "log"}),
        await http.delete(task_url("torn", "a-dir")),
        await http.post(f"{HISTORY.url('torn')}/cleanup", json={}),
    ]
    assert [answer.status_code for answer in answers] == [409, 409, 200], [answer.text for answer in answers]
    assert (await http.get(task_url("torn", "b-log"))).json()["total"] == 2


async def test_an_append_after_a_line_with_the_largest_64_bit_id_is_not_a_server_error(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path
) -> None:
    path, entries = write_log(data_dir, "t", 1)
    path.write_bytes(path.read_bytes() + json.dumps(entries[0] | {"id": (1 << 64) - 1}).encode() + b"\n")
    answer = await http.post(task_url("torn", "t"), json={"type": "log"})
    assert answer.status_code == 201, answer.text  # a line with an id past 64 bits is no entry: skipped
    assert answer.json()["entries"][0]["id"] == 2


async def test_a_task_whose_ids_are_used_up_refuses_appends_with_a_409(
    store: Storehouse, http: httpx.AsyncClient, data_dir: Path
) -> None:
    path, entries = write_log(data_dir, "t", 1)
    path.write_bytes(path.read_bytes() + json.dumps(entries[0] | {"id": (1 << 63) - 1}).encode() + b"\n")
    before = path.read_bytes()
    answer = await http.post(task_url("torn", "t"), json={"type": "log"})
    assert answer.status_code == 409, answer.text
    assert "used up" in answer.json()["error"]["message"]
    assert path.read_bytes() == before
