"""Two instances on one Redis and one PostgreSQL behave as one bot.

Each instance is a runtime and a Dispatcher of its own (its own Redis and database
connections, storage, isolation and dedupe objects), as two processes behind a load balancer
have; only Redis and PostgreSQL are shared. The bots share one recording session, so a
user's chat holds every instance's messages and any instance may get the press of a button
another one sent (tests/support/instances.py).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from aiogram import F
from aiogram.fsm.context import FSMContext
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.memory import DisabledEventIsolation
from aiogram.types import BotCommand, Message, Update

from bot.app import create_bot
from bot.services import Services
from tests.botapi.server import FakeBotAPI
from tests.conftest import TEST_TOKEN, make_settings
from tests.support.instances import REDIS_URL, Cluster, fresh_redis, handled_by
from tests.support.leaks import remember
from tests.test_linking import entries, linked, register, state_of

PHONE = "+79001234567"
remember(PHONE.lstrip("+"))


async def cluster_of(bot_env: Any, postgres_url: str, instances: int = 2) -> Cluster:
    await fresh_redis()
    cluster = await Cluster.open(bot_env, instances, redis_url=REDIS_URL,
                                 database_url=postgres_url)
    for env in cluster.envs:
        assert type(env.runtime.storage).__name__ == "PrefetchingRedisStorage"
        assert type(env.runtime.isolation).__name__ == "PrefetchingIsolation"
    first, second = cluster.envs[:2]
    assert first.runtime is not second.runtime and first.dp is not second.dp
    assert first.runtime.isolation is not second.runtime.isolation
    return cluster


async def link_registered(env: Any, user_id: int, entry: Any) -> None:
    """A registered user with `entry` linked, through the services (not the point here)."""
    async with env.runtime.app.session_factory() as session:
        services = Services(session, env.runtime.app)
        user = await services.users.choose_language(user_id, "en")
        await services.users.give_consent(user)
        await services.users.save_contact(user, PHONE, user_id)
        await services.users.complete_registration(user)
        await services.linking.link(user_id, entry.ref, entry.proofs[0])


def metric(env: Any, name: str, **labels: str) -> float:
    value = env.runtime.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


def assert_unbroken_chain(events: list[Any], first: str | None, last: str | None) -> None:
    """Whatever order the instances took the updates in, each one began in the state the
    previous one left: sorted by when they were handled, after → before links them all."""
    events = sorted(events, key=lambda e: e.at)
    assert events[0].state_before == first
    for earlier, later in itertools.pairwise(events):
        assert later.state_before == earlier.state_after, (earlier.__dict__, later.__dict__)
    assert events[-1].state_after == last


# --- shared state, shared lock ----------------------------------------------------------------


async def test_state_set_by_one_instance_is_seen_and_locked_by_the_other(
        bot_env: Any, postgres_url: str) -> None:
    cluster = await cluster_of(bot_env, postgres_url)
    first, second = cluster.envs
    user_id = 8101
    await cluster.on(0, user_id, "en").send("/start")
    for env in (first, second):
        context = env.dp.fsm.get_context(env.bot, user_id, user_id)
        assert await context.get_state() == "RegistrationStates:language"

    # While the first instance holds the user's lock, the second one waits for it.
    key = StorageKey(bot_id=first.bot.id, chat_id=user_id, user_id=user_id)
    client = cluster.on(1, user_id, "en")
    before = len(client.texts())
    async with first.runtime.isolation.lock(key):
        pending = asyncio.create_task(client.send("/help"))
        await asyncio.sleep(0.6)
        assert not pending.done() and len(client.texts()) == before
    await asyncio.wait_for(pending, 5)
    assert "What I can do" in client.last_text()
    # Another user is not held up by that lock.
    other = cluster.on(1, 8102, "en")
    async with first.runtime.isolation.lock(key):
        await asyncio.wait_for(other.send("/help"), 2)
    assert "What I can do" in other.last_text()


# --- conversations spread over the instances -----------------------------------------------


async def test_registration_and_linking_alternating_between_instances(
        bot_env: Any, postgres_url: str) -> None:
    cluster = await cluster_of(bot_env, postgres_url)
    env = cluster.envs[0]
    perm, second_perm, *_ = await entries(env, "mrg_perm")
    # Two users at once, each update to the other instance than the one before; the second
    # user starts on the second instance.
    ru = cluster.client(8201)
    en = cluster.client(8202, "en", "John", pick=lambda n: (n + 1) % 2)

    async def link(client: Any, account: Any, lang: str) -> None:
        await register(client, lang)
        await client.send("/link")
        await client.send("пермь" if lang == "ru" else "Perm")
        await client.click("Газпром межрегионгаз Пермь" if lang == "ru"
                           else "Gazprom Mezhregiongaz Perm")
        await client.send(account.number)
        await client.send(account.pin)

    await asyncio.gather(link(ru, perm, "ru"), link(en, second_perm, "en"))

    assert "Лицевой счёт привязан!" in ru.last_text()
    assert "Account linked!" in en.last_text()
    for client, account in ((ru, perm), (en, second_perm)):
        assert await state_of(env, client) is None
        rows = await linked(cluster.envs[1], client.user.id)
        assert [(r.number, r.is_default) for r in rows] == [(account.number, True)]
        # Strictly alternating: both instances carried half of each conversation.
        spread = handled_by(client)
        assert all(a != b for a, b in itertools.pairwise(spread))
        assert spread.count(0) >= 4 and spread.count(1) >= 4
        events = await cluster.events(client.user.id)
        assert len(events) == len(spread)
        assert {e.outcome for e in events} == {"handled"}
        assert_unbroken_chain(events, None, None)
    assert cluster.session.violations == []


# --- 20 messages at once, half to each instance ----------------------------------------------


def add_tally_step(cluster: Cluster, pause: float = 0.05) -> None:
    """A conversation step that appends each message to the FSM data and moves the state on
    by one (`Tally:<count>`), with a pause between reading and writing: two updates of one
    user handled at the same time would both read the same list and one append would be
    lost. Registered on each Dispatcher itself, so it runs before every router."""

    async def tally(message: Message, state: FSMContext) -> None:
        data = await state.get_data()
        items = [*data.get("tally", []), message.text]
        await asyncio.sleep(pause)
        await state.set_data({"tally": items})
        await state.set_state(f"Tally:{len(items)}")
        await message.answer(f"#{len(items)}")

    for env in cluster.envs:
        env.dp.message.register(tally, F.text.startswith("tally "))


async def send_twenty_at_once(cluster: Cluster, user_id: int) -> tuple[Any, list[str]]:
    client = cluster.client(user_id, "en")
    texts = [f"tally {i:02d}" for i in range(20)]
    await asyncio.gather(*(client.send(text) for text in texts))
    return client, texts


async def test_twenty_rapid_messages_give_twenty_ordered_transitions(
        bot_env: Any, postgres_url: str) -> None:
    cluster = await cluster_of(bot_env, postgres_url)
    add_tally_step(cluster)
    started = time.perf_counter()
    client, texts = await send_twenty_at_once(cluster, 8301)
    elapsed = time.perf_counter() - started
    assert sorted(handled_by(client)) == [0] * 10 + [1] * 10

    data = await cluster.envs[1].dp.fsm.get_context(
        cluster.envs[1].bot, 8301, 8301).get_data()
    # Nothing lost, nothing twice; the order is the order the lock was taken in.
    assert sorted(data["tally"]) == texts
    assert await state_of(cluster.envs[0], client) == "Tally:20"
    events = await cluster.events(8301)
    assert len(events) == 20
    transitions = sorted((e.state_before, e.state_after) for e in events
                         if e.state_before is not None)
    assert transitions == sorted((f"Tally:{n}", f"Tally:{n + 1}") for n in range(1, 20))
    assert_unbroken_chain(events, None, "Tally:20")
    # The bot's answers count up by one, in the order they were given.
    assert client.texts() == [f"#{n}" for n in range(1, 21)]
    # Each instance handled its half, one at a time (20 pauses cannot overlap).
    for env in cluster.envs:
        assert metric(env, "bot_updates_total", kind="message", outcome="handled") == 10
    assert elapsed >= 20 * 0.05


async def test_without_shared_isolation_the_same_messages_lose_updates(
        bot_env: Any, postgres_url: str) -> None:
    """The control: with the lock taken away, the test above would catch the race."""
    cluster = await cluster_of(bot_env, postgres_url)
    add_tally_step(cluster)
    for env in cluster.envs:
        env.dp.fsm.events_isolation = DisabledEventIsolation()
    await send_twenty_at_once(cluster, 8401)
    data = await cluster.envs[0].dp.fsm.get_context(
        cluster.envs[0].bot, 8401, 8401).get_data()
    events = await cluster.events(8401)
    assert len(events) == 20
    befores = [e.state_before for e in events]
    assert len(data["tally"]) < 20, "concurrent appends overwrote each other"
    assert len(set(befores)) < 20, "several updates began in the same state"


# --- one update, two instances ---------------------------------------------------------------


def help_update(update_id: int, user_id: int) -> Update:
    return Update.model_validate({
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": int(time.time()), "text": "/help",
            "chat": {"id": user_id, "type": "private", "first_name": "A"},
            "from": {"id": user_id, "is_bot": False, "first_name": "A", "language_code": "en"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        },
    })


async def test_the_same_update_to_both_instances_is_handled_once(
        bot_env: Any, postgres_url: str) -> None:
    cluster = await cluster_of(bot_env, postgres_url)
    first, second = cluster.envs
    user_id = 8501

    def replies() -> int:
        return sum(1 for r in cluster.session.requests
                   if r.method == "sendMessage" and r.chat_id == user_id)

    # A retry that reached the other instance ...
    update = help_update(900_001, user_id)
    await first.dp.feed_update(first.bot, update)
    await second.dp.feed_update(second.bot, update)
    assert replies() == 1
    # ... and ten deliveries of one update at the same moment, five to each.
    update = help_update(900_002, user_id)
    await asyncio.gather(*(env.dp.feed_update(env.bot, update)
                           for env in (first, second) * 5))
    assert replies() == 2
    duplicates = sum(metric(env, "bot_updates_total", kind="message", outcome="duplicate")
                     for env in cluster.envs)
    handled = sum(metric(env, "bot_updates_total", kind="message", outcome="handled")
                  for env in cluster.envs)
    assert (handled, duplicates) == (2, 10)
    assert len(await cluster.events(user_id)) == 2


# --- bursts bigger than the connection pool ----------------------------------------------------


async def burst(clients: list[Any], text: str, timeout: float = 20) -> None:
    """Everyone at once, as after an outage when Telegram hands over what it kept."""
    await asyncio.wait_for(asyncio.gather(*(c.send(text) for c in clients)), timeout)


async def test_a_burst_bigger_than_the_pool_is_answered_on_sqlite(bot_env: Any) -> None:
    # An update's session holds a connection while the FSM storage needs another: with
    # every connection held by an update waiting for one more, all of them used to wait for
    # the pool's 30 s timeout and fail.
    env = await bot_env()
    pool = env.runtime.engine.sync_engine.pool
    clients = [env.client(user_id=8600 + n, language_code="en") for n in range(60)]
    assert len(clients) > pool.size() + pool._max_overflow
    await burst(clients, "/start")
    for client in clients:
        assert "Choose your language" in client.last_text()
    assert metric(env, "bot_errors_total", kind="message") == 0
    assert metric(env, "bot_updates_total", kind="message", outcome="handled") == 60


async def test_a_burst_bigger_than_the_pool_is_answered_by_two_instances(
        bot_env: Any, postgres_url: str) -> None:
    cluster = await cluster_of(bot_env, postgres_url)
    env = cluster.envs[0]
    entry = next(e for e in await entries(env, "mrg_krasnodar") if e.kind == "house")
    clients = [cluster.client(8700 + n, "en", pick=lambda _, n=n: n % 2) for n in range(60)]
    for client in clients:
        await link_registered(env, client.user.id, entry)
    # The balance card asks the billing system, which takes connections of its own.
    await burst(clients, "💰 Balance")
    for client in clients:
        assert "Gazprom Mezhregiongaz Krasnodar" in client.last_text()
    for env in cluster.envs:
        assert metric(env, "bot_errors_total", kind="message") == 0
        assert metric(env, "bot_updates_total", kind="message", outcome="handled") == 30


# --- the cost of each Bot API call ---------------------------------------------------------------


async def test_bot_api_answers_do_not_rebuild_their_models(monkeypatch: Any) -> None:
    """aiogram parses each answer with `Response[<result type>]`; pydantic caches those
    classes weakly, and a busy process used to rebuild one per call (bot.app)."""
    import gc

    import pydantic._internal._generics as generics

    built: list[str] = []
    original = generics.create_generic_submodel

    def counting(name: str, *args: Any, **kwargs: Any) -> Any:
        built.append(name)
        return original(name, *args, **kwargs)

    async with FakeBotAPI(TEST_TOKEN) as api:
        bot = create_bot(make_settings("sqlite+aiosqlite://", telegram_api_url=api.base_url))
        monkeypatch.setattr(generics, "create_generic_submodel", counting)
        try:
            for n in range(20):
                await bot.send_message(9001, f"message {n}")
                await bot.set_my_commands([BotCommand(command="help", description="Help")])
                gc.collect()  # what a busy process does between calls
        finally:
            await bot.session.close()
    assert built == []
    assert len(api.calls_of("sendMessage")) == 20
