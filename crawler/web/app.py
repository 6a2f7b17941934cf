"""The app factory: :func:`create_app` builds the ASGI application of ``portalnews web``.

Routes: ``/`` (search), ``/article/{id}``, ``/coverage``, ``/api/search``, ``/export`` and
``/static/…``.  Errors are pages (JSON under ``/api/``): a bad parameter is a 400 naming it,
an unknown article a 404, a store that cannot answer a 503 that says why (the app keeps
running and tries the store again on the next request).  With a token every request must
carry it (:class:`crawler.web.security.TokenGate`); the security headers go on every answer,
the server's own 500 page included, because :class:`~crawler.web.security.SecurityHeaders`
wraps the whole application.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from crawler.web.api import api_search, json_response
from crawler.web.export import export
from crawler.web.pages import article_page, coverage_page, search_page
from crawler.web.params import ParamError
from crawler.web.security import LoopbackHostOnly, SecurityHeaders, TokenGate
from crawler.web.storeholder import StoreHolder, StoreUnavailable
from crawler.web.templating import render
from pipelines.monitoring import PortalMeta, Rules, load_rules

logger = logging.getLogger(__name__)

#: Exports that may run at once (each holds one thread while it streams).
EXPORT_THREADS = 2


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, title: str, message: str, parameter: str | None = None) -> Response:
    if _wants_json(request):
        body: dict[str, Any] = {"error": message}
        if parameter:
            body["parameter"] = parameter
        return json_response(body, status_code=status)
    store = request.app.state.holder.shown_url
    return HTMLResponse(render("error.html", status=status, title=title, message=message, store=store),
                        status_code=status)


async def _param_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ParamError)
    return _error(request, 400, "Bad parameter", str(exc), exc.parameter)


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    message = f"The store {request.app.state.holder.shown_url} cannot answer now: {exc}."
    if not _wants_json(request):
        message += " The app keeps running; reload the page to try again."
    return _error(request, 503, "The store is not available", message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    return _error(request, exc.status_code, titles.get(exc.status_code, "Error"), str(exc.detail))


async def _server_error(request: Request, exc: Exception) -> Response:
    logger.exception("error answering %s", request.url.path, exc_info=exc)
    return _error(request, 500, "Internal error", "Something went wrong answering this request; it is logged.")


def create_app(store_url: str, *, token: str | None = None, loopback_hosts_only: bool = False,
               rules: Rules | None = None, meta: Mapping[str, PortalMeta] | None = None) -> SecurityHeaders:
    """The application for the store at ``store_url`` (read-only: it is never created).
    ``token``: every request must carry it.  ``loopback_hosts_only``: refuse requests whose
    ``Host`` is not a loopback address (``portalnews web`` without a token).  ``rules``/``meta``:
    for ``/coverage`` (the bundled alert rules, and the run records' portal facts, by default)."""
    holder = StoreHolder(store_url, export_threads=EXPORT_THREADS)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            holder.close()

    middleware = [Middleware(LoopbackHostOnly)] if loopback_hosts_only else []
    if token:
        middleware.append(Middleware(TokenGate, token=token))
    app = Starlette(
        routes=[
            Route("/", search_page),
            Route("/article/{doc_id}", article_page),
            Route("/coverage", coverage_page),
            Route("/api/search", api_search),
            Route("/export", export),
            Mount("/static", StaticFiles(packages=[("crawler.web", "static")]), name="static"),
        ],
        middleware=middleware,
        exception_handlers={ParamError: _param_error, StoreUnavailable: _store_unavailable,
                            HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.holder = holder
    app.state.rules = rules if rules is not None else load_rules()
    app.state.meta = dict(meta) if meta else None
    return SecurityHeaders(app)
