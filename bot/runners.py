"""Polling and webhook runners side by side. Both close what they open, in `finally`."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from contextlib import AsyncExitStack
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from bot.app import Runtime, create_bot, create_dispatcher, open_runtime, set_commands
from bot.background import build_background_services
from bot.config import Settings
from bot.health import HealthCheck, add_ops_routes, create_ops_app
from bot.middlewares.events import InFlight

logger = logging.getLogger(__name__)


async def start_background(runtime: Runtime, bot: Bot, stack: AsyncExitStack) -> None:
    # Pushed after the bot session's close, so the exit stack stops them first.
    for service in build_background_services(runtime):
        await service.start(bot)
        stack.push_async_callback(service.stop)
        logger.info("background service started: %s", service.name)


async def _drain(in_flight: InFlight, timeout: float) -> None:
    if in_flight.count:
        logger.info("waiting for %d update(s) in flight", in_flight.count)
    if not await in_flight.drain(timeout):
        logger.warning("shutdown timeout: %d update(s) still in flight", in_flight.count)


async def start_ops_server(runtime: Runtime, stack: AsyncExitStack) -> None:
    """`/healthz` and `/metrics` on METRICS_PORT, when set: the only HTTP a polling bot has,
    and a port a webhook bot can keep off the public proxy."""
    settings = runtime.settings
    if settings.metrics_port is None:
        return
    app = create_ops_app(HealthCheck(runtime.engine, runtime.redis), runtime.metrics)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, settings.metrics_host, settings.metrics_port).start()
    logger.info("health and metrics on %s:%s", settings.metrics_host, settings.metrics_port)


# The collector's thresholds once the bot is up (CPython's defaults: 700, 10, 10).
GC_THRESHOLDS = (10_000, 20, 20)


def settle_heap() -> None:
    """Call once start-up is done, before serving.

    What start-up built (aiogram's models, SQLAlchemy's mappers, the catalog, translations,
    compiled templates) lives as long as the process. `gc.freeze()` takes it out of the
    collector's sight, so a full collection no longer walks it: under load those were pauses
    of ~115 ms, every few seconds, on every update in flight. A larger first generation
    collects the short-lived objects of busy minutes in fewer pauses of a few ms each.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run_polling(settings: Settings) -> None:
    async with AsyncExitStack() as stack:
        runtime = await open_runtime(settings, stack)
        await start_ops_server(runtime, stack)
        bot = create_bot(settings)
        stack.push_async_callback(bot.session.close)
        dp = create_dispatcher(runtime)
        await start_background(runtime, bot, stack)
        me = await bot.get_me()
        # Polling and a webhook exclude each other; pending updates are kept on purpose.
        await bot.delete_webhook(drop_pending_updates=False)
        await set_commands(bot, runtime)
        settle_heap()
        logger.info("polling as @%s", me.username)

        async def on_shutdown() -> None:
            await _drain(runtime.in_flight, settings.shutdown_timeout)

        dp.shutdown.register(on_shutdown)
        await dp.start_polling(bot, handle_signals=True, close_bot_session=False)


class WebhookHandler(SimpleRequestHandler):
    """Shutdown-safe: an update answered 200 is counted in `accepted` until it is handled,
    even while it still waits for its user's lock (the handlers' own count starts only
    after it), so the drain waits for it; and once `stopping`, updates are refused with 503,
    also those arriving on connections kept alive after the listener closed, so Telegram
    delivers them again (through the load balancer, to another instance) instead of this
    process taking them just before it exits."""

    def __init__(self, dispatcher: Dispatcher, bot: Bot, secret_token: str) -> None:
        super().__init__(dispatcher=dispatcher, bot=bot, secret_token=secret_token)
        self.accepted = InFlight()
        self.stopping = False

    async def handle(self, request: web.Request) -> web.Response:
        if self.stopping:
            return web.Response(status=503, text="Shutting down")
        return await super().handle(request)

    async def _background_feed_update(self, bot: Bot, update: dict[str, Any]) -> None:
        self.accepted.enter()
        try:
            await super()._background_feed_update(bot, update)
        finally:
            self.accepted.leave()


WEBHOOK_HANDLER = web.AppKey("webhook_handler", WebhookHandler)


class RefusalsAccessLogger(AbstractAccessLogger):
    """The webhook's access log keeps the requests it refused (a wrong secret token, a
    malformed body, shutting down): every accepted update is in the event log already, and
    a second line per update cost more than the update's own log line."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        if response.status < 400:
            return
        self.logger.warning("%s %s refused with %s", request.method, request.path,
                            response.status,
                            extra={"status": response.status, "remote": request.remote})


def webhook_runner(app: web.Application) -> web.AppRunner:
    return web.AppRunner(app, handle_signals=False, access_log_class=RefusalsAccessLogger)


def create_webhook_app(bot: Bot, dp: Dispatcher, settings: Settings) -> web.Application:
    assert settings.webhook_secret is not None
    app = web.Application()
    handler = WebhookHandler(dp, bot, settings.webhook_secret.get_secret_value())
    handler.register(app, path=settings.webhook_path)
    app[WEBHOOK_HANDLER] = handler
    runtime = dp.get("runtime")
    if isinstance(runtime, Runtime):
        add_ops_routes(app, HealthCheck(runtime.engine, runtime.redis), runtime.metrics)
    setup_application(app, dp, bot=bot)
    return app


async def run_webhook(settings: Settings) -> None:
    assert settings.webhook_url is not None and settings.webhook_secret is not None
    async with AsyncExitStack() as stack:
        runtime = await open_runtime(settings, stack)
        await start_ops_server(runtime, stack)
        bot = create_bot(settings)
        stack.push_async_callback(bot.session.close)
        dp = create_dispatcher(runtime)
        await start_background(runtime, bot, stack)
        await set_commands(bot, runtime)
        await bot.set_webhook(
            url=settings.webhook_url.rstrip("/") + settings.webhook_path,
            secret_token=settings.webhook_secret.get_secret_value(),
            allowed_updates=dp.resolve_used_update_types(),
            drop_pending_updates=False,
        )
        app = create_webhook_app(bot, dp, settings)
        settle_heap()
        runner = webhook_runner(app)
        await runner.setup()
        site = web.TCPSite(runner, settings.webhook_host, settings.webhook_port)
        await site.start()
        logger.info("webhook listening on %s:%s%s", settings.webhook_host,
                    settings.webhook_port, settings.webhook_path)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            logger.info("stopping: no new updates are taken")
            handler = app[WEBHOOK_HANDLER]
            handler.stopping = True
            await site.stop()  # stop accepting; then let the handlers in flight finish
            # Counted from the 200 on: this covers the handlers' own count as well.
            await _drain(handler.accepted, settings.shutdown_timeout)
            await runner.cleanup()


async def run(settings: Settings) -> None:
    if settings.mode == "webhook":
        await run_webhook(settings)
    else:
        await run_polling(settings)
