"""The FastAPI application factory: routers, error handlers, static files, lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from markovlens import __version__
from markovlens.api.apidocs import install_api_docs
from markovlens.api.deps import METRICS_GUARD, READ_GUARD
from markovlens.api.error_handlers import install_error_handlers
from markovlens.api.error_schema import install_error_schema
from markovlens.api.routers import (
    compare,
    corpora,
    health,
    job_detail,
    jobs,
    methods,
    models,
    results,
    server_config,
    tokens,
)
from markovlens.api.security import install_security
from markovlens.api.static import mount_static
from markovlens.ops import metrics as ops_metrics
from markovlens.settings import Settings, get_settings
from markovlens.store import open_database

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None, *, frontend_dir: Path | None = None) -> FastAPI:
    """A ready-to-serve app. Migrations run (and the embedded worker starts) in the lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.db = open_database(settings.resolved_database_url)  # migrates to head
        embedded = None
        if settings.embedded_worker:
            from markovlens.worker.worker import start_embedded

            embedded = start_embedded(settings, db=app.state.db)
        try:
            yield
        finally:
            if embedded is not None:
                # Blocking (drains the running job briefly): keep it off the event loop.
                await run_in_threadpool(embedded.stop)
            app.state.db.dispose()

    app = FastAPI(
        title="markovlens",
        version=__version__,
        description="Information surplus, categorical entropy and spectral alignment of LMs.",
        lifespan=lifespan,
        docs_url=None,  # served from packaged files by install_api_docs (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_security(app, settings)  # host/origin/token guard, body limits, rate limits
    app.include_router(health.router, prefix=API_PREFIX)  # liveness stays open
    for router in (models, corpora, jobs, job_detail, results, compare, tokens, server_config):
        app.include_router(router.router, prefix=API_PREFIX, dependencies=READ_GUARD)
    # /metrics (Prometheus), outside /api/v1; its own token (METRICS_TOKEN, PROTECT_READS).
    app.include_router(ops_metrics.router, dependencies=METRICS_GUARD)
    app.include_router(methods.router)  # /methods: docs/methods.md, the UI's help links
    install_api_docs(app)  # /docs and /redoc
    mount_static(app, frontend_dir)  # last: "/" must not shadow the API
    install_error_schema(app)  # OpenAPI documents the {"detail": str} error bodies we send
    return app
