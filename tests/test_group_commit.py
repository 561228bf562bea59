"""Group commit of index writes: concurrent threads share transactions, and lose, duplicate or mix up nothing.

``Index._commit`` queues the work of threads that arrive while another thread commits, and a leader runs
the queue in one transaction. These tests drive it with real threads on a real SQLite file: through the
store (every created run listed and counted, also after a rebuild from the files), and directly, with works
that insert into a scratch table, so that which caller got which outcome, and which transaction each work
ran in, can be checked. A "held lead" (a caller whose work waits inside its transaction) makes the others
queue behind it, so that they deterministically share the next transaction.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest

from storehouse import Storehouse
from storehouse.backends import FileBackend
from storehouse.index import COMMIT_BATCH, Index

pytestmark = pytest.mark.timeout(60)

WAIT = 10.0  # seconds: the bound on every join and wait; a healthy test takes a fraction of one
Work = Callable[[sqlite3.Connection], object]


class Stop(BaseException):
    """Stands for KeyboardInterrupt or SystemExit raised while a write is under way."""


class Caller(threading.Thread):
    """A thread that calls ``index._commit(work)`` once (after ``prepare`` and the barrier) and keeps the outcome."""

    def __init__(
        self,
        index: Index,
        work: Work,
        barrier: threading.Barrier | None = None,
        prepare: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(daemon=True)
        self.index = index
        self.work = work
        self.barrier = barrier
        self.prepare = prepare
        self.returned = False
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            if self.prepare is not None:
                self.prepare()
            if self.barrier is not None:
                self.barrier.wait(WAIT)
            self.index._commit(self.work)
            self.returned = True
        except BaseException as exc:  # Stop included: the test reads it, the thread must not die noisily
            self.error = exc


def start(callers: list[Caller]) -> list[Caller]:
    for caller in callers:
        caller.start()
    return callers


def finish(callers: list[Caller]) -> None:
    """Join every caller; fail (rather than hang) if one is still waiting after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    for caller in callers:
        caller.join(max(0.0, deadline - time.monotonic()))
    stuck = [n for n, caller in enumerate(callers) if caller.is_alive()]
    assert stuck == [], f"callers {stuck} never returned from _commit: group commit deadlocked"


def wait_queued(index: Index, count: int) -> None:
    """Wait until ``count`` callers wait in the commit queue (behind a held lead)."""
    deadline = time.monotonic() + WAIT
    while len(index._commit_queue) < count:
        assert time.monotonic() < deadline, f"only {len(index._commit_queue)} of {count} callers queued"
        time.sleep(0.001)


def insert(n: int) -> Work:
    """A work that adds row n (and the thread that ran it) to the scratch table."""
    return lambda connection: connection.execute(
        "INSERT INTO scratch(n, thread) VALUES (?, ?)", (n, threading.get_ident())
    )


def taken(connection: sqlite3.Connection) -> None:
    """A work that breaks a primary key: sqlite3.IntegrityError, in any transaction."""
    connection.execute("INSERT INTO taken VALUES (1)")


def scratch_rows(index: Index) -> list[int]:
    """Every n in the scratch table, sorted, duplicates kept."""
    return [n for (n,) in index._connect().execute("SELECT n FROM scratch ORDER BY n")]


def assert_idle_and_working(index: Index) -> None:
    """Nobody is left leading or queued, and new commits, concurrent and alone, go through."""
    assert index._committing is False
    assert index._commit_queue == []
    barrier = threading.Barrier(4)
    callers = start([Caller(index, insert(10_000 + n), barrier) for n in range(4)])
    finish(callers)
    assert [caller.error for caller in callers] == [None] * 4
    index._commit(insert(20_000))
    rows = scratch_rows(index)
    assert [n for n in rows if n >= 10_000] == [10_000, 10_001, 10_002, 10_003, 20_000]
    assert index._committing is False


@contextmanager
def held_lead(index: Index) -> Iterator[Caller]:
    """A caller leading a transaction whose work waits until the block ends: commits meanwhile queue."""
    running, release = threading.Event(), threading.Event()

    def hold(connection: sqlite3.Connection) -> None:
        running.set()
        if not release.wait(WAIT):
            raise TimeoutError("the held lead was never released")
        connection.execute("INSERT INTO scratch(n) VALUES (-1)")

    gate = Caller(index, hold)
    gate.start()
    assert running.wait(WAIT), "the held lead never started its work"
    try:
        yield gate
    finally:
        release.set()
        gate.join(WAIT)
    assert not gate.is_alive()
    assert gate.returned, gate.error


@pytest.fixture
def index(data_dir: Path) -> Iterator[Index]:
    """A real index file with two scratch tables: ``scratch`` (no constraint) and ``taken`` (holding 1)."""
    data_dir.mkdir(parents=True)
    opened = Index(data_dir / "index.sqlite3")
    opened.ensure_schema()
    connection = opened._connect()
    connection.execute("CREATE TABLE scratch(n INTEGER NOT NULL, thread INTEGER)")
    connection.execute("CREATE TABLE taken(n INTEGER PRIMARY KEY)")
    connection.execute("INSERT INTO taken VALUES (1)")
    yield opened
    opened.close()


# -- through the store -----------------------------------------------------------------------------------
def test_concurrent_creates_are_all_listed_counted_and_rebuilt(data_dir: Path) -> None:
    threads, each = 8, 60
    created: list[list[str]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def create(k: int) -> None:
        try:
            barrier.wait(WAIT)
            for n in range(each):
                document = store.create_execution("demo", {"status": "completed", "duration": n, "costUSD": 0.5})
                created[k].append(document["id"])
        except BaseException as exc:
            errors.append(exc)

    with Storehouse(data_dir) as store:
        store.create_execution("other", {"status": "running"})  # the project key exists before the rush
        workers = [threading.Thread(target=create, args=(k,), daemon=True) for k in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(WAIT)
        assert not any(worker.is_alive() for worker in workers), "a writer never returned"
        assert errors == []
        ids = {item for chunk in created for item in chunk}
        assert len(ids) == threads * each
        page = store.list_executions("demo", limit=1000)
        assert {item["id"] for item in page.items} == ids
        assert len(page.items) == page.total == threads * each
        stats = store.execution_stats("demo")
        assert stats["totalExecutions"] == stats["completed"] == threads * each
        assert stats["totalCostUSD"] == pytest.approx(0.5 * threads * each)
        assert store.list_executions("other").total == 1
    for path in data_dir.glob("index.sqlite3*"):
        path.unlink()
    with Storehouse(data_dir) as rebuilt:
        page = rebuilt.list_executions("demo", limit=1000)
        assert {item["id"] for item in page.items} == ids
        assert page.total == threads * each
        assert rebuilt.execution_stats("demo") == stats


def test_concurrent_creates_updates_and_deletes_leave_the_index_in_step(data_dir: Path) -> None:
    """Every public writer (add_intent, upsert, remove) at once: the index agrees with the files, no intent is left."""
    threads, each = 8, 15
    kept: list[set[str]] = [set() for _ in range(threads)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def churn(k: int) -> None:
        try:
            barrier.wait(WAIT)
            for n in range(each):
                item = store.create_execution("demo", {"status": "running"})["id"]
                store.patch_execution("demo", item, {"status": "failed", "duration": n})  # add_intent, upsert
                if n % 3 == 0:
                    store.delete_execution("demo", item)  # remove
                else:
                    kept[k].add(item)
        except BaseException as exc:
            errors.append(exc)

    with Storehouse(data_dir) as store:
        workers = [threading.Thread(target=churn, args=(k,), daemon=True) for k in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(WAIT)
        assert not any(worker.is_alive() for worker in workers), "a writer never returned"
        assert errors == []
        ids = set().union(*kept)
        page = store.list_executions("demo", limit=1000)
        assert {item["id"] for item in page.items} == ids
        assert page.total == len(ids) == threads * (each - 5)
        stats = store.execution_stats("demo")
        assert stats["totalExecutions"] == stats["failed"] == len(ids)
        assert stats["running"] == 0
        backend = store.backend
        assert isinstance(backend, FileBackend)
        key = backend._index.find_project("demo")
        assert key is not None
        assert backend._index.intents(key) == []
        assert store.check().problems == []


# -- Index._commit directly -----------------------------------------------------------------------------
def test_works_that_arrive_together_share_transactions(index: Index) -> None:
    """8 callers released at once, the first work lingering 30 ms: fewer transactions than works, each led by
    one of its own callers (a leader commits the batch holding its own work, then hands the lead on)."""
    threads = 8
    guard = threading.Lock()
    begins: list[int] = []  # one entry per BEGIN IMMEDIATE, on any thread's connection
    ran: dict[int, tuple[int, int]] = {}  # work -> (its transaction, the thread that ran it)
    first = [True]

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN"):
            with guard:
                begins.append(threading.get_ident())

    def watch() -> None:
        index._connect().set_trace_callback(trace)

    def work(n: int) -> Work:
        def run(connection: sqlite3.Connection) -> None:
            with guard:
                linger, first[0] = first[0], False
                ran[n] = (len(begins), threading.get_ident())
            if linger:
                time.sleep(0.03)  # the others arrive meanwhile and queue behind this transaction
            insert(n)(connection)

        return run

    barrier = threading.Barrier(threads)
    callers = start([Caller(index, work(n), barrier, watch) for n in range(threads)])
    finish(callers)
    assert [caller.error for caller in callers] == [None] * threads
    assert scratch_rows(index) == list(range(threads))
    transactions = {tx for tx, _ in ran.values()}
    assert len(begins) == len(transactions)  # nothing failed, so no transaction was begun again
    assert len(transactions) < threads, f"{threads} works took {len(transactions)} transactions: none shared"
    for tx in transactions:
        members = [n for n, (at, _) in ran.items() if at == tx]
        runner = begins[tx - 1]
        assert {ran[n][1] for n in members} == {runner}
        assert runner in {callers[n].ident for n in members}, "a leader committed a batch without its own work"


def test_a_long_queue_is_committed_in_batches_of_at_most_commit_batch(index: Index) -> None:
    """COMMIT_BATCH + 6 callers queued behind a held lead: two transactions (COMMIT_BATCH works, then 6), each
    work committed once, none left behind in the queue."""
    count = COMMIT_BATCH + 6
    guard = threading.Lock()
    begins: list[int] = []
    ran: dict[int, int] = {}  # work -> its transaction

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN"):
            with guard:
                begins.append(threading.get_ident())

    def watch() -> None:
        index._connect().set_trace_callback(trace)

    def work(n: int) -> Work:
        def run(connection: sqlite3.Connection) -> None:
            with guard:
                ran[n] = len(begins)
            insert(n)(connection)

        return run

    ready = threading.Barrier(count + 1)
    with held_lead(index):
        callers = start([Caller(index, work(n), ready, watch) for n in range(count)])
        ready.wait(WAIT)  # every caller's connection is traced before it queues
        wait_queued(index, count)
    finish(callers)
    assert [caller.error for caller in callers] == [None] * count
    assert scratch_rows(index) == [-1, *range(count)]
    sizes = sorted(list(ran.values()).count(tx) for tx in set(ran.values()))
    assert sizes == [count - COMMIT_BATCH, COMMIT_BATCH]
    assert len(begins) == 2
    assert_idle_and_working(index)


def test_a_failing_work_fails_only_its_own_caller(index: Index) -> None:
    """Twelve works share a transaction; two fail differently: each error reaches its own caller only, every
    other work is committed exactly once, and the index goes on committing."""
    works = [insert(n) for n in range(12)]
    works[2] = taken  # sqlite3.IntegrityError

    def broken(connection: sqlite3.Connection) -> None:
        insert(5)(connection)
        raise ValueError("work 5 is broken")

    works[5] = broken
    barrier = threading.Barrier(len(works))
    with held_lead(index):
        callers = start([Caller(index, work, barrier) for work in works])
        wait_queued(index, len(works))
    finish(callers)
    assert isinstance(callers[2].error, sqlite3.IntegrityError)
    assert isinstance(callers[5].error, ValueError)
    assert str(callers[5].error) == "work 5 is broken"
    others = [n for n in range(len(works)) if n not in (2, 5)]
    assert [callers[n].error for n in others] == [None] * len(others)
    assert all(callers[n].returned for n in others)
    assert scratch_rows(index) == [-1, *others]  # 5's insert was rolled back with it, nobody's ran twice
    assert_idle_and_working(index)


def test_a_failing_work_alone_fails_only_its_caller(index: Index) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        index._commit(taken)
    index._commit(insert(1))
    assert scratch_rows(index) == [1]
    assert_idle_and_working(index)


def test_a_base_exception_in_a_shared_transaction_settles_every_caller(index: Index) -> None:
    """Stop (think KeyboardInterrupt) in one work of a shared batch: its caller gets it, every other caller
    returns or raises it (none hangs), what returned is committed and what raised is not."""
    works = [insert(n) for n in range(7)]

    def stop(connection: sqlite3.Connection) -> None:
        insert(3)(connection)
        raise Stop

    works[3] = stop
    barrier = threading.Barrier(len(works))
    with held_lead(index):
        callers = start([Caller(index, work, barrier) for work in works])
        wait_queued(index, len(works))
    finish(callers)
    assert isinstance(callers[3].error, Stop)
    assert_returned_means_committed(index, callers, {3})
    assert_idle_and_working(index)


def test_a_base_exception_while_works_run_again_alone_settles_every_caller(index: Index) -> None:
    """A shared batch fails (IntegrityError), and while its works run again alone one raises Stop: no caller
    hangs, each gets its own outcome, and exactly the works whose callers returned are committed."""
    failed = threading.Event()

    def taken_once_noted(connection: sqlite3.Connection) -> None:
        failed.set()
        taken(connection)

    def stop_when_alone(connection: sqlite3.Connection) -> None:
        if failed.is_set():  # the shared transaction failed: this is the run alone
            raise Stop
        insert(4)(connection)

    works = [insert(n) for n in range(8)]
    works[1] = taken_once_noted
    works[4] = stop_when_alone
    callers: list[Caller] = []
    with held_lead(index):
        for n, work in enumerate(works):  # one by one, so that the queue (and the retry) goes in this order
            callers += start([Caller(index, work)])
            wait_queued(index, n + 1)
    finish(callers)
    assert isinstance(callers[1].error, sqlite3.IntegrityError)
    assert isinstance(callers[4].error, Stop)
    assert [callers[n].returned for n in (0, 2, 3)] == [True] * 3  # committed alone before the Stop
    assert_returned_means_committed(index, callers, {1, 4})
    assert_idle_and_working(index)


def assert_returned_means_committed(index: Index, callers: list[Caller], failing: set[int]) -> None:
    """Every caller except ``failing`` returned or raised Stop; the rows are exactly those of the ones that returned."""
    for n, caller in enumerate(callers):
        if n not in failing:
            assert caller.returned or isinstance(caller.error, Stop), (n, caller.error)
    committed = [n for n, caller in enumerate(callers) if caller.returned]
    assert scratch_rows(index) == [-1, *committed]


def test_a_caller_interrupted_while_queued_does_not_block_later_writes(index: Index) -> None:
    """Ctrl-C (or a signal handler raising, e.g. SIGTERM -> SystemExit) in the main thread while it waits behind
    another thread's transaction: the main thread gets the exception, and later writes still go through."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Stop

    def poke() -> None:
        wait_queued(index, 1)
        time.sleep(0.05)  # the main thread is inside ticket.settled.wait() by now
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)

    previous = signal.signal(signal.SIGUSR1, interrupt)
    later: Caller | None = None
    try:
        with held_lead(index):
            poker = threading.Thread(target=poke, daemon=True)
            poker.start()
            interrupted = False
            try:
                index._commit(insert(1))
                time.sleep(WAIT)  # only reached if _commit returned before the signal came: Stop lands here
            except Stop:
                interrupted = True
            poker.join(WAIT)
        assert interrupted
        later = Caller(index, insert(2))
        later.start()
        later.join(2)
        assert not later.is_alive(), "a write after the interrupted one never returned: group commit is stuck"
        assert later.returned, later.error
        assert 2 in scratch_rows(index)
    finally:
        signal.signal(signal.SIGUSR1, previous)
        if later is not None and later.is_alive():  # release the stuck thread so that it does not outlive the test
            with index._commit_guard:
                stuck, index._commit_queue = index._commit_queue, []
                index._committing = False
            for ticket in stuck:
                ticket.settle(RuntimeError("released by the test after a deadlock"))
            later.join(WAIT)
