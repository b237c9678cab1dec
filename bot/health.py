"""`GET /healthz` and `GET /metrics` for load balancers, orchestrators and Prometheus.

The health answer names each dependency and a one-word state, never an address, a URL or an
error text: the endpoint is often reachable by more people than the logs are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.metrics import Metrics

logger = logging.getLogger(__name__)

CHECK_TIMEOUT: Final = 1.0
OK: Final = "ok"


class HealthCheck:
    """The database must answer `SELECT 1` and Redis (when configured) `PING`, each within
    `timeout` seconds; both are asked at once, so the answer takes at most about `timeout`."""

    def __init__(self, engine: AsyncEngine, redis: Redis | None,
                 timeout: float = CHECK_TIMEOUT) -> None:
        self.engine = engine
        self.redis = redis
        self.timeout = timeout

    async def run(self) -> tuple[bool, dict[str, str]]:
        database, redis = await asyncio.gather(
            self._probe("database", self._select_one),
            self._probe("redis", self._ping) if self.redis is not None else _disabled(),
        )
        healthy = database == OK and redis in (OK, "disabled")
        return healthy, {"status": OK if healthy else "fail", "database": database,
                         "redis": redis}

    async def _select_one(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def _ping(self) -> None:
        assert self.redis is not None
        await self.redis.ping()

    async def _probe(self, name: str, check: Callable[[], Awaitable[None]]) -> str:
        try:
            async with asyncio.timeout(self.timeout):
                await check()
        except TimeoutError:
            logger.warning("health: %s did not answer within %g s", name, self.timeout)
            return "timeout"
        except Exception:  # any failure is the answer; the log keeps the detail
            logger.warning("health: %s check failed", name, exc_info=True)
            return "error"
        return OK

    async def handle(self, request: web.Request) -> web.Response:
        healthy, body = await self.run()
        return web.json_response(body, status=200 if healthy else 503,
                                 headers={"Cache-Control": "no-store"})


async def _disabled() -> str:
    return "disabled"


def add_ops_routes(app: web.Application, health: HealthCheck, metrics: Metrics) -> None:
    app.router.add_get("/healthz", health.handle)
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))


def create_ops_app(health: HealthCheck, metrics: Metrics) -> web.Application:
    """The two routes alone, for METRICS_PORT."""
    app = web.Application()
    add_ops_routes(app, health, metrics)
    return app
