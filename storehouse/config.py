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
    def host_names(self) -> frozenset[str]:
        """The names a request's ``Host`` header may carry (port stripped, lower case)."""
        names = {*LOOPBACK_NAMES, *(h.lower() for h in self.allowed_hosts)}
        if not is_loopback(self.host) and self.host not in ("0.0.0.0", "::"):
            names.add(self.host.lower())
        return frozenset(names)


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
}
