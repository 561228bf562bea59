"""The guards of issue #13 in process: the cross-site check, JSON bodies for every write, the JSON value bound,
the settings and flags of the per-peer limits, and how a peer address is counted."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson
import pytest

from storehouse import Settings, Storehouse
from storehouse.cli import main
from storehouse.errors import InvalidBody, InvalidParameter
from storehouse.http import create_app
from storehouse.http.params import INLINE_BYTES, check_value_count, parse_json
from storehouse.http.protocol import peer_key

CLEANUP = "/api/projects/demo/history/cleanup"


def client(store: Storehouse, data_dir: Path, **settings: object) -> httpx.AsyncClient:
    app = create_app(store, Settings(data_dir=data_dir, **settings))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localhost")


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://localhost"}, 200),  # the default port, left out by the browser
        ({"Origin": "http://LOCALHOST:80", "Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),
        ({"Origin": "https://localhost"}, 403),  # another scheme is another origin
        ({"Origin": "http://localhost:8421"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Sec-Fetch-Site": "Cross-Site"}, 403),
    ],
)
async def test_cross_site_check_compares_the_origin_with_the_server_s_own(
    store: Storehouse, data_dir: Path, headers: dict[str, str], status: int
) -> None:
    async with client(store, data_dir) as http:
        answer = await http.get("/api/projects", headers=headers)
    assert answer.status_code == status, answer.text


async def test_the_page_itself_is_served_to_a_cross_site_navigation(store: Storehouse, data_dir: Path) -> None:
    async with client(store, data_dir) as http:
        answer = await http.get("/", headers={"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"", {}, 415),
        (b"a=1", {"content-type": "application/x-www-form-urlencoded"}, 415),
        (b"", {"content-type": "application/json"}, 400),
        (b"[]", {"content-type": "application/json"}, 400),
        (b'{"all": true}', {"content-type": "application/json"}, 400),
        (b"{}", {"content-type": "application/json"}, 200),
    ],
)
async def test_cleanup_needs_the_empty_json_object(
    store: Storehouse, data_dir: Path, body: bytes, headers: dict[str, str], status: int
) -> None:
    async with client(store, data_dir) as http:
        answer = await http.post(CLEANUP, content=body, headers=headers)
    assert answer.status_code == status, answer.text
    if status == 200:
        assert answer.json() == {"deleted": 0}


@pytest.mark.parametrize(
    "raw",
    [
        orjson.dumps({"text": "a, b: [c] {d}" * 500}),  # structural bytes inside strings do not count
        orjson.dumps({"text": 'say \\"[,,,]\\" ' * 300, "list": [1, 2]}),  # nor behind escaped quotes
        b"[" + b",".join([b"1"] * 999) + b"]",
    ],
)
def test_the_value_bound_counts_only_outside_strings(raw: bytes) -> None:
    check_value_count(raw, 1000)
    assert parse_json(raw, 64, 1000) == orjson.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" + b",".join([b"[]"] * 1001) + b"]",
        b'{"a": "' + b"x" * 2000 + b'", "b": [' + b",".join([b"{}"] * 1001) + b"]}",
        b'["\\\\", ' + b",".join([b"0"] * 1001) + b"]",  # an escaped backslash before the closing quote
    ],
)
def test_the_value_bound_refuses_before_parsing(raw: bytes) -> None:
    with pytest.raises(InvalidBody, match="more than 1000 JSON values"):
        check_value_count(raw, 1000)


async def test_a_large_body_is_parsed_off_the_loop_with_the_same_answers(store: Storehouse, data_dir: Path) -> None:
    big = {"name": "big", "status": "running", "input": {"text": "x" * (2 * INLINE_BYTES)}}
    flood = b'{"metadata": {"a": [' + b",".join([b"[]"] * 20_000) + b"]}}"
    async with client(store, data_dir, max_json_values=10_000) as http:
        created = await http.post("/api/projects/demo/executions", json=big)
        refused = await http.post(
            "/api/projects/demo/executions", content=flood, headers={"content-type": "application/json"}
        )
        deep = await http.post(
            "/api/projects/demo/executions",
            content=b'{"input": ' + b"[" * 100 + b"]" * 100 + b' , "pad": "' + b"p" * INLINE_BYTES + b'"}',
            headers={"content-type": "application/json"},
        )
    assert created.status_code == 201
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_body")
    assert "STOREHOUSE_MAX_JSON_VALUES" in refused.json()["error"]["message"]
    assert (deep.status_code, deep.json()["error"]["code"]) == (400, "invalid_body")


def test_per_peer_limits_default_to_a_quarter_of_the_caps() -> None:
    settings = Settings.load(env={}, max_connections=50)
    assert (settings.peer_connections, settings.max_streams, settings.peer_streams) == (12, 100, 25)
    given = Settings.load(env={"STOREHOUSE_MAX_STREAMS_PER_PEER": "3", "STOREHOUSE_IDLE_TIMEOUT": "2"})
    assert (given.peer_streams, given.idle_timeout) == (3, 2)
    assert Settings.load(env={}, max_connections_per_peer="7").peer_connections == 7
    with pytest.raises(InvalidParameter, match="--max-streams must be between 1 and"):
        Settings.load(env={}, max_streams="0")
    with pytest.raises(InvalidParameter, match="STOREHOUSE_MAX_JSON_VALUES must be between 1000 and"):
        Settings.load(env={"STOREHOUSE_MAX_JSON_VALUES": "10"})


def test_serve_help_lists_the_new_limits(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    for flag in ("--max-connections-per-peer", "--max-streams", "--max-streams-per-peer", "--idle-timeout"):
        assert flag in text


@pytest.mark.parametrize(
    ("address", "peer"),
    [
        ("127.0.0.2", "127.0.0.2"),
        ("::ffff:10.0.0.7", "10.0.0.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),  # the same /64: the same peer
        ("/run/storehouse.sock", "/run/storehouse.sock"),
    ],
)
def test_a_peer_is_an_ipv4_address_or_an_ipv6_64(address: str, peer: str) -> None:
    assert peer_key(address) == peer
