"""storehouse: keeps the history of AI-agent and workflow runs as plain JSON files, and serves it over HTTP."""

from .config import Settings
from .errors import (
    Conflict,
    Forbidden,
    InvalidBody,
    InvalidId,
    InvalidParameter,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    StorageError,
    StorageFull,
    StorehouseError,
    Unauthorized,
    UnsupportedMediaType,
)
from .index import ListQuery, Page
from .queries import HistoryPage
from .recorder import Run
from .store import AsyncStorehouse, Storehouse

__version__ = "0.1.0"

__all__ = [
    "AsyncStorehouse",
    "Conflict",
    "Forbidden",
    "HistoryPage",
    "InvalidBody",
    "InvalidId",
    "InvalidParameter",
    "InvalidRequest",
    "ListQuery",
    "MethodNotAllowed",
    "NotFound",
    "Page",
    "PayloadTooLarge",
    "PreconditionFailed",
    "Run",
    "ServiceUnavailable",
    "Settings",
    "StorageError",
    "StorageFull",
    "Storehouse",
    "StorehouseError",
    "Unauthorized",
    "UnsupportedMediaType",
    "__version__",
]
