"""The event stream (issue #5 item 4) against a real ``storehouse serve``: changes made by other processes
arrive within a second, a reconnect with Last-Event-ID gets exactly what it missed, and the stream ends
cleanly when the server stops."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest

from storehouse import Storehouse
from storehouse.changes import parse_event_id
from tests.conftest import Server

EVENTS = "/api/projects/demo/events"
WRITER = """
import sys, time
from storehouse import Storehouse
data_dir, project, count, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with Storehouse(data_dir) as store:
    for n in range(count):
        store.create_execution(project, name=f"{tag}-{n}", status="running")
        store.add_history(project, f"T-{tag}", {"type": "log", "content": f"{tag}-{n}"})
        print(time.time(), flush=True)
"""


@dataclass
class Event:
    id: str | None
    type: str
    data: dict[str, object]


class Stream:
    """An open event stream, read line by line into events (comment lines, the pings, are skipped)."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def next(self) -> Event:
        fields: dict[str, str] = {}
        for line in self._lines:
            if line == "":
                if fields:
                    return Event(fields.get("id"), fields.get("event", "message"), orjson.loads(fields["data"]))
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise EOFError("the stream ended")

    def take(self, count: int) -> list[Event]:
        return [self.next() for _ in range(count)]


@contextmanager
def follow(server: Server, last_event_id: str | None = None) -> Iterator[Stream]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with (
        httpx.Client(timeout=httpx.Timeout(10, read=10)) as client,
        client.stream("GET", f"{server.url}{EVENTS}", headers=headers) as answer,
    ):
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        yield Stream(answer.iter_lines())


def write_in_another_process(data_dir: Path, count: int, tag: str) -> list[float]:
    """Each of count rounds creates a run and appends a history entry; returns when each round was done."""
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(data_dir), "demo", str(count), tag],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return [float(line) for line in done.stdout.split()]


def test_a_change_made_by_another_process_arrives_within_a_second(
    server: Server, data_dir: Path, scorecard: Callable[[str], None]
) -> None:
    with follow(server) as stream:
        ready = stream.next()
        assert ready.type == "ready"
        assert ready.id == ready.data["lastEventId"]
        received: list[tuple[Event, float]] = []

        def read() -> None:
            for _ in range(6):
                received.append((stream.next(), time.time()))

        reader = threading.Thread(target=read)
        reader.start()
        written = write_in_another_process(data_dir, 3, "a")
        reader.join(15)
    assert [event.type for event, _ in received] == ["execution.created", "history.appended"] * 3
    delays = [received[2 * n + 1][1] - written[n] for n in range(3)]  # the history entry is each round's last
    assert max(delays) < 1.0, delays
    scorecard(
        f"event-stream: changes written by another process reached the client after "
        f"{', '.join(f'{delay * 1000:.0f}' for delay in delays)} ms (the target is under 1,000)"
    )
    first = received[0][0].data
    assert first["projectId"] == "demo"
    assert first["execution"]["name"] == "a-0"  # type: ignore[index]
    assert received[1][0].data["entries"][0]["content"] == "a-0"  # type: ignore[index]


def test_a_reconnect_with_last_event_id_gets_exactly_what_it_missed(server: Server, data_dir: Path) -> None:
    write_in_another_process(data_dir, 2, "before")
    with follow(server) as stream:
        start = stream.next().id
        write_in_another_process(data_dir, 3, "seen")
        seen = stream.take(6)
    assert start is not None
    # disconnected: four processes write meanwhile
    writers = [threading.Thread(target=write_in_another_process, args=(data_dir, 10, f"w{n}")) for n in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    last = seen[3].id  # resume from the middle of what was seen: the last two come again, then the rest
    with follow(server, last) as stream:
        ready = stream.next()
        assert (ready.type, ready.id) == ("ready", last)
        resumed = stream.take(2 + 4 * 10 * 2)
    with Storehouse(data_dir) as store:
        expected = store.changes("demo", last, limit=1000).events
    assert [event.id for event in resumed] == [event.id for event in expected]
    assert [event.type for event in resumed] == [event.type for event in expected]
    assert [event.id for event in resumed[:2]] == [event.id for event in seen[4:]]
    seqs = [parse_event_id(str(event.id))[1] for event in seen + resumed[2:]]
    assert seqs == sorted(set(seqs))  # increasing: no duplicates, and in order
    names = {event.data["execution"]["name"] for event in resumed[2:] if event.type == "execution.created"}  # type: ignore[index]
    assert names == {f"w{w}-{n}" for w in range(4) for n in range(10)}


def test_an_id_that_cannot_be_resumed_opens_with_a_reset(server: Server, data_dir: Path) -> None:
    write_in_another_process(data_dir, 1, "x")
    with follow(server, "0123456789ab-1") as stream:
        reset = stream.next()
        assert reset.type == "reset"
        assert "reload" in str(reset.data["reason"])
        assert reset.id == reset.data["lastEventId"]
        assert parse_event_id(str(reset.id))[0] != "0123456789ab"
        write_in_another_process(data_dir, 1, "y")
        assert [event.type for event in stream.take(2)] == ["execution.created", "history.appended"]


@pytest.mark.parametrize("bad", ["yesterday", "abc-def", "12-"])
def test_a_malformed_last_event_id_is_a_400(server: Server, bad: str) -> None:
    answer = httpx.get(f"{server.url}{EVENTS}", headers={"Last-Event-ID": bad}, timeout=10)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_parameter"
    answer = httpx.get(f"{server.url}{EVENTS}", params={"lastEventId": bad}, timeout=10)
    assert answer.status_code == 400


def test_unknown_parameters_and_bad_project_ids_are_400s(server: Server) -> None:
    assert httpx.get(f"{server.url}{EVENTS}", params={"since": "1"}, timeout=10).status_code == 400
    assert httpx.get(f"{server.url}/api/projects/..bad/events", timeout=10).status_code == 400


def test_head_answers_without_opening_a_stream(server: Server) -> None:
    answer = httpx.head(f"{server.url}{EVENTS}", timeout=5)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")


def test_the_query_parameter_resumes_like_the_header(server: Server, data_dir: Path) -> None:
    with follow(server) as stream:
        start = stream.next().id
    write_in_another_process(data_dir, 1, "q")
    with (
        httpx.Client(timeout=10) as client,
        client.stream("GET", f"{server.url}{EVENTS}?lastEventId={start}") as answer,
    ):
        stream = Stream(answer.iter_lines())
        assert stream.next().id == start
        assert [event.type for event in stream.take(2)] == ["execution.created", "history.appended"]


def test_stopping_the_server_ends_open_streams_cleanly(data_dir: Path) -> None:
    server = Server(data_dir)
    ended: list[str] = []
    streaming = threading.Event()

    def read() -> None:
        try:
            with follow(server) as stream:
                stream.next()
                streaming.set()
                while True:
                    stream.next()
        except EOFError:
            ended.append("cleanly")
        except httpx.HTTPError as exc:
            ended.append(f"broken: {exc!r}")

    reader = threading.Thread(target=read)
    reader.start()
    assert streaming.wait(10)  # the stream is open and its first event read
    began = time.monotonic()
    server.process.terminate()
    server.process.wait(10)
    reader.join(10)
    assert time.monotonic() - began < 5
    assert ended == ["cleanly"]
    assert server.process.stderr is not None
    log = server.process.stderr.read().decode()
    server.stop()
    assert "without completing response" not in log
    assert "Traceback" not in log
