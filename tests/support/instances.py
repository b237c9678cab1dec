"""Several bot instances sharing Redis and PostgreSQL, as they run behind a load balancer.

In process: `Cluster` opens N runtimes and Dispatchers (each with its own storage, isolation,
dedupe and outbox objects, as separate processes have) on the same `REDIS_URL` and
`DATABASE_URL`. Their bots share one recording session, so a `ChatClient` of the cluster sees
every answer, whichever instance gave it, and can press a button another instance sent.

As processes: `WebhookInstance` is `python -m bot` with `MODE=webhook`; `Telegram` delivers
updates the way Telegram does (a POST with the secret header to the webhook) and, like a load
balancer in front of the instances, moves on to the next instance when one does not take the
update; `WebhookUser` is a user whose updates travel that way, and who reads the answers at
the local Bot API server (tests/botapi/server.py).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from redis.asyncio import Redis
from sqlalchemy import select

from bot.db.models_events import EventRecord
from tests.botapi import updates
from tests.botapi.server import ApiCall, FakeBotAPI
from tests.support.botenv import BotEnv
from tests.support.client import ChatClient
from tests.support.e2e import BotProcess, E2EUser
from tests.support.services import require_postgres, require_redis

# A database of its own: the other Redis tests use 14 and 15, and these flush theirs.
REDIS_URL = "redis://127.0.0.1:6379/12"
SECRET = "scale-Out_secret-1"
PUBLIC_URL = "https://bot.example.org"  # what setWebhook registers: the load balancer


async def fresh_redis(url: str = REDIS_URL) -> None:
    """Skip (or fail in CI) without Redis and PostgreSQL; empty the shared Redis database."""
    require_redis()
    require_postgres()
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()


# --- in process ----------------------------------------------------------------------------


Pick = Callable[[int], int]  # the n-th update of a client → the index of its instance


class Spread:
    """Stands in for the Dispatcher a `ChatClient` feeds: each update goes to one instance,
    chosen by `pick` (alternately by default). `handled_by` records the choices."""

    def __init__(self, envs: list[BotEnv], pick: Pick | None = None) -> None:
        self.envs = envs
        self.pick = pick or (lambda n: n % len(envs))
        self.handled_by: list[int] = []
        self._count = itertools.count()

    async def feed_update(self, bot: Bot, update: Update, **kwargs: Any) -> Any:
        index = self.pick(next(self._count))
        self.handled_by.append(index)
        env = self.envs[index]
        return await env.dp.feed_update(env.bot, update, **kwargs)


@dataclass
class Cluster:
    envs: list[BotEnv]

    @classmethod
    async def open(cls, bot_env: Callable[..., Any], instances: int = 2,
                   **settings: Any) -> Cluster:
        envs: list[BotEnv] = [await bot_env(**settings) for _ in range(instances)]
        shared = envs[0].session
        for env in envs[1:]:
            # One chat, as the user sees it: every instance's messages in one place.
            env.bot.session = shared
            env.session = shared
        return cls(envs)

    @property
    def session(self) -> Any:
        return self.envs[0].session

    def client(self, user_id: int, language_code: str | None = "ru", first_name: str = "Иван",
               pick: Pick | None = None) -> ChatClient:
        spread = Spread(self.envs, pick)
        return ChatClient(cast(Dispatcher, spread), self.envs[0].bot, self.session, user_id,
                          language_code, first_name)

    def on(self, index: int, user_id: int, language_code: str | None = "ru") -> ChatClient:
        """A client whose every update goes to instance `index`."""
        return self.client(user_id, language_code, pick=lambda n: index)

    async def events(self, user_id: int) -> list[EventRecord]:
        """The user's events in the shared event log, as every instance recorded them."""
        for env in self.envs:
            assert env.runtime.events is not None
            await env.runtime.events.flush()
        async with self.envs[0].runtime.app.session_factory() as session:
            rows = await session.scalars(select(EventRecord).where(EventRecord.user_id == user_id)
                                         .order_by(EventRecord.id))
            return list(rows)


def handled_by(client: ChatClient) -> list[int]:
    return cast(Spread, client.dp).handled_by


# --- as processes -----------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class WebhookInstance(BotProcess):
    """`python -m bot` in webhook mode on 127.0.0.1:`port`, with the cluster's shared
    secret, Redis and database; `name` keeps its files apart (workdir/name)."""

    def __init__(self, api: FakeBotAPI, workdir: Path, name: str, *, database_url: str,
                 redis_url: str = REDIS_URL, secret: str = SECRET, port: int | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self.secret = secret
        home = workdir / name
        home.mkdir(parents=True, exist_ok=True)
        super().__init__(
            api, home, MODE="webhook", WEBHOOK_URL=PUBLIC_URL, WEBHOOK_SECRET=secret,
            WEBHOOK_HOST="127.0.0.1", WEBHOOK_PORT=str(self.port), DATABASE_URL=database_url,
            REDIS_URL=redis_url, **(env or {}),
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + "/webhook"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self, *, wait_polling: bool = False, timeout: float = 40) -> None:
        """Start and wait until `/healthz` answers 200, as a load balancer would."""
        await super().start(wait_polling=False)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as http:
            while loop.time() < deadline:
                if not self.running:
                    raise AssertionError(f"{self.name} exited at start:\n{self.output[-3000:]}")
                with suppress(aiohttp.ClientError):
                    async with http.get(self.base_url + "/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        await self.kill()
        raise AssertionError(f"{self.name} not healthy within {timeout}s:\n{self.output[-3000:]}")

    async def wait_exit(self, timeout: float = 20) -> int:
        assert self.proc is not None
        await asyncio.wait_for(self.proc.wait(), timeout)
        return self.proc.returncode if self.proc.returncode is not None else -1


@dataclass
class Delivery:
    update_id: int
    instance: str
    refused: list[str] = field(default_factory=list)  # instances tried first, that failed


class Telegram:
    """Delivers updates to the instances' webhooks with the secret header.

    Each update goes to the preferred instance (the next one in turn by default); an instance
    that refuses the connection or does not answer 200 is skipped for the next, which is what
    a load balancer with health checks (and Telegram's retry) amounts to. `deliveries` says
    which instance took each update."""

    def __init__(self, api: FakeBotAPI, instances: list[WebhookInstance],
                 secret: str = SECRET) -> None:
        self.api = api
        self.instances = instances
        self.secret = secret
        self.deliveries: list[Delivery] = []
        self._turn = itertools.count()
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Telegram:
        # A short timeout: a live instance answers a webhook at once (handling runs after).
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._http is not None:
            await self._http.close()

    def enqueue(self, update: dict[str, Any]) -> dict[str, Any]:
        """Give the update its id, as Telegram does (the fake server learns the chat from it)."""
        self.api.push_update(update)
        # Webhook mode: nobody calls getUpdates, the update is POSTed instead.
        return self.api.pending_updates.pop()

    async def post(self, update: dict[str, Any], instance: WebhookInstance) -> int:
        assert self._http is not None, "use `async with Telegram(...)`"
        async with self._http.post(instance.webhook_url, json=update,
                                   headers={"X-Telegram-Bot-Api-Secret-Token": self.secret}
                                   ) as resp:
            await resp.read()
            return resp.status

    async def deliver(self, update: dict[str, Any], prefer: int | None = None) -> Delivery:
        start = next(self._turn) if prefer is None else prefer
        count = len(self.instances)
        refused: list[str] = []
        for step in range(count):
            instance = self.instances[(start + step) % count]
            try:
                if await self.post(update, instance) == 200:
                    delivery = Delivery(int(update["update_id"]), instance.name, refused)
                    self.deliveries.append(delivery)
                    return delivery
            except (aiohttp.ClientError, TimeoutError):
                pass
            refused.append(instance.name)
        raise AssertionError(f"no instance took update {update['update_id']}: {refused}")


def _is_reply_to(user_id: int) -> Callable[[ApiCall], bool]:
    return lambda c: (c.method in {"sendMessage", "sendPhoto", "sendDocument"}
                      and c.chat_id == user_id)


class WebhookUser(E2EUser):
    """A user whose updates reach the bot through `Telegram` (webhooks), not getUpdates.

    `prefer`: the instance index every update goes to first (None: in turn)."""

    def __init__(self, telegram: Telegram, user_id: int, first_name: str = "Иван",
                 language_code: str | None = "ru", prefer: int | None = None) -> None:
        super().__init__(telegram.api, user_id, first_name, language_code)
        self.telegram = telegram
        self.prefer = prefer
        self.deliveries: list[Delivery] = []

    async def deliver(self, update: dict[str, Any]) -> Delivery:
        delivery = await self.telegram.deliver(self.telegram.enqueue(update), self.prefer)
        self.deliveries.append(delivery)
        return delivery

    async def _push(self, update: dict[str, Any], expect: Callable[[ApiCall], bool] | None,
                    timeout: float) -> ApiCall:
        since = self.api.mark()
        await self.deliver(update)
        try:
            call = await self.api.wait_for(expect or _is_reply_to(self.id), timeout, since=since)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\ndeliveries: {self.deliveries[-3:]}") from None
        await self.settle()
        return call

    async def click(self, text: str, *, expect: Callable[[ApiCall], bool] | None = None,
                    timeout: float = 15) -> ApiCall:
        message, data = self.last_message_with_button(text)
        return await self.click_data(data, message, expect=expect, timeout=timeout)

    async def click_data(self, data: str, message: dict[str, Any], *,
                         expect: Callable[[ApiCall], bool] | None = None,
                         timeout: float = 15) -> ApiCall:
        update = updates.callback(self.user, data, message)
        query_id = update["callback_query"]["id"]
        since = self.api.mark()
        await self.deliver(update)
        await self.api.wait_for(
            lambda c: c.method == "answerCallbackQuery"
            and str(c.params.get("callback_query_id")) == query_id, timeout, since=since)
        call = await self.api.wait_for(expect or _is_reply_to(self.id), timeout, since=since)
        await self.settle()
        return call
