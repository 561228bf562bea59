"""What every ``storehouse`` command shares: the consoles it prints on and how it opens the store."""

from __future__ import annotations

import argparse

from rich.console import Console

from .config import Settings
from .store import Storehouse

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings a command runs with: its flags, else STOREHOUSE_* variables, else the defaults."""
    return Settings.load(
        data_dir=args.data_dir,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        token=getattr(args, "token", None),
        allowed_hosts=getattr(args, "allowed_hosts", None),
        max_body_bytes=getattr(args, "max_body_bytes", None),
        request_timeout=getattr(args, "request_timeout", None),
        max_connections=getattr(args, "max_connections", None),
        max_connections_per_peer=getattr(args, "max_connections_per_peer", None),
        max_streams=getattr(args, "max_streams", None),
        max_streams_per_peer=getattr(args, "max_streams_per_peer", None),
        idle_timeout=getattr(args, "idle_timeout", None),
    )


def open_store(args: argparse.Namespace) -> Storehouse:
    """The store of the command's data directory."""
    return Storehouse(settings=settings_from(args))
