"""`/healthz` tells a load balancer whether this instance can work; `/metrics` tells
Prometheus how it is doing. Both are served by the webhook app and, on METRICS_PORT, alone."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.filters import Command
from aiogram.types import Message
from aiohttp import web
from redis.asyncio import Redis

from bot.billing.http import HttpBillingConnector
from bot.billing.resilience import RetryPolicy
from bot.db.engine import create_engine
from bot.health import HealthCheck, create_ops_app
from bot.metrics import Metrics
from bot.runners import create_webhook_app, start_ops_server
from tests.billing_api_server import SEVGAS, TOKEN, FakeBillingServer
from tests.conftest import TEST_TOKEN
from tests.support.services import require_redis

REDIS_URL = "redis://127.0.0.1:6379/14"
SECRET = "metrics-Secret_1"
METRIC_NAMES = (
    "bot_updates_total", "bot_handler_latency_seconds", "bot_errors_total",
    "bot_reminders_sent_total", "bot_reminders_failed_total", "bot_billing_call_seconds",
    "bot_updates_in_flight",
)


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), await resp.text()


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


async def webhook_env(bot_env: Any, **settings: Any) -> Any:
    return await bot_env(mode="webhook", webhook_url="https://bot.example.org",
                         webhook_secret=SECRET, **settings)


# --- /healthz ----------------------------------------------------------------------------------


async def test_webhook_app_serves_healthz_and_metrics(bot_env: Any) -> None:
    env = await webhook_env(bot_env)
    client = env.client(user_id=7301, language_code="en")
    await client.send("/help")
    await client.send("/help")
    async with serving(create_webhook_app(env.bot, env.dp, env.settings)) as base:
        status, _, body = await get(base + "/healthz")
        assert status == 200
        assert json.loads(body) == {"status": "ok", "database": "ok", "redis": "disabled"}
        status, content_type, metrics = await get(base + "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    for name in METRIC_NAMES:
        assert f"# TYPE {name} " in metrics, name
    assert 'bot_updates_total{kind="message",outcome="handled"} 2.0' in metrics
    assert "bot_handler_latency_seconds_count 2.0" in metrics
    for secret in (TEST_TOKEN, SECRET, env.settings.database_url):
        assert secret not in body and secret not in metrics


async def test_database_down_is_503(tmp_path: Path) -> None:
    metrics = Metrics()
    # A directory where the database file should be; a port nobody listens on.
    for url in (f"sqlite+aiosqlite:///{tmp_path}",
                "postgresql+asyncpg://gasbot:pa55word@127.0.0.1:1/gasbot"):
        engine = create_engine(url)
        try:
            async with serving(create_ops_app(HealthCheck(engine, None), metrics)) as base:
                status, _, body = await get(base + "/healthz")
        finally:
            await engine.dispose()
        assert status == 503, url
        assert json.loads(body) == {"status": "fail", "database": "error", "redis": "disabled"}
        assert "pa55word" not in body and "127.0.0.1" not in body


async def test_database_disposed_midway_is_still_checked_for_real(bot_env: Any) -> None:
    # Disposing only empties the pool: the check must open a connection, not trust a cached one.
    env = await bot_env()
    check = HealthCheck(env.runtime.engine, None)
    assert (await check.run())[0]
    await env.runtime.engine.dispose()
    assert (await check.run())[0]


async def test_redis_down_is_503(bot_env: Any) -> None:
    env = await bot_env()
    broken = Redis.from_url("redis://:hunter2@127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        check = HealthCheck(env.runtime.engine, broken)
        async with serving(create_ops_app(check, env.runtime.metrics)) as base:
            status, _, body = await get(base + "/healthz")
    finally:
        await broken.aclose()
    assert status == 503
    assert json.loads(body) == {"status": "fail", "database": "ok", "redis": "error"}
    assert "hunter2" not in body


async def test_a_silent_redis_times_out_within_the_bound(bot_env: Any) -> None:
    env = await bot_env()
    accepted: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent = Redis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        check = HealthCheck(env.runtime.engine, silent, timeout=0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        healthy, body = await check.run()
        assert loop.time() - started < 1.5
    finally:
        await silent.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert not healthy
    assert body == {"status": "fail", "database": "ok", "redis": "timeout"}


async def test_healthz_with_real_redis(bot_env: Any) -> None:
    require_redis()
    env = await webhook_env(bot_env, redis_url=REDIS_URL)
    async with serving(create_webhook_app(env.bot, env.dp, env.settings)) as base:
        status, _, body = await get(base + "/healthz")
    assert status == 200
    assert json.loads(body) == {"status": "ok", "database": "ok", "redis": "ok"}


async def test_healthz_with_real_postgres(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        healthy, body = await HealthCheck(engine, None).run()
    finally:
        await engine.dispose()
    assert healthy and body["database"] == "ok"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_polling_mode_serves_them_on_metrics_port(bot_env: Any) -> None:
    port = free_port()
    env = await bot_env(metrics_host="127.0.0.1", metrics_port=port)
    async with AsyncExitStack() as stack:
        await start_ops_server(env.runtime, stack)
        status, _, body = await get(f"http://127.0.0.1:{port}/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        status, _, text = await get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and "bot_updates_in_flight 0.0" in text
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(f"http://127.0.0.1:{port}/healthz")  # closed with the stack


async def test_no_metrics_port_no_server(bot_env: Any) -> None:
    env = await bot_env()
    async with AsyncExitStack() as stack:
        await start_ops_server(env.runtime, stack)
        assert not stack._exit_callbacks  # type: ignore[attr-defined]


# --- /metrics ----------------------------------------------------------------------------------


async def test_latency_count_equals_handled_updates_and_errors_are_counted(bot_env: Any) -> None:
    env = await bot_env()
    metrics: Metrics = env.runtime.metrics
    client = env.client(user_id=7302, language_code="en")
    for text in ("/help", "/start", "/help"):
        await client.send(text)
    await client.send_sticker()
    handled = sample(metrics, "bot_updates_total", kind="message", outcome="handled")
    unhandled = sample(metrics, "bot_updates_total", kind="message", outcome="unhandled")
    assert handled + unhandled == 4
    assert sample(metrics, "bot_handler_latency_seconds_count") == 4
    assert sample(metrics, "bot_handler_latency_seconds_sum") > 0
    assert sample(metrics, "bot_updates_in_flight") == 0
    assert sample(metrics, "bot_errors_total", kind="message") == 0

    # An update whose handler raises is counted as an error of its kind.
    async def explode(message: Message) -> None:
        raise RuntimeError("boom")

    env.dp.message.register(explode, Command("boom"))  # the dispatcher's own come first
    await client.send("/boom")
    assert sample(metrics, "bot_errors_total", kind="message") == 1
    assert sample(metrics, "bot_updates_total", kind="message", outcome="error") == 1
    assert sample(metrics, "bot_handler_latency_seconds_count") == 5


async def test_in_flight_gauge_follows_the_runtime_counter(bot_env: Any) -> None:
    env = await bot_env()
    metrics: Metrics = env.runtime.metrics
    env.runtime.in_flight.enter()
    assert sample(metrics, "bot_updates_in_flight") == 1
    env.runtime.in_flight.leave()
    assert sample(metrics, "bot_updates_in_flight") == 0


async def test_registries_are_per_runtime(bot_env: Any) -> None:
    first = await bot_env()
    second = await bot_env()
    await first.client(user_id=7303).send("/help")
    assert sample(first.runtime.metrics, "bot_handler_latency_seconds_count") == 1
    assert sample(second.runtime.metrics, "bot_handler_latency_seconds_count") == 0


async def test_counters_for_other_features() -> None:
    metrics = Metrics()
    metrics.reminders_sent.inc()
    metrics.reminders_failed.labels(reason="blocked").inc(2)
    metrics.observe_billing_call("sevgas-billing", "getBalance", 0.2)
    assert sample(metrics, "bot_reminders_sent_total") == 1
    assert sample(metrics, "bot_reminders_failed_total", reason="blocked") == 2
    assert sample(metrics, "bot_billing_call_seconds_count", supplier_system="sevgas-billing",
                  operation="getBalance") == 1
    assert sample(metrics, "bot_billing_call_seconds_bucket", supplier_system="sevgas-billing",
                  operation="getBalance", le="0.25") == 1


async def test_billing_connector_reports_every_attempt() -> None:
    metrics = Metrics()

    async def no_pause(seconds: float) -> None:
        return None

    async with FakeBillingServer() as server:
        connector = HttpBillingConnector(
            server.base_url, TOKEN, name="fake", retry=RetryPolicy(sleep=no_pause),
            observe=metrics.observe_billing_call,
        )
        try:
            server.fail_next(1, status=503)
            info = await connector.find_account(SEVGAS)
        finally:
            await connector.close()
    assert info.ref.number == SEVGAS.number
    # The failed attempt and the retry that answered: a slow or failing system shows up.
    assert sample(metrics, "bot_billing_call_seconds_count", supplier_system="fake",
                  operation="findAccount") == 2
