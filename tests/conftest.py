"""Shared fixtures: a store on a real temp directory, an HTTP client over ASGI, and a real server process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from pathlib import Path

import httpx
import pytest

from storehouse import AsyncStorehouse, Settings, Storehouse
from storehouse.http import create_app
from tests.servers import Server, free_port

__all__ = ["Server", "free_port"]  # where the tests have always imported them from

SCORECARD = pytest.StashKey[list[str]]()
ATTACKS = pytest.StashKey[dict[str, bool]]()  # attack (a test marked ``attack``) -> whether it held


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--trials", type=int, default=None, help="trials of the crash and concurrency loops")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[SCORECARD] = []
    config.stash[ATTACKS] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Count every test marked ``attack`` (a reproduced attack on a real server or store): it held if it passed."""
    report = yield
    marker = item.get_closest_marker("attack")
    if marker is not None and (report.when == "call" or report.failed):
        name = str(marker.args[0]) if marker.args else item.name
        attacks = item.config.stash[ATTACKS]
        attacks[name] = attacks.get(name, True) and report.passed
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = [*config.stash[SCORECARD]]
    attacks = config.stash[ATTACKS]
    if attacks:
        broke = sorted(name for name, held in attacks.items() if not held)
        lines.append(
            f"security attacks: {len(attacks)} replayed, {len(attacks) - len(broke)} held, {len(broke)} succeeded"
            + (f" ({', '.join(broke)})" if broke else "")
        )
    if lines:
        terminalreporter.section("reliability scorecard")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def trials(request: pytest.FixtureRequest) -> int | None:
    value: int | None = request.config.getoption("--trials")
    return value


@pytest.fixture
def scorecard(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a harness's closing line (``crash-loop: 500 trials, 9,812 acked, 0 lost``), printed at the end of
    the run under "reliability scorecard"."""
    return request.config.stash[SCORECARD].append


def soak(count: int) -> int:
    """A fast-tier count scaled by ``STOREHOUSE_SOAK`` (e.g. ``STOREHOUSE_SOAK=20`` for a soak run)."""
    return count * max(1, int(os.environ.get("STOREHOUSE_SOAK", "1") or 1))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(params=["files"])
def store(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Storehouse]:
    with Storehouse(data_dir) as opened:
        yield opened


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir)


@pytest.fixture
async def http(store: Storehouse, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(AsyncStorehouse(store=store), settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
        yield client


def at(path: str, dir_fd: int | None) -> str:
    """The path a FileIO primitive names: path itself, or path in the directory dir_fd (``open_directory``)."""
    return path if dir_fd is None else os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), path)


@pytest.fixture
def server(data_dir: Path) -> Iterator[Server]:
    running = Server(data_dir)
    yield running
    running.stop()
