"""Settings: each value comes from a flag, else a ``STOREHOUSE_*`` environment variable, else a default.

They are read once, at start-up, into a frozen dataclass that the server, the CLI and the library share.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InvalidParameter

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8420
DEFAULT_DATA_DIR = "./data"
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_REQUEST_TIMEOUT = 30  # seconds for a request (headers and body) to arrive in full
DEFAULT_MAX_CONNECTIONS = 1000  # open connections (and requests in flight) before the server answers 503
DEFAULT_MAX_STREAMS = 100  # event streams open at once, counted apart from the connections above
DEFAULT_IDLE_TIMEOUT = 5  # seconds for a new connection to send its first byte
DEFAULT_CLEANUP_INTERVAL = 300  # seconds between a server's clean-ups of the runs retention hides
DEFAULT_MAX_JSON_VALUES = 1_000_000  # structural bytes ([ { , :) of a JSON body: a bound on the values it holds
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]", "::1")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about a storehouse server or store."""

    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    allowed_hosts: tuple[str, ...] = field(default=())
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    durable: bool = True
    request_timeout: int = DEFAULT_REQUEST_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    max_connections_per_peer: int | None = None  # None: a quarter of max_connections (peer_connections)
    max_streams: int = DEFAULT_MAX_STREAMS
    max_streams_per_peer: int | None = None  # None: a quarter of max_streams (peer_streams)
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT
    max_json_values: int = DEFAULT_MAX_JSON_VALUES
    cleanup_interval: int = DEFAULT_CLEANUP_INTERVAL

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """Build settings from flags (None means not given), then the environment, then the defaults.

        Raises InvalidParameter naming the variable when a value does not parse.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, parse in _PARSERS.items():
            flag = flags.get(name)
            if flag is not None:
                values[name] = parse(str(flag), f"--{name.replace('_', '-')}") if isinstance(flag, str) else flag
                continue
            variable = "STOREHOUSE_" + name.upper()
            if env.get(variable, "") != "":
                values[name] = parse(env[variable], variable)
        return cls(**values)

    def with_changes(self, **changes: Any) -> Settings:
        """Return a copy with some values replaced."""
        return replace(self, **changes)

    @property
    def peer_connections(self) -> int:
        """Connections one peer address may hold (``max_connections_per_peer``, else a quarter of the cap)."""
        return self.max_connections_per_peer or max(1, self.max_connections // 4)

    @property
    def peer_streams(self) -> int:
        """Event streams one peer address may hold (``max_streams_per_peer``, else a quarter of ``max_streams``)."""
        return self.max_streams_per_peer or max(1, self.max_streams // 4)

    @property
    def host_names(self) -> frozenset[str]:
        """The names a request's ``Host`` header may carry (port stripped, lower case)."""
        names = {*LOOPBACK_NAMES, *(h.lower() for h in self.allowed_hosts)}
        # the address the server is bound to (127.0.0.2 too, not only a public one) names the server itself:
        # its own URL must work. An IPv6 address comes in Host in brackets, in any spelling of it.
        if self.host not in ("0.0.0.0", "::", ""):
            names.update(_host_forms(self.host))
        return frozenset(names)


def _host_forms(host: str) -> set[str]:
    """How a Host header names the bound host: a name as it is; an IPv6 address in brackets, as given and
    compressed (``[0:0:0:0:0:0:0:2]`` and ``[::2]``)."""
    bare = host.strip().lower().removeprefix("[").removesuffix("]")
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return {bare}
    if address.version == 4:
        return {bare}
    return {f"[{bare}]", f"[{address.compressed}]"}


MIN_TOKEN_LENGTH = 16
MAKE_A_TOKEN = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'


def check_token(token: str | None) -> None:
    """Refuse a token that is too easy to guess: InvalidParameter, saying how to make a good one.

    A token must be at least ``MIN_TOKEN_LENGTH`` characters, not blank, and not start or end with white space
    (``storehouse serve`` checks it before it binds; ``create_app`` takes any token). None (no token) is fine.
    """
    if token is None:
        return
    if not token.strip():
        problem = "is made of whitespace"
    elif len(token) < MIN_TOKEN_LENGTH:
        problem = f"is {len(token)} characters long, shorter than {MIN_TOKEN_LENGTH}"
    elif token != token.strip():  # a client cannot send it: HTTP drops the white space around a header's value
        problem = "starts or ends with whitespace"
    else:
        return
    raise InvalidParameter(
        f"the token (--token or STOREHOUSE_TOKEN) {problem}: anyone could guess it. Make one with: {MAKE_A_TOKEN}"
    )


def is_loopback(host: str) -> bool:
    """Tell whether host names only this machine (localhost or a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _text(value: str, _name: str) -> str:
    return value


def _path(value: str, _name: str) -> Path:
    return Path(value)


def _int(minimum: int, maximum: int) -> Any:
    def parse(value: str, name: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise InvalidParameter(f"{name} must be an integer, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise InvalidParameter(f"{name} must be between {minimum} and {maximum}, got {number}")
        return number

    return parse


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise InvalidParameter(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {value!r}")


def _hosts(value: str, _name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


_PARSERS: dict[str, Any] = {
    "data_dir": _path,
    "host": _text,
    "port": _int(0, 65535),
    "token": _text,
    "allowed_hosts": _hosts,
    "max_body_bytes": _int(1024, 1 << 40),
    "max_json_depth": _int(2, 200),
    "durable": _bool,
    "request_timeout": _int(1, 3600),
    "max_connections": _int(1, 1_000_000),
    "max_connections_per_peer": _int(1, 1_000_000),
    "max_streams": _int(1, 1_000_000),
    "max_streams_per_peer": _int(1, 1_000_000),
    "idle_timeout": _int(1, 3600),
    "max_json_values": _int(1000, 1 << 40),
    "cleanup_interval": _int(1, 86_400),
}
