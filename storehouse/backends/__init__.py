"""Storage engines. Each implements ``Backend``; ``FileBackend`` is the one that ships."""

from .base import Backend, Builder, CheckReport, ProjectInfo, ReindexReport
from .files import FileBackend

__all__ = ["Backend", "Builder", "CheckReport", "FileBackend", "ProjectInfo", "ReindexReport"]
