"""Worker processes for the reliability tests: ``python -m tests.reliability.workers MODE DATA_DIR ...``.

They print one line per acknowledged write (flushed before the next write starts), so the parent knows
exactly what was acknowledged when it kills them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from storehouse import PreconditionFailed, Settings, Storehouse
from storehouse.backends import FileBackend
from storehouse.fsio import FileIO


def crash_writer(data_dir: str, prefix: str, acks: str | None = None, planted: str = "") -> None:
    """Create, update and delete executions as fast as possible, reporting each acknowledgement.

    Reports go to stdout, or with ``acks`` to that file (one ``write`` per line, so a kill leaves at most
    a cut last line); the first line is ``ready``. ``planted="in-place"`` plants the bug the crash loop
    exists to catch: documents written over in place instead of through a temp file and a rename.
    """
    io = InPlaceIO() if planted == "in-place" else FileIO()
    store = Storehouse(settings=Settings(data_dir=Path(data_dir)), backend=FileBackend(data_dir, io))
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if acks else None

    def ack(line: str) -> None:
        if fd is None:
            print(line, flush=True)
        else:
            os.write(fd, f"{line}\n".encode())

    ack("ready")
    n = 0
    while True:
        item = f"{prefix}-{n}"
        store.put_execution("crash", item, {"status": "running", "input": {"n": n, "pad": "x" * 2000}})
        ack(f"c {item} 1")
        if n >= 1:
            done = store.patch_execution("crash", f"{prefix}-{n - 1}", {"status": "completed", "output": {"n": n}})
            ack(f"u {prefix}-{n - 1} {done['version']}")
        if n >= 2 and n % 3 == 0:
            store.delete_execution("crash", f"{prefix}-{n - 2}")
            ack(f"d {prefix}-{n - 2} 0")
        n += 1


class InPlaceIO(FileIO):
    """A planted bug: write the document over the old one in place, in two halves (no temp file, no rename)."""

    def replace_durably(self, path: Path, data: bytes) -> os.stat_result:
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


if __name__ == "__main__":
    modes: dict[str, Callable[..., None]] = {
        "crash": crash_writer,
        "mixed": mixed_writer,
        "crossing": crossing_writer,
        "busy": busy_writer,
    }
    modes[sys.argv[1]](*sys.argv[2:])
