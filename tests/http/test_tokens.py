"""Wrong tokens are slowed down per peer (issue #13 item 11), never the right token, never other peers, and the
table of peers stays bounded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from storehouse import Settings, Storehouse
from storehouse.http import create_app
from storehouse.http.middleware import Guard, WrongTokens

TOKEN = "s3cret-Token_tokens"
DELAY = 0.3


def client(store: Storehouse, data_dir: Path, peer: str, wrong_tokens: WrongTokens) -> httpx.AsyncClient:
    """A client from one peer address to an app whose token check counts into wrong_tokens."""
    app = create_app(store, Settings(data_dir=data_dir))
    guarded = Guard(app, token=TOKEN, wrong_tokens=wrong_tokens)
    transport = httpx.ASGITransport(app=guarded, client=(peer, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://localhost")


async def timed(http: httpx.AsyncClient, token: str) -> tuple[int, float]:
    started = time.monotonic()
    answer = await http.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, time.monotonic() - started


async def test_wrong_tokens_past_the_free_ones_are_delayed(store: Storehouse, data_dir: Path) -> None:
    wrong = WrongTokens(free=3, delay=DELAY)
    async with client(store, data_dir, "10.0.0.1", wrong) as http:
        for _ in range(3):
            status, took = await timed(http, "guess")
            assert (status, took < DELAY) == (401, True)
        status, took = await timed(http, "guess")
        assert status == 401
        assert took >= DELAY


async def test_many_guesses_at_once_are_answered_one_delay_apart(store: Storehouse, data_dir: Path) -> None:
    wrong = WrongTokens(free=0, delay=0.1)
    async with client(store, data_dir, "10.0.0.1", wrong) as http:
        started = time.monotonic()
        answers = await asyncio.gather(*(timed(http, f"guess-{n}") for n in range(5)))
        assert {status for status, _ in answers} == {401}
        assert time.monotonic() - started >= 0.5  # 5 guesses, one per delay: sending them at once does not help


async def test_the_right_token_and_other_peers_are_not_slowed(store: Storehouse, data_dir: Path) -> None:
    wrong = WrongTokens(free=1, delay=5.0)
    async with (
        client(store, data_dir, "10.0.0.1", wrong) as guesser,
        client(store, data_dir, "10.0.0.2", wrong) as other,
    ):
        await timed(guesser, "guess")
        slow = asyncio.ensure_future(timed(guesser, "guess"))  # over the budget: waits 5 s
        await asyncio.sleep(0.05)
        assert not slow.done()
        status, took = await timed(guesser, TOKEN)
        assert (status, took < 1) == (200, True)
        status, took = await timed(other, "its-first-guess")
        assert (status, took < 1) == (401, True)
        slow.cancel()


async def test_a_peer_gets_its_free_guesses_back_after_the_window() -> None:
    now = [0.0]
    wrong = WrongTokens(free=1, window=60, delay=5.0, clock=lambda: now[0])
    await wrong.refused("10.0.0.1")
    now[0] = 61.0
    started = time.monotonic()
    await wrong.refused("10.0.0.1")
    assert time.monotonic() - started < 1
    assert wrong.peers["10.0.0.1"].failures == 1


async def test_the_table_of_peers_is_bounded() -> None:
    wrong = WrongTokens(free=5, max_peers=100)
    for n in range(1000):
        await wrong.refused(f"10.0.{n // 256}.{n % 256}")
    assert len(wrong.peers) == 100
    assert "10.0.3.231" in wrong.peers  # the most recent stay


@pytest.mark.parametrize("peer", ["10.0.0.9", "::1"])
async def test_each_peer_has_its_own_budget(peer: str) -> None:
    wrong = WrongTokens(free=2, delay=5.0)
    for _ in range(2):
        await wrong.refused("10.0.0.1")
    started = time.monotonic()
    await wrong.refused(peer)
    assert time.monotonic() - started < 1
