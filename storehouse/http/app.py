"""``create_app``: the Starlette application, its one error handler, its middleware, and the page at ``/``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..config import Settings
from ..errors import MethodNotAllowed, NotFound, ServiceUnavailable, StorehouseError
from ..store import AsyncStorehouse, Storehouse
from .events import ROUTES as EVENT_ROUTES
from .executions import ROUTES as EXECUTION_ROUTES
from .executions import json_response
from .history import ROUTES as HISTORY_ROUTES
from .middleware import Guard
from .openapi import build_openapi
from .tasks import ROUTES as TASK_ROUTES
from .transfer import ROUTES as TRANSFER_ROUTES

log = logging.getLogger("storehouse")
API_ROUTES = [
    *TRANSFER_ROUTES,
    *EXECUTION_ROUTES,
    *TASK_ROUTES,
    *HISTORY_ROUTES,
    *EVENT_ROUTES,
]  # every route under /api
WEB = Path(__file__).resolve().parent.parent / "web"


def error_response(error: StorehouseError) -> Response:
    """The JSON form of an error: ``{"error": {"code", "message", ...details}}`` with the class's status
    (and ``Retry-After`` on a 503)."""
    body = {"error": {**error.details, "code": error.code, "message": error.message}}
    retry = {"Retry-After": str(error.retry_after)} if isinstance(error, ServiceUnavailable) else None
    return json_response(body, error.status, retry)


async def _storehouse_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StorehouseError)
    if exc.status >= 500 and not isinstance(exc, ServiceUnavailable):  # a 503 is a limit doing its job
        log.error("%s: %s", exc.code, exc.message)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    error: StorehouseError
    if exc.status_code == 404:
        error = NotFound(f"no such route: {request.method} {request.url.path}")
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        error = MethodNotAllowed(f"{request.method} is not allowed on {request.url.path}; use {allowed}")
    else:
        error = StorehouseError(str(exc.detail))
        error.status = exc.status_code
    response = error_response(error)
    response.headers.update(exc.headers or {})
    return response


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return error_response(StorehouseError("internal error; the server log has the details"))


def create_app(store: Storehouse | AsyncStorehouse, settings: Settings | None = None) -> Starlette:
    """The HTTP application over an open store. The caller owns the store and closes it."""
    settings = settings or store_settings(store)
    async_store = store if isinstance(store, AsyncStorehouse) else AsyncStorehouse(store=store)
    openapi = build_openapi()

    async def openapi_json(_: Request) -> Response:
        return json_response(openapi)

    async def index_page(_: Request) -> Response:
        return FileResponse(WEB / "index.html")

    async def docs_page(_: Request) -> Response:
        return FileResponse(WEB / "docs.html")

    guard = Middleware(
        Guard,
        allowed=settings.host_names,
        token=settings.token,
        max_body=settings.max_body_bytes,
        # the bodies received at once: four of the largest, so large bodies arriving together cannot take the memory
        budget=4 * settings.max_body_bytes,
    )

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        cleaning = asyncio.create_task(clean_up(async_store, settings.cleanup_interval))
        try:
            yield
        finally:
            cleaning.cancel()
            await asyncio.gather(cleaning, return_exceptions=True)

    app = Starlette(
        routes=[
            *API_ROUTES,
            Route("/openapi.json", openapi_json, methods=["GET"]),
            Route("/", index_page, methods=["GET"]),
            Route("/docs", docs_page, methods=["GET"]),
            Mount("/web", StaticFiles(directory=WEB), name="web"),
        ],
        middleware=[guard],
        exception_handlers={StorehouseError: _storehouse_error, HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.store = async_store
    app.state.settings = settings
    return app


async def clean_up(store: AsyncStorehouse, interval: float) -> None:
    """Remove the runs that run retention hides, in every project that has it: at start, then every interval
    seconds, while the server runs (reads hide those runs whenever this runs; it frees the space). One failure
    is logged and the next round tries again."""
    while True:
        try:
            offset = 0
            while True:
                page = await store.list_projects(offset=offset)
                for info in page.items:
                    ttl, keep = await store.run_retention(info.id)
                    if ttl is not None or keep is not None:
                        removed = await store.prune_runs(info.id)
                        if removed:
                            log.info("removed %d run(s) of project %s past its run retention", removed, info.id)
                offset += len(page.items)
                if not page.items or offset >= page.total:
                    break
        except StorehouseError as exc:
            log.error("the clean-up of runs past their retention failed: %s", exc.message)
        except Exception:
            log.exception("the clean-up of runs past their retention failed")
        await asyncio.sleep(interval)


def store_settings(store: Storehouse | AsyncStorehouse) -> Settings:
    """The settings a store was opened with."""
    return store.sync.settings if isinstance(store, AsyncStorehouse) else store.settings
