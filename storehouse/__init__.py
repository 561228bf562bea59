"""storehouse: keeps the history of AI-agent and workflow runs as plain JSON files, and serves it over HTTP."""

__version__ = "0.1.0"
