"""Factories: the Bot, the application context and the Dispatcher. No globals."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.base import BaseEventIsolation, BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats
from aiogram.utils.i18n import I18n
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.aiogram_lazy import warm_up
from bot.billing.registry import BillingRegistry
from bot.config import Settings
from bot.context import AppContext
from bot.db import migrate
from bot.db.engine import create_engine, create_session_factory
from bot.db.models import utcnow
from bot.event_store import EventStore
from bot.fsm_storage.prefetch import AdmissionMiddleware, PrefetchingIsolation
from bot.fsm_storage.sql import SqlStorage
from bot.i18n import LANGUAGES, UserLocaleMiddleware, create_i18n
from bot.metrics import Metrics
from bot.middlewares.database import DatabaseMiddleware, session_limit
from bot.middlewares.dedupe import (
    DedupeMiddleware,
    MemorySeenUpdates,
    RedisSeenUpdates,
    SeenUpdates,
)
from bot.middlewares.events import EventLogMiddleware, HandlerNameMiddleware, InFlight
from bot.middlewares.step_keyboards import note_keyboards
from bot.middlewares.throttling import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    ThrottlingMiddleware,
)
from bot.routing import inline_sync_filters
from bot.suppliers.loader import load_catalog
from handlers import build_root_router
from handlers.commands import GROUP_COMMANDS, PRIVATE_COMMANDS

logger = logging.getLogger(__name__)


# Strong references to aiogram's parsed-answer classes (see `keep_response_models`).
_RESPONSE_MODELS: list[type[Any]] = []


# The per-user lock of RedisEventIsolation. redis-py polls a taken lock every 0.1 s by
# default, so an update arriving while the user's previous one was finishing (its reply is
# sent before its lock is released) waited a whole 0.1 s: the tail of the latency under load.
# Polled every 5 ms, the wait is as long as the other update needs. `timeout` (aiogram's
# default) frees the lock of an instance that died holding it.
ISOLATION_LOCK: dict[str, Any] = {"timeout": 60, "sleep": 0.005}


def keep_response_models() -> None:
    """aiogram parses every Bot API answer with `Response[<the method's result type>]`, a
    pydantic generic parametrized on each call. pydantic caches the parametrized classes
    only weakly, so in a busy process the garbage collector drops them between calls and
    every request rebuilt its class: milliseconds of CPU per call, a sixth of the bot's time
    under load. One reference to each of the ~40 result types keeps them (2 MiB, 50 ms)."""
    if _RESPONSE_MODELS:
        return
    import aiogram.methods
    from aiogram.methods.base import Response, TelegramMethod

    result_types = {}
    for value in vars(aiogram.methods).values():
        if isinstance(value, type) and issubclass(value, TelegramMethod) \
                and value is not TelegramMethod:
            result_types[repr(value.__returning__)] = value.__returning__
    for result_type in result_types.values():
        try:
            _RESPONSE_MODELS.append(Response[result_type])  # type: ignore[valid-type]
        except Exception:  # an optimisation only: such a method just stays slower
            logger.debug("no Response model kept for %r", result_type, exc_info=True)


def create_bot(settings: Settings, session: AiohttpSession | None = None) -> Bot:
    keep_response_models()
    warm_up()
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    bot = Bot(
        token=settings.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )
    note_keyboards(bot)  # the steps' buttons taken off once answered (StepKeyboards)
    return bot


@dataclass
class Runtime:
    """Everything with a lifetime: opened by `open_runtime`, closed by its exit stack."""

    settings: Settings
    engine: AsyncEngine
    app: AppContext
    storage: BaseStorage
    isolation: BaseEventIsolation
    i18n: I18n
    redis: Redis | None = None
    events: EventStore | None = None
    in_flight: InFlight = field(default_factory=InFlight)
    extra: dict[str, Any] = field(default_factory=dict)
    # Per runtime, not prometheus-client's global registry: tests build many runtimes.
    metrics: Metrics = field(default_factory=Metrics)
    seen_updates: SeenUpdates = field(default_factory=MemorySeenUpdates)
    throttle: RateLimiter | None = None  # None: THROTTLE_RATE=0


async def open_runtime(settings: Settings, stack: AsyncExitStack, *,
                       run_migrations: bool = True) -> Runtime:
    engine = create_engine(settings.database_url)
    stack.push_async_callback(engine.dispose)
    if run_migrations:
        await migrate.upgrade(engine)
    session_factory = create_session_factory(engine)
    catalog = load_catalog(override=settings.suppliers_file)
    metrics = Metrics()

    def clock() -> datetime:
        # Late-bound on purpose: tests (and operators' tools) swap app.clock, and every
        # component must follow it, including the ones built before the context.
        return app.clock()

    billing = BillingRegistry(settings, catalog, session_factory, clock,
                              observe=metrics.observe_billing_call)
    stack.push_async_callback(billing.close)
    app = AppContext(settings=settings, session_factory=session_factory, catalog=catalog,
                     billing=billing, clock=utcnow)
    ttl = timedelta(days=settings.fsm_ttl_days)
    redis: Redis | None = None
    storage: BaseStorage
    isolation: BaseEventIsolation
    if settings.redis_url:
        from bot.fsm_storage.keys import DestinyKeyBuilder
        from bot.fsm_storage.prefetch import PrefetchingRedisStorage

        redis = Redis.from_url(settings.redis_url)
        stack.push_async_callback(redis.aclose)
        await redis.ping()
        redis_storage = PrefetchingRedisStorage(redis, key_builder=DestinyKeyBuilder(),
                                                state_ttl=ttl, data_ttl=ttl)
        storage = redis_storage
        isolation = redis_storage.prefetching_isolation(**ISOLATION_LOCK)
    else:
        storage = SqlStorage(session_factory, ttl)
        isolation = SimpleEventIsolation()
    stack.push_async_callback(isolation.close)
    i18n = create_i18n(settings.default_locale)
    events = EventStore(session_factory, clock, timedelta(days=settings.event_retention_days))
    events.start()
    stack.push_async_callback(events.close)
    seen_updates: SeenUpdates = RedisSeenUpdates(redis) if redis else MemorySeenUpdates()
    throttle: RateLimiter | None = None
    if settings.throttle_rate > 0:
        throttle = (RedisRateLimiter(redis, settings.throttle_rate, settings.throttle_burst)
                    if redis else
                    MemoryRateLimiter(settings.throttle_rate, settings.throttle_burst))
    runtime = Runtime(settings=settings, engine=engine, app=app, storage=storage,
                      isolation=isolation, i18n=i18n, redis=redis, events=events,
                      seen_updates=seen_updates, throttle=throttle, metrics=metrics)
    runtime.metrics.track_in_flight(runtime.in_flight)
    return runtime


def create_dispatcher(runtime: Runtime) -> Dispatcher:
    dp = Dispatcher(
        storage=runtime.storage,
        events_isolation=runtime.isolation,
        config=runtime.settings,
        app=runtime.app,
        runtime=runtime,
        disable_fsm=True,  # registered below, after the admission middleware
    )
    seen, throttle = runtime.seen_updates, runtime.throttle
    if isinstance(runtime.isolation, PrefetchingIsolation) and isinstance(seen,
                                                                          RedisSeenUpdates):
        # The update's id and flood-limit token are settled with its user's lock.
        redis_throttle = throttle if isinstance(throttle, RedisRateLimiter) else None
        dp.update.outer_middleware(AdmissionMiddleware(
            seen.key, seen.ttl,
            bucket_key=redis_throttle.key if redis_throttle else None,
            bucket_args=redis_throttle.args if redis_throttle else None))
    dp.update.outer_middleware(dp.fsm)
    sink = runtime.events.record if runtime.events else None
    # Outer middlewares on `update` run in this order, after aiogram's own: errors (so ours
    # reach the error handlers too), user context (throttling needs the user) and FSM (which
    # takes the per-user events-isolation lock). Repeats go first, so a retried delivery
    # neither spends the user's tokens nor appears twice in the log; dropped updates stop
    # before the event log and the database session, the costs throttling is there to save,
    # and are counted in the metrics by the middleware that drops them.
    dp.update.outer_middleware(DedupeMiddleware(runtime.seen_updates, runtime.metrics))
    if runtime.throttle is not None:
        dp.update.outer_middleware(ThrottlingMiddleware(
            runtime.throttle, runtime.i18n, metrics=runtime.metrics,
            in_flight=runtime.in_flight,
        ))
    dp.update.outer_middleware(
        EventLogMiddleware(runtime.in_flight, sink=runtime.metrics.event_sink(sink))
    )
    dp.update.outer_middleware(DatabaseMiddleware(runtime.app.session_factory,
                                                  session_limit(runtime.engine)))
    UserLocaleMiddleware(runtime.i18n).setup(dp)
    name_middleware = HandlerNameMiddleware()
    for event_name, observer in dp.observers.items():
        if event_name not in {"update", "error"}:
            observer.middleware(name_middleware)
    dp.include_router(build_root_router())
    inline_sync_filters(dp)
    return dp


def bot_commands(i18n: I18n, lang: str,
                 commands: tuple[tuple[str, Any], ...] = PRIVATE_COMMANDS) -> list[BotCommand]:
    with i18n.context(), i18n.use_locale(lang):
        return [BotCommand(command=name, description=str(description))
                for name, description in commands]


async def set_commands(bot: Bot, runtime: Runtime) -> None:
    scope = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands(bot_commands(runtime.i18n, runtime.settings.default_locale),
                              scope=scope)
    for lang in LANGUAGES:
        await bot.set_my_commands(bot_commands(runtime.i18n, lang), scope=scope,
                                  language_code=lang)
    groups = BotCommandScopeAllGroupChats()
    await bot.set_my_commands(
        bot_commands(runtime.i18n, runtime.settings.default_locale, GROUP_COMMANDS), scope=groups)
    for lang in LANGUAGES:
        await bot.set_my_commands(bot_commands(runtime.i18n, lang, GROUP_COMMANDS),
                                  scope=groups, language_code=lang)
