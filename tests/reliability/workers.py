"""Worker processes for the reliability tests: ``python -m tests.reliability.workers MODE DATA_DIR ...``.

They print one line per acknowledged write (flushed before the next write starts), so the parent knows
exactly what was acknowledged when it kills them.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import NoReturn, Protocol

import httpx

from storehouse import Conflict, NotFound, PreconditionFailed, Settings, Storehouse, StorehouseError
from storehouse import index as storehouse_index
from storehouse.backends import FileBackend
from storehouse.errors import ALL_ERRORS
from storehouse.fsio import FileIO
from storehouse.index import Index, IndexRow, Logged
from storehouse.kinds import EXECUTION
from storehouse.locks import LockTable
from storehouse.models import JSONObject
from storehouse.task_ops import TaskOperations
from storehouse.tasks import TASK


def crash_writer(data_dir: str, prefix: str, acks: str | None = None, planted: str = "") -> None:
    """Create, update and delete executions, append to a task's history, and create tasks, move them through
    allowed transitions and add and remove dependencies between them, as fast as possible, reporting each
    acknowledgement (the sequence is ``crash_operations``).

    Reports go to stdout, or with ``acks`` to that file (one ``write`` per line, so a kill leaves at most
    a cut last line); the first line is ``ready``. A line is ``<kind> <id> [<detail>] <number>``: the version
    written (1 for a create, 0 for a delete, the entry id for a history append), the status moved to for a
    transition, the task depended on for an edge; an edge that would close a cycle is refused (``tx``, 0).
    ``planted="in-place"`` plants the bug the crash loop exists to catch: documents written over in place
    instead of through a temp file and a rename; ``planted="no-cycle-check"``: an edge closing a cycle is
    accepted.
    """
    io = InPlaceIO() if planted == "in-place" else FileIO()
    if planted == "no-cycle-check":
        TaskOperations._refuse_cycle = lambda *args, **kwargs: None  # type: ignore[method-assign]
    backend = FileBackend(data_dir, io, kinds=(EXECUTION, TASK))
    store = Storehouse(settings=Settings(data_dir=Path(data_dir)), backend=backend)
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if acks else None

    def ack(*parts: object) -> None:
        line = " ".join(str(part) for part in parts)
        if fd is None:
            print(line, flush=True)
        else:
            os.write(fd, f"{line}\n".encode())

    ack("ready")
    for kind, item, detail in crash_operations(prefix):
        if kind == "c":
            store.put_execution("crash", item, {"status": "running", "input": {"n": detail, "pad": "x" * 2000}})
            ack(kind, item, 1)
        elif kind == "u":
            done = store.patch_execution("crash", item, {"status": "completed", "output": {"n": detail}})
            ack(kind, item, done["version"])
        elif kind == "d":
            store.delete_execution("crash", item)
            ack(kind, item, 0)
        elif kind == "h":
            entry = store.add_history("crash", item, {"type": "log", "content": f"step {detail}"})[0]
            ack(kind, item, entry["id"])
        elif kind == "tc":
            after = [{"taskId": detail, "type": "blocks"}] if detail else []
            task = store.create_task("crash", {"id": item, "title": f"task {item}", "dependencies": after})
            ack(kind, item, task["version"])
        elif kind == "tt":
            task = store.transition_task("crash", item, detail, reason=f"crash loop {prefix}", actor="writer")
            ack(kind, item, detail, task["version"])
        elif kind in ("ta", "tx"):
            try:
                store.add_dependency("crash", item, detail, "requires")
            except Conflict:  # the edge would close a cycle: refused, as it must be for "tx"
                ack(kind, item, detail, 0)
                continue
            ack(kind, item, detail, store.get_task("crash", item)["version"])
        else:
            store.remove_dependency("crash", item, detail)
            ack(kind, item, detail, store.get_task("crash", item)["version"])


OUTCOMES = ("failed", "cancelled", "succeeded")  # where a crash writer's running task goes, by its number


def crash_operations(prefix: str) -> Iterator[tuple[str, str, str]]:
    """The crash writer's endless sequence of operations: (kind, id, detail).

    Executions ``<prefix>-<n>``: create (c), complete the one before (u) and delete it every other turn (d); one
    append to the history of task ``<prefix>`` (h). Tasks ``<prefix>-task-<n>``: create, depending on the one
    before (tc), and move to running at once (tt); then the one before goes to failed, cancelled or succeeded,
    the edge back from it (which would close a cycle) is refused (tx), and a failed or cancelled one goes back
    to pending (tt); an edge to the task two before is added (ta), and the one added the turn before removed
    (tr). A writer lives ~2 turns before it is killed, so every kind of write but the last two comes by its
    second turn.
    """
    n = 0
    while True:
        task = [f"{prefix}-task-{k}" if k >= 0 else "" for k in range(n, n - 4, -1)]  # this turn's, and 3 before
        yield "c", f"{prefix}-{n}", str(n)
        yield "tc", task[0], task[1]
        yield "tt", task[0], "running"
        if n >= 1:
            yield "u", f"{prefix}-{n - 1}", str(n)
            yield "tt", task[1], OUTCOMES[(n - 1) % 3]
            yield "tx", task[1], task[0]
            if OUTCOMES[(n - 1) % 3] != "succeeded":
                yield "tt", task[1], "pending"  # a retry of a failed task, or a cancelled one reopened
            if n % 2:
                yield "d", f"{prefix}-{n - 1}", ""
        if n >= 2:
            yield "ta", task[0], task[2]
        if n >= 3:
            yield "tr", task[1], task[3]
        yield "h", prefix, str(n)
        n += 1


def killed_between_a_transition_and_its_history(data_dir: str) -> None:
    """Create task ``a`` of project ``crash``, move it to running, and die by SIGKILL at the instant the move's
    ``status_change`` entry is to be appended to the task's history (the move is in the task's file by then)."""
    store = Storehouse(data_dir)
    store.create_task("crash", {"id": "a", "title": "a"})

    def killed(*args: object, **kwargs: object) -> NoReturn:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("killed")

    store._history.add = killed  # type: ignore[method-assign]
    store.transition_task("crash", "a", "running")


class InPlaceIO(FileIO):
    """A planted bug: write the document over the old one in place, in two halves (no temp file, no rename)."""

    def replace_durably(self, path: Path, data: bytes, dir_fd: int | None = None) -> os.stat_result:
        if dir_fd is not None:  # the bug is planted in document writes
            return super().replace_durably(path, data, dir_fd)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data[: len(data) // 2])
            time.sleep(0.002)
            os.write(fd, data[len(data) // 2 :])
            return os.fstat(fd)
        finally:
            os.close(fd)


def mixed_writer(data_dir: str, name: str, count: str, increments: str) -> None:
    """Create ``count`` executions, update each, and add ``increments`` to the shared counter with If-Match."""
    store = Storehouse(data_dir)
    for n in range(int(count)):
        document = store.create_execution("shared", {"id": f"{name}-{n}", "status": "running", "tags": [name]})
        store.patch_execution("shared", document["id"], {"status": "completed", "costUSD": 0.001})
    retries = 0
    for _ in range(int(increments)):
        retries += increment(store)
    print(f"done {name} retries={retries}", flush=True)
    store.close()


def increment(store: Storehouse) -> int:
    """Add one to the counter execution's metadata.count with a conditional write; return the retries."""
    retries = 0
    while True:
        current = store.get_execution("shared", "counter")
        try:
            store.patch_execution(
                "shared",
                "counter",
                {"metadata": {"count": current["metadata"]["count"] + 1}},
                if_match=current["version"],
            )
            return retries
        except PreconditionFailed:
            retries += 1


def crossing_writer(data_dir: str, name: str, rounds: str) -> None:
    """Eight threads patch eight shared executions, each thread in its own order (locks cross)."""
    store = Storehouse(data_dir)
    errors: list[str] = []

    def work(thread: int) -> None:
        order = [f"doc-{(thread + k) % 8}" for k in range(8)] if thread % 2 else [f"doc-{k}" for k in range(8)]
        for round_ in range(int(rounds)):
            for item in order:
                try:
                    store.patch_execution("crossing", item, {"metadata": {name: round_}})
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"errors={len(errors)} {errors[:3]}", flush=True)
    store.close()


def busy_writer(data_dir: str, seconds: str) -> None:
    """Eight threads create executions without pause until the time is up, or stdin closes."""
    store = Storehouse(data_dir)
    deadline = time.monotonic() + float(seconds)
    stop = threading.Event()

    def work(thread: int) -> None:
        n = 0
        while not stop.is_set() and time.monotonic() < deadline:
            store.create_execution("busy", {"id": f"w{thread}-{n}"})
            n += 1

    store.create_execution("busy", {"id": "first"})  # so the parent's open always has something to find
    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    print("writing", flush=True)
    sys.stdin.read()  # the parent closes stdin when it is done
    stop.set()
    for thread in threads:
        thread.join()
    store.close()


# -- mixed load and read-your-writes (tests/reliability/test_concurrency_load.py) ---------------------------

LOAD_PROJECT = "load"
LOAD_COUNTERS = tuple(f"counter-{k}" for k in range(2))  # shared: every writer increments them with If-Match
LOAD_RACES = tuple(f"race-{k}" for k in range(20))  # shared: every writer tries to create each; one may win
STATUSES = ("pending", "running", "completed", "failed", "cancelled")
_LOAD_KINDS = ("increment", "touch", "create", "put", "patch", "delete")
_LOAD_WEIGHTS = (32, 8, 22, 12, 16, 10)
_ERRORS_BY_CODE = {error.code: error for error in ALL_ERRORS}


class Target(Protocol):
    """Where a worker writes and reads: the library on a data directory, or a running server over HTTP."""

    def create(self, project: str, body: JSONObject) -> JSONObject: ...

    def put(self, project: str, item: str, body: JSONObject, if_match: int | None = None) -> JSONObject: ...

    def patch(self, project: str, item: str, changes: JSONObject, if_match: int | None = None) -> JSONObject: ...

    def delete(self, project: str, item: str, if_match: int | None = None) -> None: ...

    def get(self, project: str, item: str) -> JSONObject: ...

    def page(
        self,
        project: str,
        *,
        status: str | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[JSONObject], str | None]: ...

    def stats(self, project: str) -> JSONObject: ...

    def close(self) -> None: ...


class LibraryTarget:
    """A Target through ``Storehouse`` on a data directory."""

    def __init__(self, data_dir: str) -> None:
        self.store = Storehouse(data_dir)

    def create(self, project: str, body: JSONObject) -> JSONObject:
        return self.store.create_execution(project, body)

    def put(self, project: str, item: str, body: JSONObject, if_match: int | None = None) -> JSONObject:
        return self.store.put_execution(project, item, body, if_match=if_match)

    def patch(self, project: str, item: str, changes: JSONObject, if_match: int | None = None) -> JSONObject:
        return self.store.patch_execution(project, item, changes, if_match=if_match)

    def delete(self, project: str, item: str, if_match: int | None = None) -> None:
        self.store.delete_execution(project, item, if_match=if_match)

    def get(self, project: str, item: str) -> JSONObject:
        return self.store.get_execution(project, item)

    def page(
        self,
        project: str,
        *,
        status: str | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[JSONObject], str | None]:
        found = self.store.list_executions(project, status=status, task_id=task_id, tag=tag, limit=limit, cursor=cursor)
        return found.items, found.next_cursor

    def stats(self, project: str) -> JSONObject:
        return self.store.execution_stats(project)

    def close(self) -> None:
        self.store.close()


class HttpTarget:
    """A Target through a running server; error answers raise the StorehouseError class their code names."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60)

    def _send(
        self,
        method: str,
        path: str,
        *,
        body: JSONObject | None = None,
        params: dict[str, str | int] | None = None,
        if_match: int | None = None,
    ) -> httpx.Response:
        headers = {} if if_match is None else {"If-Match": f'"{if_match}"'}
        answer = self.http.request(method, path, json=body, params=params, headers=headers)
        if answer.status_code >= 400:
            error = answer.json()["error"]
            raise _ERRORS_BY_CODE.get(error["code"], StorehouseError)(error["message"])
        return answer

    @staticmethod
    def _execution(answer: httpx.Response) -> JSONObject:
        document: JSONObject = answer.json()["execution"]
        if answer.headers["ETag"] != f'"{document["version"]}"':
            raise StorehouseError(f"ETag {answer.headers['ETag']} but version {document['version']}")
        return document

    def create(self, project: str, body: JSONObject) -> JSONObject:
        return self._execution(self._send("POST", f"/api/projects/{project}/executions", body=body))

    def put(self, project: str, item: str, body: JSONObject, if_match: int | None = None) -> JSONObject:
        path = f"/api/projects/{project}/executions/{item}"
        return self._execution(self._send("PUT", path, body=body, if_match=if_match))

    def patch(self, project: str, item: str, changes: JSONObject, if_match: int | None = None) -> JSONObject:
        path = f"/api/projects/{project}/executions/{item}"
        return self._execution(self._send("PATCH", path, body=changes, if_match=if_match))

    def delete(self, project: str, item: str, if_match: int | None = None) -> None:
        self._send("DELETE", f"/api/projects/{project}/executions/{item}", if_match=if_match)

    def get(self, project: str, item: str) -> JSONObject:
        return self._execution(self._send("GET", f"/api/projects/{project}/executions/{item}"))

    def page(
        self,
        project: str,
        *,
        status: str | None = None,
        task_id: str | None = None,
        tag: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> tuple[list[JSONObject], str | None]:
        params: dict[str, str | int] = {"limit": limit}
        for name, value in (("status", status), ("taskId", task_id), ("tag", tag), ("cursor", cursor)):
            if value is not None:
                params[name] = value
        found = self._send("GET", f"/api/projects/{project}/executions", params=params).json()
        items: list[JSONObject] = found["executions"]
        return items, found["nextCursor"]

    def stats(self, project: str) -> JSONObject:
        stats: JSONObject = self._send("GET", f"/api/projects/{project}/executions/stats").json()
        return stats

    def close(self) -> None:
        self.http.close()


def connect(target: str) -> Target:
    """A server URL (``http://...``) or a data directory."""
    return HttpTarget(target) if target.startswith(("http://", "https://")) else LibraryTarget(target)


_late_writes: list[threading.Timer] = []  # index commits a "late-index" writer still owes


def plant(bug: str) -> None:
    """Plant a bug in this worker process only, for a harness's own test (``""`` plants nothing).

    ``no-document-lock``: ``LockTable.document`` holds nothing, so two writers of one document can both read
    version n and both write n + 1 (the lost update the load harness exists to catch). ``late-index``: a
    write is acknowledged before its index row is committed (which lands ~30 ms later). ``frozen-generation``:
    the index's page cache believes nothing ever changed, so it serves pages cached before other writes.
    """
    if bug == "no-document-lock":
        LockTable.document = _no_lock  # type: ignore[method-assign,assignment]
    elif bug == "late-index":
        upsert = Index.upsert

        def late_upsert(self: Index, p: int, row: IndexRow, change: Logged | None = None) -> None:
            timer = threading.Timer(0.03, upsert, (self, p, row, change))
            _late_writes.append(timer)
            timer.start()

        Index.upsert = late_upsert  # type: ignore[method-assign]
    elif bug == "frozen-generation":
        storehouse_index._GENERATION_SQL = "SELECT 0 * ?"  # one parameter, as the real one takes
    elif bug:
        raise ValueError(f"unknown planted bug {bug!r}")


def _settle_planted() -> None:
    """Let a planted bug's late work finish before the store closes (its connections go with it)."""
    for timer in _late_writes:
        timer.join()


@contextmanager
def _no_lock(table: LockTable, project: str, item: str) -> Iterator[None]:
    yield


@dataclass
class LoadLog:
    """What one load writer had acknowledged; the parent checks the files against it."""

    name: str
    ops: dict[str, int] = field(default_factory=dict)  # acknowledged writes by kind
    retries: int = 0  # conditional writes refused (412) and retried from a fresh read
    refused: int = 0  # writes with a deliberately stale If-Match, refused as they must be
    own: dict[str, tuple[int, str] | None] = field(default_factory=dict)  # id -> (version, status), None: deleted
    increments: dict[str, int] = field(default_factory=dict)  # counter -> acknowledged increments
    touches: dict[str, int] = field(default_factory=dict)  # counter -> last acknowledged touch value
    versions: dict[str, list[int]] = field(default_factory=dict)  # counter -> versions its acked writes made
    races_won: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def load_writer(
    target: str,
    name: str,
    writes: int,
    seed: int,
    ready: Queue[str],
    start: Event,
    results: Queue[LoadLog],
    planted: str = "",
) -> None:
    """Make ``writes`` mixed writes on the load project once ``start`` is set, and put what was acknowledged
    on ``results``: creates, PUTs, PATCHes and deletes of its own executions (some with If-Match, a few with a
    stale one that must be refused), conditional increments of the shared counters (PATCH or whole-document
    PUT with If-Match, retried on 412), unconditional patches of the counters, and creates of the race ids."""
    plant(planted)
    client = connect(target)
    client.page(LOAD_PROJECT, limit=1)  # opens (reconciles) the project before the start
    log = LoadLog(name)
    ready.put(name)
    start.wait()
    try:
        _load(client, log, writes, random.Random(seed))
    except Exception as exc:
        log.errors.append(f"the writer stopped: {type(exc).__name__}: {exc}")
    finally:
        results.put(log)
        client.close()


def _load(client: Target, log: LoadLog, writes: int, rng: random.Random) -> None:
    races = dict(zip(rng.sample(range(writes), min(writes, len(LOAD_RACES))), LOAD_RACES, strict=False))
    live: dict[str, int] = {}  # own executions present -> version
    created = touch = 0
    for step in range(writes):
        kind = "race" if step in races else rng.choices(_LOAD_KINDS, _LOAD_WEIGHTS)[0]
        if kind in ("put", "patch", "delete") and not live:
            kind = "create"
        if kind == "race":
            item = races[step]
        elif kind in ("increment", "touch"):
            item = rng.choice(LOAD_COUNTERS)
        elif kind == "create":
            item = f"{log.name}-{created}"
            created += 1
        else:
            item = rng.choice(list(live))
        try:
            if kind == "create":
                _acked(log, live, client.create(LOAD_PROJECT, {"id": item, **_own_body(rng, log.name)}))
            elif kind == "put":
                body = _own_body(rng, log.name)
                _acked(log, live, client.put(LOAD_PROJECT, item, body, if_match=_maybe(rng, live[item])))
            elif kind == "patch":
                changes = {"status": rng.choice(STATUSES), "costUSD": rng.randint(0, 10**6) / 1e8}
                if rng.random() < 0.1 and live[item] > 1:
                    _stale_patch(client, log, item, changes, live[item] - 1)
                _acked(log, live, client.patch(LOAD_PROJECT, item, changes, if_match=_maybe(rng, live[item])))
            elif kind == "delete":
                client.delete(LOAD_PROJECT, item, if_match=_maybe(rng, live.pop(item)))
                log.own[item] = None
            elif kind == "race":
                try:
                    client.create(LOAD_PROJECT, {"id": item, "status": "completed", "tags": [log.name]})
                    log.races_won.append(item)
                except Conflict:
                    pass
            elif kind == "increment":
                log.versions.setdefault(item, []).append(_increment(client, item, rng, log)["version"])
                log.increments[item] = log.increments.get(item, 0) + 1
            else:
                touch += 1
                document = client.patch(LOAD_PROJECT, item, {"metadata": {f"touch-{log.name}": touch}})
                log.versions.setdefault(item, []).append(document["version"])
                log.touches[item] = touch
        except (StorehouseError, httpx.HTTPError) as exc:
            log.errors.append(f"{kind} {item}: {type(exc).__name__}: {exc}")
            continue
        log.ops[kind] = log.ops.get(kind, 0) + 1


def _acked(log: LoadLog, live: dict[str, int], document: JSONObject) -> None:
    live[document["id"]] = document["version"]
    log.own[document["id"]] = (document["version"], document["status"])


def _stale_patch(client: Target, log: LoadLog, item: str, changes: JSONObject, stale: int) -> None:
    try:
        client.patch(LOAD_PROJECT, item, changes, if_match=stale)
    except PreconditionFailed:
        log.refused += 1
    else:
        log.errors.append(f"{item}: a PATCH with the stale If-Match {stale} was accepted")


def _own_body(rng: random.Random, name: str) -> JSONObject:
    return {
        "status": rng.choice(STATUSES),
        "taskId": f"task-{rng.randrange(5)}",
        "costUSD": rng.randint(0, 10**6) / 1e8,
        "tokenUsage": {"input": rng.randrange(5000), "output": rng.randrange(5000)},
        "tags": [name, "load"],
        "metadata": {"writer": name},
    }


def _maybe(rng: random.Random, version: int) -> int | None:
    return version if rng.random() < 0.5 else None


def _increment(client: Target, counter: str, rng: random.Random, log: LoadLog) -> JSONObject:
    """Add one to a counter's metadata.count by a conditional PATCH or PUT, retried from a fresh read on 412."""
    while True:
        current = client.get(LOAD_PROJECT, counter)
        count = current["metadata"]["count"]
        try:
            if rng.random() < 0.5:
                changes = {"metadata": {"count": count + 1}}
                document = client.patch(LOAD_PROJECT, counter, changes, if_match=current["version"])
            else:
                replacement = {**current, "metadata": {**current["metadata"], "count": count + 1}}
                document = client.put(LOAD_PROJECT, counter, replacement, if_match=current["version"])
        except PreconditionFailed:
            log.retries += 1
            continue
        if (document["version"], document["metadata"]["count"]) != (current["version"] + 1, count + 1):
            log.errors.append(f"{counter}: version {current['version']} count {count} became {document}")
        return document


@dataclass
class ProbeLog:
    """What one read-your-writes reader saw."""

    project: str
    probes: int = 0
    writes: dict[str, int] = field(default_factory=dict)  # writes probed by kind: create, patch, delete
    stale: dict[str, int] = field(default_factory=dict)  # stale reads by kind: get, list, stats
    examples: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def probe_writer(
    target: str,
    project: str,
    probes: int,
    seed: int,
    link: Connection,
    ready: Queue[str],
    start: Event,
    planted: str = "",
) -> None:
    """Create, patch or delete an execution of ``project``; as soon as the write is acknowledged, send the reader
    on ``link`` what it must now see, and wait for the reader's answer before the next write.

    A message is ``(id, version, status, executions, input_tokens)``: version 0 for a delete, and the project's
    execution count and input tokens after the write. Every write sets ``tokenUsage.input`` to the version it
    makes, so a summary shows its version; nothing else writes the project.
    """
    plant(planted)
    client = connect(target)
    client.page(project, limit=1)
    ready.put(project)
    start.wait()
    rng = random.Random(seed)
    live: dict[str, int] = {}  # id -> version
    made = 0
    try:
        for _ in range(probes):
            status = rng.choice(STATUSES)
            roll = rng.random()
            if not live or roll < 0.25:
                item = f"p{made}"
                made += 1
                body = {
                    "id": item,
                    "taskId": item,
                    "status": status,
                    "tags": [f"tag-{item}"],
                    "tokenUsage": {"input": 1},
                }
                live[item] = client.create(project, body)["version"]
            elif roll < 0.35:
                item = rng.choice(list(live))
                client.delete(project, item)
                del live[item]
            else:
                item = rng.choice(list(live)[-6:])  # recent ones, so that listings are asked for again
                changes = {"status": status, "tokenUsage": {"input": live[item] + 1}}
                live[item] = client.patch(project, item, changes)["version"]
            link.send((item, live.get(item, 0), status, len(live), sum(live.values())))
            link.recv()
    finally:
        link.send(None)
        _settle_planted()
        client.close()


def probe_reader(
    target: str, project: str, link: Connection, ready: Queue[str], results: Queue[ProbeLog], planted: str = ""
) -> None:
    """Opened before any write: for each acknowledged write the writer sends, read it back at once (get, a
    filtered list that must include it or, after a delete, not, and stats) and count every stale read."""
    plant(planted)
    client = connect(target)
    client.page(project, limit=1)  # the project is open (and a page cached) before the first write
    client.stats(project)
    log = ProbeLog(project)
    ready.put(project)
    try:
        while (message := link.recv()) is not None:
            log.probes += 1
            kind = "delete" if message[1] == 0 else "create" if message[1] == 1 else "patch"
            log.writes[kind] = log.writes.get(kind, 0) + 1
            try:
                _probe(client, log, project, *message)
            except (StorehouseError, httpx.HTTPError) as exc:
                log.errors.append(f"{message}: {type(exc).__name__}: {exc}")
            link.send(True)
    finally:
        results.put(log)
        client.close()


def _probe(
    client: Target, log: ProbeLog, project: str, item: str, version: int, status: str, count: int, tokens: int
) -> None:
    """Read one acknowledged write back; the listing filter varies (status and task, tag, status alone), so
    that each way the index answers a filter is probed."""
    seen: dict[str, str] = {}
    try:
        got = client.get(project, item)["version"]
    except NotFound:
        got = 0
    if _stale(got, version):
        seen["get"] = f"version {got}" if got else "absent"
    way = log.probes % 3
    if not version:  # deleted: it must not be listed under its task
        items, _ = client.page(project, task_id=item, limit=10)
    elif way == 0:
        items, _ = client.page(project, status=status, task_id=item, limit=10)
    elif way == 1:
        items, _ = client.page(project, tag=f"tag-{item}", limit=10)
    else:
        items, _ = client.page(project, status=status, limit=1000)
    listed = max((summary["tokenUsage"]["input"] for summary in items if summary["id"] == item), default=0)
    if _stale(listed, version):
        seen["list"] = f"version {listed}" if listed else "absent"
    stats = client.stats(project)
    if (stats["totalExecutions"], stats["inputTokens"]) != (count, tokens):
        seen["stats"] = f"{stats['totalExecutions']} executions, {stats['inputTokens']} tokens"
    for kind, what in seen.items():
        log.stale[kind] = log.stale.get(kind, 0) + 1
        if len(log.examples) < 5:
            done = f"v{version} {status}" if version else "deleted"
            log.examples.append(f"{project}/{item} {done} ({count}, {tokens}): {kind} saw {what}")


def _stale(seen: int, acknowledged: int) -> bool:
    """A read is stale if it shows an older version than acknowledged, or shows a deleted (0) execution at all."""
    return seen < acknowledged if acknowledged else seen > 0


if __name__ == "__main__":
    modes: dict[str, Callable[..., None]] = {
        "crash": crash_writer,
        "mixed": mixed_writer,
        "crossing": crossing_writer,
        "busy": busy_writer,
    }
    modes[sys.argv[1]](*sys.argv[2:])
