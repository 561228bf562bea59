"""Settings: flag > STOREHOUSE_* environment variable > default."""

from __future__ import annotations

from pathlib import Path

import pytest

from storehouse.config import DEFAULT_HOST, DEFAULT_PORT, MAKE_A_TOKEN, Settings, check_token, is_loopback
from storehouse.errors import InvalidParameter


def test_defaults_apply_when_nothing_is_given() -> None:
    settings = Settings.load(env={})
    assert settings.port == DEFAULT_PORT
    assert settings.host == DEFAULT_HOST
    assert settings.data_dir == Path("./data")
    assert settings.durable is True
    assert settings.token is None
    assert settings.allowed_hosts == ()


def test_env_overrides_default() -> None:
    env = {
        "STOREHOUSE_PORT": "9000",
        "STOREHOUSE_HOST": "0.0.0.0",
        "STOREHOUSE_DATA_DIR": "/srv/runs",
        "STOREHOUSE_DURABLE": "false",
        "STOREHOUSE_TOKEN": "s3cret",
        "STOREHOUSE_ALLOWED_HOSTS": "runs.example.com, other.example.com",
    }
    settings = Settings.load(env=env)
    assert settings.port == 9000
    assert settings.host == "0.0.0.0"
    assert settings.data_dir == Path("/srv/runs")
    assert settings.durable is False
    assert settings.token == "s3cret"
    assert settings.allowed_hosts == ("runs.example.com", "other.example.com")


def test_flag_overrides_env() -> None:
    env = {"STOREHOUSE_PORT": "9000", "STOREHOUSE_DATA_DIR": "/from/env"}
    settings = Settings.load(env=env, port=7000, data_dir="/from/flag")
    assert settings.port == 7000
    assert settings.data_dir == Path("/from/flag")


def test_flag_given_as_none_falls_back_to_env() -> None:
    settings = Settings.load(env={"STOREHOUSE_PORT": "9000"}, port=None)
    assert settings.port == 9000


def test_empty_env_value_falls_back_to_default() -> None:
    assert Settings.load(env={"STOREHOUSE_PORT": ""}).port == DEFAULT_PORT


@pytest.mark.parametrize("value", ["abc", "-1", "65536", "80.5"])
def test_bad_env_port_is_invalid_parameter_naming_the_variable(value: str) -> None:
    with pytest.raises(InvalidParameter, match="STOREHOUSE_PORT"):
        Settings.load(env={"STOREHOUSE_PORT": value})


def test_bad_flag_port_names_the_flag() -> None:
    with pytest.raises(InvalidParameter, match="--port"):
        Settings.load(env={}, port="http")


def test_bad_env_bool_names_the_variable() -> None:
    with pytest.raises(InvalidParameter, match="STOREHOUSE_DURABLE"):
        Settings.load(env={"STOREHOUSE_DURABLE": "maybe"})


def test_host_names_include_loopback_names_and_allowed_hosts() -> None:
    names = Settings(allowed_hosts=("Runs.Example.com",)).host_names
    assert {"localhost", "127.0.0.1", "[::1]"} <= names
    assert "runs.example.com" in names


def test_host_names_include_a_non_loopback_bind_host() -> None:
    assert "10.1.2.3" in Settings(host="10.1.2.3").host_names
    assert "0.0.0.0" not in Settings(host="0.0.0.0").host_names


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.1", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize(
    ("host", "names"),
    [
        ("127.0.0.2", {"127.0.0.2"}),
        ("localhost", {"localhost"}),
        ("::2", {"[::2]"}),
        ("[::2]", {"[::2]"}),
        ("0:0:0:0:0:0:0:1", {"[0:0:0:0:0:0:0:1]", "[::1]"}),
        ("FE80::A", {"[fe80::a]"}),
        ("Runs.Internal", {"runs.internal"}),
    ],
)
def test_host_names_include_any_bound_address(host: str, names: set[str]) -> None:
    assert names <= Settings(host=host).host_names


def test_host_names_do_not_include_the_wildcard_addresses() -> None:
    assert not {"0.0.0.0", "::", "[::]"} & Settings(host="::").host_names


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("", "is made of whitespace"),
        (" " * 20, "is made of whitespace"),
        ("\t\n" * 10, "is made of whitespace"),
        ("s3cret", "is 6 characters long, shorter than 16"),
        ("a" * 15, "is 15 characters long, shorter than 16"),
        (" " + "a" * 20, "starts or ends with whitespace"),
    ],
)
def test_a_short_or_blank_token_is_refused_saying_how_to_make_one(token: str, problem: str) -> None:
    with pytest.raises(InvalidParameter, match=problem) as refused:
        check_token(token)
    assert MAKE_A_TOKEN in refused.value.message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in refused.value.message


@pytest.mark.parametrize("token", [None, "a" * 16, "s3cret-Token_4c9e", "pass phrase with spaces"])
def test_a_token_of_16_characters_or_more_is_accepted(token: str | None) -> None:
    check_token(token)
