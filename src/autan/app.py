"""The application factory and its lifespan, and the runtime of a worker process."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
import structlog
from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from autan.accounts import (
    audit_pages,
    charter_pages,
    confirm_pages,
    mail_pages,
    org_pages,
    people_pages,
    settings_pages,
)
from autan.accounts import pages as account_pages
from autan.accounts.auth_router import router as auth_router
from autan.accounts.charter_gate import CharterGate
from autan.accounts.links_router import router as links_router
from autan.accounts.model_access import ModelAccess
from autan.accounts.oidc import OidcClient
from autan.accounts.oidc_router import router as oidc_router
from autan.accounts.org_policy import OrgPolicies
from autan.accounts.router import router as accounts_router
from autan.accounts.service import ApiKeyAuthenticator
from autan.accounts.sessions import SessionAuthenticator, SessionCodec, SessionRevocations
from autan.accounts.signin import PasswordSignIn
from autan.accounts.throttle import LoginThrottle
from autan.arena import pages as arena_pages
from autan.assistants import pages as assistant_pages
from autan.assistants.router import router as assistants_router
from autan.budgets import pages as budget_pages
from autan.budgets.service import Budgets
from autan.chat import models_pages
from autan.chat import pages as chat_pages
from autan.chat.grounding import ChatGrounding
from autan.chat.turns import Turns
from autan.connectors import pages as drive_pages
from autan.connectors import picker_pages as drive_picker_pages
from autan.connectors.router import router as drives_router
from autan.connectors.runtime import Drives, build_drives
from autan.core import error_handlers, telemetry
from autan.core.body import document_body_models
from autan.core.db import create_engine, session_factory
from autan.core.events import (
    DocumentsQueued,
    DriveSyncRequested,
    EventBus,
    TranslationQueued,
    build_bus,
)
from autan.core.limits import AdmissionLimits
from autan.core.metrics import Metrics
from autan.deps import principal
from autan.documents import pages as collection_pages
from autan.documents.chunks_router import router as chunks_router
from autan.documents.ocr_router import router as ocr_router
from autan.documents.router import router as documents_router
from autan.documents.router import upload_body_limits
from autan.documents.storage import FileStore
from autan.documents.worker import IngestionWorker
from autan.exports import pages as export_pages
from autan.footprint import pages as footprint_pages
from autan.insights import pages as insight_pages
from autan.llm.client import ModelClient
from autan.llm.config import ModelsConfig, load_models_file
from autan.llm.embedded.supervisor import EmbeddedModels
from autan.llm.events import CallFinished
from autan.llm.gateway import Gateway
from autan.llm.pool import ModelPool
from autan.openai_api.me_router import router as me_router
from autan.openai_api.router import router as openai_router
from autan.ops.router import OPS_PATHS
from autan.ops.router import router as ops_router
from autan.prompts import pages as library_pages
from autan.questionnaires import pages as questionnaire_pages
from autan.quotas.limiter import QuotaLimiter
from autan.quotas.service import Quotas
from autan.research import pages as research_pages
from autan.research.api import router as research_api_router
from autan.research.runtime import research_runner
from autan.research.service import Research
from autan.retention.loop import RetentionPurger
from autan.services import Services
from autan.settings import Settings
from autan.suitedocs import pages as docs_pages
from autan.translation import pages as translation_pages
from autan.translation.worker import TranslationWorker
from autan.usage.recorder import UsageRecorder
from autan.web.charter_guard import require_charter
from autan.web.errors import html_page
from autan.web.templating import STATIC_DIR, Templates
from autan.websearch.chat import WebGrounding
from autan.websearch.runtime import WebRuntime

log = structlog.get_logger(__name__)


def build_pools(config: ModelsConfig, settings: Settings) -> dict[str, ModelPool]:
    """One pool per declared model."""
    gateway = settings.gateway
    return {
        model.id: ModelPool(
            model,
            queue_size=gateway.queue_size,
            queue_timeout=gateway.queue_timeout,
            retry_after=gateway.retry_after,
            failure_threshold=gateway.failure_threshold,
        )
        for model in config.models
    }


def _http_client(trace_configs: list[aiohttp.TraceConfig]) -> aiohttp.ClientSession:
    # One session per process with an unbounded pool: the replica caps bound concurrency.
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30)
    return aiohttp.ClientSession(
        connector=connector, auto_decompress=False, trace_configs=trace_configs
    )


@dataclass
class Backend:
    """What web and worker processes both run: database, event bus, model gateway, ingestion."""

    settings: Settings
    factory: async_sessionmaker[AsyncSession]
    bus: EventBus
    metrics: Metrics
    limiter: QuotaLimiter
    quotas: Quotas
    gateway: Gateway
    documents: IngestionWorker
    # Started beside the ingestion loops (`autan worker`, or serve with its worker).
    retention: RetentionPurger
    drives: Drives
    translations: TranslationWorker


@asynccontextmanager
async def backend(
    settings: Settings, tracing: telemetry.Telemetry, *, chat: bool = True, grace: float = 0.0
) -> AsyncIterator[Backend]:
    """Start what `Backend` holds (the ingestion loops excepted) and stop it on exit.

    Without a models file the embedded models are started here, the chat model only if
    `chat`. On exit the ingestion loops get `grace` seconds to finish their documents.
    """
    settings.ensure_data_dir()
    embedded: EmbeddedModels | None = None
    if settings.models_file is not None:
        models = load_models_file(settings.models_file)
    else:
        embedded = EmbeddedModels(settings.embedded, settings.data_dir)
        models = embedded.start(chat=chat)
    engine = create_engine(settings.resolved_database_url, pool=settings.database_pool)
    tracing.instrument_engine(engine)
    factory = session_factory(engine)
    # Before anything uses `factory`: its sessions hand committed events to the bus.
    bus = build_bus(factory, settings.redis_url, settings.events)
    metrics = Metrics()
    usage = UsageRecorder(factory, settings.gateway.usage_flush_interval)
    http = _http_client(tracing.trace_configs())
    limiter = QuotaLimiter(settings.redis_url, timeout=settings.quotas.storage_timeout)
    budgets = Budgets(settings.budgets, factory, bus=bus)
    quotas = Quotas(settings.quotas, limiter, factory, bus=bus, budgets=budgets)
    # The gateway knows neither usage nor quotas: both follow the calls it finishes.
    bus.subscribe(CallFinished, usage.on_call_finished)
    bus.subscribe(CallFinished, quotas.on_call_finished)
    gateway = Gateway(build_pools(models, settings), http, settings.gateway, metrics, bus)
    gateway.observers.extend(tracing.call_observers())
    metrics.watch_pools(lambda: gateway.pools.values())
    usage.start()
    quotas.start()
    gateway.start_probes()
    documents = IngestionWorker(
        factory,
        ModelClient(gateway),
        FileStore(settings.data_dir / "files"),
        settings.documents,
    )
    # Uploads made by a web process (or the CLI) wake the workers of every process at once.
    bus.subscribe(DocumentsQueued, lambda _event: documents.wake())
    purger = RetentionPurger(factory, FileStore(settings.data_dir / "files"), settings.retention)
    drives = build_drives(
        factory,
        FileStore(settings.data_dir / "files"),
        settings.connectors,
        settings.resolved_secret_key(),
        settings.documents.max_file_bytes,
        settings.oidc,
    )
    bus.subscribe(DriveSyncRequested, lambda _event: drives.syncer.wake())
    translations = TranslationWorker(factory, ModelClient(gateway), settings.documents)
    bus.subscribe(TranslationQueued, lambda _event: translations.wake())
    try:
        yield Backend(
            settings,
            factory,
            bus,
            metrics,
            limiter,
            quotas,
            gateway,
            documents,
            purger,
            drives,
            translations,
        )
    finally:
        await _stop_each(
            translations.stop,
            drives.close,
            purger.stop,
            bus.stop,
            functools.partial(documents.stop, grace),
            gateway.stop_probes,
            usage.stop,
            quotas.stop,
            http.close,
            engine.dispose,
        )
        metrics.close()
        if embedded is not None:
            embedded.stop()
        tracing.shutdown()


async def _stop_each(*steps: Callable[[], Awaitable[object]]) -> None:
    """Run every shutdown step even when one fails: a step skipped would leave its task
    running past the application (a worker polling a database that is gone)."""
    failure: BaseException | None = None
    for step in steps:
        try:
            await step()
        except Exception as exc:
            log.exception("shutdown_step_failed", step=getattr(step, "__qualname__", str(step)))
            failure = failure or exc
    if failure is not None:
        raise failure


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Process queued documents and translations, serving no HTTP, until `stop` is set
    (`autan worker`).

    On stop, documents in progress get `documents.stop_grace` seconds to finish; those
    still unfinished go back to the queue, where another worker takes them. A translation in
    progress goes back at once, keeping the sections it finished.
    """
    tracing = telemetry.configure()
    async with backend(settings, tracing, chat=False, grace=settings.documents.stop_grace) as core:
        await core.bus.start()
        await core.documents.start()
        await core.translations.start()
        core.retention.start()
        core.drives.syncer.start()
        # Deep-research runs too, where web search is configured (else this is None).
        web_runtime = WebRuntime(settings.web)
        policies = OrgPolicies(core.factory, settings.gateway.api_key_cache_ttl, core.bus)
        research = research_runner(
            settings, core.factory, ModelClient(core.gateway), web_runtime, policies
        )
        if research is not None:
            await research.start()
        log.info(
            "worker_started",
            concurrency=core.documents.concurrency(),
            embedding_model=core.documents.embedding_model(),
        )
        try:
            await stop.wait()
            log.info("worker_stopping", documents_in_progress=core.documents.active)
        finally:
            if research is not None:
                await research.stop()
            await web_runtime.close()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Autan application; nothing starts until its lifespan runs."""
    settings = settings or Settings()
    # Off (and nothing imported) unless the standard OTEL_* variables ask for traces.
    tracing = telemetry.configure()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with backend(settings, tracing) as core:
            factory = core.factory
            bus = core.bus
            revocations = SessionRevocations(factory, bus, settings.redis_url)
            # Only a site that signs in through ProConnect needs the client (and its TLS
            # context, which takes tens of milliseconds to load the CA bundle).
            oidc_http = (
                httpx.AsyncClient(timeout=settings.oidc.timeout) if settings.oidc.enabled else None
            )
            oidc = OidcClient(settings.oidc, oidc_http) if oidc_http is not None else None
            documents = core.documents
            if settings.documents.worker_in_serve:
                await documents.start()
                await core.translations.start()
                core.retention.start()
                core.drives.syncer.start()
            templates = Templates.shared()
            models_client = ModelClient(core.gateway)
            cache_ttl = settings.gateway.api_key_cache_ttl
            throttle = LoginThrottle(core.limiter)
            policies = OrgPolicies(factory, cache_ttl, bus)
            web_runtime = WebRuntime(settings.web)
            web_grounding = WebGrounding(web_runtime.search, policies, core.quotas, factory)
            research_worker = research_runner(
                settings, factory, models_client, web_runtime, policies
            )
            if research_worker is not None and settings.documents.worker_in_serve:
                await research_worker.start()
            codec = SessionCodec(settings.resolved_secret_key(), settings.sessions)
            services = Services(
                settings=settings,
                session_factory=factory,
                events=bus,
                metrics=core.metrics,
                gateway=core.gateway,
                models=models_client,
                documents=documents,
                drives=core.drives,
                turns=Turns(
                    factory,
                    models_client,
                    core.quotas,
                    settings.chat,
                    ChatGrounding(
                        factory,
                        models_client,
                        settings.documents.embedding_model,
                        settings.retrieval,
                    ),
                    web_grounding,
                ),
                web=web_grounding,
                research=Research(
                    factory,
                    settings.research,
                    web_grounding,
                    core.quotas,
                    research_worker.wake if research_worker is not None else None,
                ),
                quotas=core.quotas,
                login_throttle=throttle,
                sign_in=PasswordSignIn(
                    throttle, codec, enabled=settings.sessions.local_login_enabled
                ),
                org_policies=policies,
                model_access=ModelAccess(core.gateway, policies),
                authenticator=ApiKeyAuthenticator(factory, cache_ttl, bus),
                session_authenticator=SessionAuthenticator(factory, cache_ttl, bus, revocations),
                session_codec=codec,
                session_revocations=revocations,
                charter_gate=CharterGate(factory, cache_ttl, bus),
                templates=templates,
                oidc=oidc,
            )
            await revocations.start()
            await bus.start()
            # The same object, for code that holds the app rather than a request (tests, CLI).
            _app.state.services = services
            try:
                yield {"services": services}
            finally:
                await revocations.stop()
                if oidc_http is not None:
                    await oidc_http.aclose()
                if research_worker is not None:
                    await research_worker.stop()
                await web_runtime.close()

    app = FastAPI(
        title="Autan",
        summary="Self-hosted generative-AI assistant platform for public organisations",
        version="0.1.0",
        lifespan=lifespan,
    )
    error_handlers.install(app, html_page)
    document_body_models(app)
    app.include_router(ops_router)
    app.include_router(openai_router)
    app.include_router(research_api_router)
    app.include_router(me_router)
    app.include_router(documents_router)
    app.include_router(chunks_router)
    app.include_router(ocr_router)
    app.include_router(assistants_router)
    app.include_router(drives_router)
    app.include_router(accounts_router)
    app.include_router(links_router)
    app.include_router(auth_router)
    app.include_router(oidc_router)
    app.include_router(account_pages.public)
    app.include_router(people_pages.public)
    app.include_router(mail_pages.public)
    # Signed-in pages wait for the usage charter to be accepted (API keys are not affected).
    charter = [Depends(require_charter)]
    app.include_router(account_pages.pages, dependencies=charter)
    app.include_router(org_pages.router, dependencies=charter)
    app.include_router(footprint_pages.router, dependencies=charter)
    app.include_router(budget_pages.router, dependencies=charter)
    app.include_router(people_pages.router, dependencies=charter)
    app.include_router(audit_pages.router, dependencies=charter)
    app.include_router(confirm_pages.router, dependencies=charter)
    app.include_router(chat_pages.router, dependencies=charter)
    app.include_router(models_pages.router, dependencies=charter)
    app.include_router(export_pages.router, dependencies=charter)
    app.include_router(docs_pages.router, dependencies=charter)
    # Signed-in pages whose routers carry no dependency of their own.
    signed_in = [Depends(principal), Depends(require_charter)]
    app.include_router(settings_pages.router, dependencies=signed_in, include_in_schema=False)
    app.include_router(insight_pages.router, dependencies=signed_in, include_in_schema=False)
    app.include_router(charter_pages.router)
    app.include_router(library_pages.router)
    app.include_router(collection_pages.router)
    app.include_router(drive_pages.router)
    app.include_router(drive_picker_pages.router)
    app.include_router(assistant_pages.router)
    app.include_router(research_pages.router)
    app.include_router(arena_pages.router)
    app.include_router(questionnaire_pages.router)
    app.include_router(translation_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        AdmissionLimits,
        max_requests=settings.gateway.max_connections,
        max_body_bytes=settings.gateway.max_body_bytes,
        retry_after=settings.gateway.retry_after,
        exempt=OPS_PATHS,
        body_limits=upload_body_limits(settings.documents),
    )
    tracing.instrument_app(app)
    return app
