"""The HTTP API: ``create_app(store, settings)`` returns the Starlette application."""

from .app import create_app

__all__ = ["create_app"]
