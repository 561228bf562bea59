"""Torn and corrupt files: damage planted by hand never makes the API answer 5xx, and check names all of it.

About a tenth of the execution files of a project of a few hundred are damaged behind the store's back, seven
ways: truncated at a random byte (also at 0, and at len-1 where only the final newline goes, which is no
damage at all), garbage appended, replaced by random bytes, valid JSON of the wrong shape, a symlink to a
file outside the data directory, a directory named like an execution file, and bytes that are not UTF-8.
Whether a file is damaged is decided by the harness itself (its own oracle), never by asking storehouse.

Then, through the HTTP API (ASGI, and a sample through a real ``storehouse serve``): no request answers 5xx
(lists with every sort, filters and both kinds of paging, a get of every id, stats, projects); a get of a
damaged file is a 404 that names ``storehouse check`` (a symlink or a directory is simply not found, and
what a symlink points to is never served); ``check()`` names exactly the damaged files; after ``reindex()``
every intact file is listed, filtered, sorted and counted exactly once; a PUT over a damaged file replaces
it as if it were absent, a PATCH of one is a 404, a DELETE removes it (a symlink's target is never touched).

"Cut at every byte" truncates one execution file at every offset of its content in turn: the store opens,
lists and counts consistently, and never errors, at every one (through HTTP for a sample).

Damage is planted in execution files today. The history logs of issue #5 will be a second ``Subject``
(where its files live, how to create them, its routes): the harness runs over ``SUBJECTS``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from storehouse import Settings, Storehouse
from storehouse.backends import FileBackend
from storehouse.backends.base import CheckReport, Progress
from storehouse.errors import NotFound
from storehouse.index import SORTS, STATUSES
from storehouse.models import JSONObject
from tests.conftest import Server, soak

SECRET = "SECRET-OUTSIDE-THE-DATA-DIR"


# -- what is damaged: a subject (executions today) and seven ways to damage one of its files -------------
@dataclass(frozen=True)
class Subject:
    """A kind of document stored one file each under ``projects/<projectId>/<folder>/<id>.json``."""

    name: str
    folder: str
    populate: Callable[[Storehouse, str, int], dict[str, JSONObject]]  # store n documents; return them by id
    route: str  # the collection's URL; ``{project}`` is replaced

    def directory(self, data_dir: Path, project: str) -> Path:
        return data_dir / "projects" / project / self.folder

    def url(self, project: str) -> str:
        return self.route.format(project=project)


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


EXECUTIONS = Subject("executions", "executions", populate_executions, "/api/projects/{project}/executions")
SUBJECTS = (EXECUTIONS,)  # issue #5: add the history logs here


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
    at = original.index(b'"name": "') + len(b'"name": "')
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


# -- the harness ----------------------------------------------------------------------------------------
@dataclass
class Torn:
    """What the torn-data harness saw."""

    files: int = 0
    damaged: dict[str, str] = field(default_factory=dict)  # id -> how
    intact: dict[str, JSONObject] = field(default_factory=dict)
    requests: int = 0
    server_errors: list[str] = field(default_factory=list)
    wrong_answers: list[str] = field(default_factory=list)
    check_named: set[str] = field(default_factory=set)
    recovered: int = 0
    list_problems: list[str] = field(default_factory=list)

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
        return (
            not (self.server_errors or self.wrong_answers or self.list_problems)
            and self.check_named == set(self.damaged)
            and self.recovered == len(self.intact)
        )


async def ask(seen: Torn, client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request whose answer must never be 5xx, and must always be JSON when it has a body."""
    answer = await client.request(method, url, **kwargs)
    seen.requests += 1
    where = f"{method} {url} {kwargs.get('params', '')}"
    if answer.status_code >= 500:
        seen.server_errors.append(f"{where}: {answer.status_code} {answer.text[:200]}")
    elif answer.content and answer.headers.get("content-type") != "application/json":
        seen.wrong_answers.append(f"{where}: not JSON: {answer.headers.get('content-type')}")
    return answer


def checked_ids(report: CheckReport, project: str, subject: Subject) -> set[str]:
    prefix = f"{project}/{subject.folder}/"
    return {p[len(prefix) :].split(".json:")[0] for p in report.problems if p.startswith(prefix)}


def plant_damage(
    data_dir: Path, subject: Subject, project: str, documents: dict[str, JSONObject], rng: random.Random
) -> Torn:
    """Damage about a tenth of the files, every way in turn; return what is damaged and what is intact."""
    directory = subject.directory(data_dir, project)
    outside = data_dir.parent / "outside.json"
    outside.write_text(json.dumps({"name": SECRET, "status": "completed"}))
    seen = Torn(files=len(documents))
    victims = sorted(rng.sample(sorted(documents), max(len(DAMAGES), len(documents) // 10)))
    for position, item in enumerate(victims):
        how = list(DAMAGES)[position % len(DAMAGES)]
        path = directory / f"{item}.json"
        if DAMAGES[how](path, path.read_bytes(), rng, position // len(DAMAGES), outside):
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
            path = subject.directory(data_dir, project) / f"{item}.json"
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
        documents = subject.populate(writer, project, count)
    assert (await http.get(subject.url(project))).json()["total"] == count  # the running store opens it
    seen = plant_damage(data_dir, subject, project, documents, random.Random(4))
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


@pytest.mark.parametrize("subject", SUBJECTS, ids=lambda s: s.name)
async def test_damaged_files_never_cause_a_server_error_and_check_names_each(
    store: Storehouse,
    http: httpx.AsyncClient,
    data_dir: Path,
    subject: Subject,
    scorecard: Callable[[str], None],
) -> None:
    seen = await torn_harness(store, http, data_dir, subject, soak(300), real_server=True)
    project = "torn"
    outside = (data_dir.parent / "outside.json").read_bytes()
    # 4. writes over damaged files (a directory named like a file is a 409: it has a test of its own below)
    changed = await change_damaged(seen, http, data_dir, subject, project, frozenset(DAMAGES) - {"directory"})
    named_after = checked_ids(store.check(), project, subject)
    listed, total = await walk(seen, http, subject.url(project), {}, by_cursor=True)
    scorecard(seen.line)
    assert (data_dir.parent / "outside.json").read_bytes() == outside  # a symlink's target is never written
    assert named_after == {item for item in seen.damaged if changed.get(item) in (None, "PATCH")}
    put = {item for item, method in changed.items() if method == "PUT"}  # a PUT replaced a damaged file
    assert {summary["id"] for summary in listed} == set(seen.intact) | put
    assert total == len(seen.intact) + len(put)
    assert seen.server_errors == []
    assert seen.wrong_answers == []
    assert seen.list_problems == []
    assert seen.check_named == set(seen.damaged)
    assert seen.recovered == len(seen.intact)
    assert set(seen.damaged.values()) == set(DAMAGES)
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
