"""Webhook throughput and latency of the gas bot, next to a bare aiogram echo bot.

    .venv/bin/python -m benchmarks.bench_webhook [--store sqlite|postgres] [--rate 100 30]
                                                 [--duration 30] [--concurrency 32]
                                                 [--profile FILE]

Both bots run as processes in webhook mode and talk to the local Bot API server of the tests
(tests/botapi/server.py, which also checks every request against the Bot API spec). The
harness plays Telegram: it POSTs each update to the webhook with the secret header and
measures, end to end, from the POST to the moment the bot's reply (its `sendMessage`)
reaches the Bot API server.

The gas bot runs as a small installation would: one process, SQLite, no Redis, JSON logs,
per-user throttling on. Its users are registered and have a linked demo account
(Krasnodar, Ivanovo, St Petersburg, Crimea: readings accepted every day of the month); each
user goes round the same mix: the main menu (/start), «💰 Balance», and a meter reading
(/reading → the value → «✅ Submit»), one update at a time, so 5 updates, 5 replies. The
echo bot gets the same updates and answers each with one message.

Two loads: open loop at `--rate` updates/s (arrivals on a fixed schedule, whatever the
replies do: the latency a user sees at that load), then a closed loop of `--concurrency`
users at once (each sends when its previous reply came: the most the bot can do).
Each update goes to a user picked at random (seeded: the same order in every run) among
those waiting for their next step, from a pool big enough that nobody comes near the flood
limit; users begin at different steps, so every second sees the whole mix.
Nothing asserts a number: the machine and its load decide them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import itertools
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp

from tests.botapi import updates
from tests.botapi.server import ApiCall, FakeBotAPI

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAHbenchTOKENbenchTOKENbenchTOKEN01"
SECRET = "bench-Secret_1"
REPLY_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument"})
SUPPLIERS = ("mrg_krasnodar", "mrg_ivanovo", "mrg_spb", "crimea")
STEP_TIMEOUT = 20.0
LOST_TRACES = 5  # updates without a reply whose trace is printed, per load
SEED = 20261122  # the users' order of arrival: the same in every run


# --- the Bot API side ----------------------------------------------------------------------


class BenchAPI(FakeBotAPI):
    """The test suite's Bot API server, plus a future per chat for the next reply to it."""

    def __init__(self, token: str = TOKEN) -> None:
        super().__init__(token)
        self._waiting: dict[int, tuple[asyncio.Future[ApiCall], str]] = {}
        # The latest calls, for telling what became of an update that got no reply.
        self.recent: collections.deque[ApiCall] = collections.deque(maxlen=50_000)
        self.unsolicited = 0  # the bot's messages of its own (see _record)

    def expect_reply(self, chat_id: int, step: str = "") -> asyncio.Future[ApiCall]:
        """The next message to `chat_id` that answers an update at `step` of the script."""
        assert chat_id not in self._waiting, "one update at a time per user"
        future: asyncio.Future[ApiCall] = asyncio.get_running_loop().create_future()
        self._waiting[chat_id] = (future, step)
        return future

    def forget(self, chat_id: int) -> None:
        self._waiting.pop(chat_id, None)

    async def _record(self, call: ApiCall) -> None:
        await super()._record(call)
        self.recent.append(call)
        if call.method in REPLY_METHODS and isinstance(call.chat_id, int):
            waiting = self._waiting.get(call.chat_id)
            if waiting is None:
                return
            future, step = waiting
            kind = _kind_of(str(call.params.get("text") or ""))
            if kind == "left" or (kind == "accepted" and step not in ("submit", "")):
                # Not the answer to this update: a reading queued while the supplier was
                # «not responding», accepted since and told by the bot on its own; or the
                # notice that follows the answer when a user leaves a reading's values.
                self.unsolicited += 1
                return
            del self._waiting[call.chat_id]
            if not future.done():
                future.set_result(call)

    def trim(self) -> None:
        """Keep memory flat over long runs: the harness needs no history."""
        self.calls.clear()
        self.messages.clear()
        self.recent.clear()
        self.unsolicited = 0


# --- processes -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """A bot process listening for webhooks on 127.0.0.1:`port`."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    workdir: Path
    health_path: str | None = "/healthz"
    proc: subprocess.Popen[bytes] | None = None

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    async def start(self, timeout: float = 60) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        out = (self.workdir / "output.txt").open("ab")
        # Popen returns at once; a plain handle suits the sync stop() and /proc reads.
        self.proc = subprocess.Popen(self.argv, cwd=self.workdir, env=self.env,  # noqa: ASYNC220
                                     stdout=out, stderr=subprocess.STDOUT)
        out.close()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.output()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    if self.health_path is None:
                        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                        writer.close()
                        return
                    async with http.get(f"http://127.0.0.1:{self.port}{self.health_path}"
                                        ) as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not come up:\n{self.output()[-3000:]}")

    def output(self) -> str:
        path = self.workdir / "output.txt"
        return path.read_text(errors="replace") if path.exists() else ""

    def cpu_seconds(self) -> float:
        """User + system CPU time so far (Linux /proc)."""
        assert self.proc is not None
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> tuple[float, float]:
        """Current and peak resident memory, MiB."""
        assert self.proc is not None
        values = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
        return values["VmRSS"], values["VmHWM"]

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def gas_bot(api: FakeBotAPI, workdir: Path, name: str, database_url: str,
            redis_url: str | None = None, **extra: str) -> Process:
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BOT_", "DATABASE_", "REDIS_", "MODE", "WEBHOOK_", "LOG_",
                                "THROTTLE_", "METRICS_", "GASBOT_"))}
    env.update({
        "BOT_TOKEN": api.token, "TELEGRAM_API_URL": api.base_url, "DATABASE_URL": database_url,
        "MODE": "webhook", "WEBHOOK_URL": "https://bot.example.org", "WEBHOOK_SECRET": SECRET,
        "WEBHOOK_HOST": "127.0.0.1", "WEBHOOK_PORT": str(port), "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
    })
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return Process(name, [sys.executable, "-m", "bot"], env, port, workdir / name)


def echo_bot(api: FakeBotAPI, workdir: Path) -> Process:
    port = free_port()
    env = {**os.environ, "BOT_TOKEN": api.token, "TELEGRAM_API_URL": api.base_url,
           "WEBHOOK_SECRET": SECRET, "WEBHOOK_PORT": str(port),
           "PYTHONPATH": str(ROOT)}
    return Process("echo", [sys.executable, "-m", "benchmarks.echo_bot"], env, port,
                   workdir / "echo", health_path=None)


def cpu_snapshot(bots: Sequence[Process]) -> dict[tuple[str, int], float]:
    """CPU seconds so far by (group, pid): the bot process(es), this harness (with the Bot
    API server), PostgreSQL, Redis; and ("machine", 0), everything the machine ran, other
    users' work too (/proc/stat)."""
    ticks = os.sysconf("SC_CLK_TCK")
    snapshot: dict[tuple[str, int], float] = {}
    bot_pids = {t.proc.pid for t in bots if t.proc is not None}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        pid = int(stat.parent.name)
        name = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw.rsplit(")", 1)[1].split()
        used = (int(fields[11]) + int(fields[12])) / ticks
        if pid in bot_pids:
            snapshot["bot", pid] = used
        elif pid == os.getpid():
            snapshot["harness", pid] = used
        elif name.startswith("postgres"):
            snapshot["postgres", pid] = used
        elif name.startswith("redis"):
            snapshot["redis", pid] = used
    first = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    snapshot["machine", 0] = (sum(first) - first[3] - first[4]) / ticks  # not idle, iowait
    return snapshot


def cpu_used(before: dict[tuple[str, int], float],
             after: dict[tuple[str, int], float]) -> dict[str, float]:
    """CPU seconds by group between two snapshots (processes that ended meanwhile are not
    counted: their time went with them)."""
    used: dict[str, float] = collections.defaultdict(float)
    for (group, pid), seconds in after.items():
        used[group] += seconds - before.get((group, pid), 0.0)
    return dict(used)


# --- the users -----------------------------------------------------------------------------


@dataclass
class Account:
    supplier: str
    baseline: int  # the meter's last accepted reading, whole cubic metres
    submitted: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


@dataclass
class BenchUser:
    id: int
    account: Account
    step: int = 0
    last_reply: dict[str, Any] | None = None  # the bot's latest message to the user

    def __post_init__(self) -> None:
        self.user = updates.tg_user(self.id, "Bench", "en")


SCRIPT = ("start", "balance", "reading", "value", "submit")


def bench_settings(database_url: str) -> Any:
    from bot.config import Settings

    return Settings(_env_file=None, bot_token=TOKEN,
                    database_url=database_url, throttle_rate=0)


async def usable_accounts(runtime: Any) -> list[tuple[Any, Account]]:
    """Demo accounts the script can read a meter of: one meter with one tariff zone, at a
    supplier that takes readings every day of the month."""
    from bot.billing.demo import DemoBillingConnector

    accounts = []
    for code in SUPPLIERS:
        connector = runtime.app.billing.for_supplier(code)
        assert isinstance(connector, DemoBillingConnector)
        for entry in await connector.demo_accounts([code]):
            meters = entry.meters
            if len(meters) == 1 and meters[0].last is not None \
                    and len(meters[0].last.values) == 1:
                accounts.append((entry, Account(code, int(meters[0].last.values[0]))))
    return accounts


async def register_and_link(runtime: Any, count: int, first_id: int) -> list[tuple[int, Account]]:
    """Register `count` users (English) and link each a demo account, through the services,
    as the chat would have."""
    from bot.services import Services

    accounts = await usable_accounts(runtime)
    linked = []
    async with runtime.app.session_factory() as session:
        services = Services(session, runtime.app)
        for n in range(count):
            user_id = first_id + n
            entry, account = accounts[n % len(accounts)]
            user = await services.users.choose_language(user_id, "en")
            await services.users.give_consent(user)
            await services.users.save_contact(user, f"+7900{user_id:07d}", user_id)
            await services.users.complete_registration(user)
            await services.linking.link(user_id, entry.ref, entry.proofs[0])
            linked.append((user_id, account))
    return linked


async def prepare_users(database_url: str, count: int, first_id: int = 700_000) -> list[BenchUser]:
    """Registered users with a linked account in the database the bot will use (migrated
    first)."""
    from bot.app import open_runtime

    async with contextlib.AsyncExitStack() as stack:
        runtime = await open_runtime(bench_settings(database_url), stack)
        return [BenchUser(user_id, account)
                for user_id, account in await register_and_link(runtime, count, first_id)]


def next_update(api: FakeBotAPI, user: BenchUser, *, echo: bool) -> dict[str, Any]:
    step = SCRIPT[user.step % len(SCRIPT)]
    submit = _button(user.last_reply or {}, "✅ Submit")
    if step == "submit" and submit is None and not echo:
        # The value was refused (no confirmation came): the round starts again.
        user.step += 1
        step = SCRIPT[user.step % len(SCRIPT)]
    if step == "start":
        update = updates.command(user.user, "/start")
    elif step == "balance":
        update = updates.message(user.user, "💰 Balance")
    elif step == "reading":
        update = updates.command(user.user, "/reading")
    elif step == "value":
        value = user.account.baseline + 1 + next(user.account.submitted) % 1000
        update = updates.message(user.user, str(value))
    else:
        # The echo bot's replies have no buttons: it gets a press on its last message.
        message = user.last_reply or updates.message_payload(user.user, text="…")
        update = updates.callback(user.user, submit or "rds:submit:bench", message)
    api.push_update(update)
    return api.pending_updates.pop()  # delivered by webhook, not by getUpdates


def _button(message: dict[str, Any], text: str) -> str | None:
    for row in (message.get("reply_markup") or {}).get("inline_keyboard", []):
        for button in row:
            if button.get("text") == text and "callback_data" in button:
                return str(button["callback_data"])
    return None


# --- the loads -----------------------------------------------------------------------------


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)  # seconds
    sent: int = 0
    timeouts: int = 0
    refused: int = 0  # the webhook did not answer 200
    no_idle_user: int = 0
    elapsed: float = 0.0
    replies: collections.Counter[str] = field(default_factory=collections.Counter)
    # What became of updates without a reply, and replies of an unexpected kind: for reading.
    lost: list[str] = field(default_factory=list)
    odd: collections.Counter[str] = field(default_factory=collections.Counter)

    @property
    def completed(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.completed / self.elapsed if self.elapsed else 0.0

    def quantile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Harness:
    """Telegram's side: POSTs updates to the targets' webhooks, in turn."""

    def __init__(self, api: BenchAPI, targets: Sequence[Process], users: list[BenchUser]) -> None:
        self.api = api
        self.echo = all(t.name == "echo" for t in targets)
        self.urls = [t.webhook_url for t in targets]
        self.turn = itertools.count()
        # Users waiting for their next update; each arrival takes one at random. Taken in
        # turn, every user would be at the same step of the mix at once (a second of
        # /start from everybody, then a second of «Balance» ... then a second of «Submit»,
        # the dearest step): not a mix, but waves of one step each.
        self.idle: list[BenchUser] = list(users)
        self.rng = random.Random(SEED)
        self.http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Harness:
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256),
            timeout=aiohttp.ClientTimeout(total=STEP_TIMEOUT))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.http is not None:
            await self.http.close()

    async def step(self, user: BenchUser, stats: Stats) -> None:
        """One update of one user; its latency, or a timeout, goes into `stats`."""
        assert self.http is not None
        update = next_update(self.api, user, echo=self.echo)
        reply = self.api.expect_reply(user.id, SCRIPT[user.step % len(SCRIPT)])
        url = self.urls[next(self.turn) % len(self.urls)]
        stats.sent += 1
        started = time.time()
        try:
            async with self.http.post(url, json=update,
                                      headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                                      ) as resp:
                await resp.read()
                if resp.status != 200:
                    stats.refused += 1
                    self.api.forget(user.id)
                    return
            call = await asyncio.wait_for(reply, STEP_TIMEOUT)
        except (TimeoutError, aiohttp.ClientError) as exc:
            stats.timeouts += 1
            self.api.forget(user.id)
            if len(stats.lost) < LOST_TRACES:  # the scan holds up the loop: a few only
                stats.lost.append(self._trace(user, update, url, started, exc))
            user.step = 0  # start over from the menu
            return
        stats.latencies.append(max(0.0, call.time - started))
        text = str(call.params.get("text") or "")
        kind = SCRIPT[user.step % len(SCRIPT)] + ":" + _kind_of(text)
        stats.replies[kind] += 1
        if kind == "submit:ok" and not self.echo:
            stats.odd[f"{kind}: {text[:70]!r}"] += 1
        user.last_reply = call.result if isinstance(call.result, dict) else None
        user.step += 1

    def _trace(self, user: BenchUser, update: dict[str, Any], url: str, started: float,
               exc: BaseException) -> str:
        """One update without a reply: what it was, and the Bot API calls for its chat since
        shortly before it was sent."""
        query = update.get("callback_query") or {}
        what = (f"press {query.get('data')!r}" if query
                else f"text {(update.get('message') or {}).get('text')!r}")
        lines = [f"user {user.id}, step {SCRIPT[user.step % len(SCRIPT)]}, update "
                 f"{update['update_id']} ({what}) to {url} at {started:.3f}: "
                 f"{type(exc).__name__}"]
        for call in self.api.recent:
            mine = call.chat_id == user.id or (
                query and call.params.get("callback_query_id") == query.get("id"))
            if mine and call.time >= started - 2:
                detail = str(call.params.get("text") or call.params.get("reply_markup") or "")
                lines.append(f"    {call.time - started:+.3f}s {call.method} {call.status} "
                             f"{detail[:90]!r}")
        return "\n".join(lines)

    async def _with_idle_user(self, stats: Stats) -> None:
        if not self.idle:
            stats.no_idle_user += 1
            return
        pick = self.rng.randrange(len(self.idle))
        self.idle[pick], self.idle[-1] = self.idle[-1], self.idle[pick]
        user = self.idle.pop()
        try:
            await self.step(user, stats)
        finally:
            self.idle.append(user)

    async def open_loop(self, rate: float, duration: float) -> Stats:
        stats = Stats()
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()
        start = loop.time()
        for n in range(int(rate * duration)):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._with_idle_user(stats))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=STEP_TIMEOUT + 5)
        stats.elapsed = loop.time() - start
        return stats

    async def closed_loop(self, concurrency: int, duration: float) -> Stats:
        stats = Stats()
        loop = asyncio.get_running_loop()
        start = loop.time()
        deadline = start + duration

        async def worker() -> None:
            while loop.time() < deadline:
                await self._with_idle_user(stats)
                if stats.no_idle_user:
                    return

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        stats.elapsed = loop.time() - start
        return stats


def _kind_of(text: str) -> str:
    if "was not submitted" in text:
        return "left"
    if "Reading accepted" in text or "reached" in text:
        return "accepted"
    if "did not accept" in text or "❌" in text:
        return "rejected"
    if "Something went wrong" in text:
        return "ERROR"
    return "ok"


# --- running and reporting -----------------------------------------------------------------


@dataclass
class Row:
    name: str
    load: str
    stats: Stats
    cpu_per_update_ms: float
    rss_mb: float
    cpu: dict[str, float] = field(default_factory=dict)  # by group, ms per update

    def cells(self) -> list[str]:
        s = self.stats
        return [self.name, self.load, f"{s.throughput:.0f}", f"{s.quantile(0.5):.1f}",
                f"{s.quantile(0.99):.1f}", f"{max(s.latencies, default=0) * 1000:.0f}",
                f"{s.timeouts + s.refused + s.no_idle_user}", f"{self.cpu_per_update_ms:.2f}",
                f"{self.rss_mb:.0f}"]


HEADER = ["bot", "load", "updates/s", "p50 ms", "p99 ms", "max ms", "lost", "CPU ms/update",
          "RSS MiB"]


def print_table(rows: list[Row]) -> None:
    lines = [HEADER, *[r.cells() for r in rows]]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines[1:]:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")


def print_summary(rows: list[Row], args: argparse.Namespace, labels: list[str]) -> None:
    """The ratio to the echo bot at full load, and the p99 latency at each offered rate."""

    def row(name: str, load: str) -> Row:
        return next(r for r in rows if r.name == name and r.load == load)

    closed = f"closed x{args.concurrency}"
    baseline = row("aiogram echo", closed).stats.throughput
    for label in labels:
        ours = row(label, closed).stats
        p99 = ", ".join(f"{row(label, f'open {rate:g}/s').stats.quantile(0.99):.0f} ms at "
                        f"{rate:g}/s" for rate in args.rate)
        print(f"{label}: max {ours.throughput:.0f} updates/s, {ours.throughput / baseline:.2f} "
              f"of the echo bot's {baseline:.0f} (target ≥ 0.5); p99 {p99} "
              f"(target < 100 ms at 100/s)")


async def measure(name: str, api: BenchAPI, targets: Sequence[Process], users: list[BenchUser],
                  args: argparse.Namespace,
                  during_max: Callable[[], Coroutine[Any, Any, None]] | None = None) -> list[Row]:
    rows = []
    async with Harness(api, targets, users) as harness:
        warm = await harness.closed_loop(16, args.warmup)  # caches, connections, JIT of sorts
        if warm.timeouts or warm.refused:
            print(f"  warm-up: {warm.timeouts} timeouts, {warm.refused} refused", flush=True)
        loads: list[tuple[str, Callable[[], Awaitable[Stats]]]] = [
            (f"open {rate:g}/s", functools.partial(harness.open_loop, rate, args.duration))
            for rate in args.rate]
        loads.append((f"closed x{args.concurrency}",
                      functools.partial(harness.closed_loop, args.concurrency, args.duration)))
        for load, run in loads:
            await drained(targets)  # an overloaded run's backlog must not spill into the next
            api.trim()
            # Every load runs the same mix; the users begin at /start, «Balance» or /reading
            # (each a place the script can begin), so the steps are mixed from the start —
            # but for those the last load left in the middle of a reading, who go on with it.
            for index, user in enumerate(users):
                if SCRIPT[user.step % len(SCRIPT)] not in ("value", "submit"):
                    user.step, user.last_reply = index % 3, None
            before = cpu_snapshot(targets)
            profiling = (asyncio.create_task(during_max())
                         if during_max is not None and load.startswith("closed") else None)
            stats = await run()
            if profiling is not None:
                await profiling
            per_update = {k: v / max(stats.completed, 1) * 1000
                          for k, v in cpu_used(before, cpu_snapshot(targets)).items()}
            rss = max(t.rss_mb()[1] for t in targets)
            row = Row(name, load, stats, per_update.get("bot", 0.0), rss, per_update)
            rows.append(row)
            errors = stats.replies.get("ERROR", 0)
            print(f"  {name}, {load}: {stats.completed} replies in {stats.elapsed:.1f}s, "
                  f"p50 {stats.quantile(0.5):.1f} ms, p99 {stats.quantile(0.99):.1f} ms; "
                  f"{dict(sorted(stats.replies.items()))}"
                  + (f"; {errors} ERRORS" if errors else ""), flush=True)
            print("    CPU ms per update: " + ", ".join(
                f"{k} {v:.1f}" for k, v in sorted(per_update.items())), flush=True)
            if api.unsolicited:
                print(f"    {api.unsolicited} messages of the bot's own (a queued reading "
                      "accepted, a reading left unsubmitted) were not taken as replies",
                      flush=True)
            for text, count in stats.odd.most_common(5):
                print(f"    {count} × {text}", flush=True)
            for trace in stats.lost:
                print("    no reply: " + trace, flush=True)
    return rows


async def measure_echo(api: BenchAPI, workdir: Path, users: list[BenchUser],
                       args: argparse.Namespace) -> list[Row]:
    """The baseline: the bare aiogram echo bot on the same harness, users and loads."""
    echo = echo_bot(api, workdir)
    await echo.start()
    try:
        return await measure("aiogram echo", api, [echo], users, args)
    finally:
        echo.stop()


async def drained(targets: Sequence[Process], limit: float = 180.0) -> None:
    """Wait until no gas bot has an update in flight (the echo bot has no /metrics)."""
    deadline = time.monotonic() + limit
    for target in targets:
        while time.monotonic() < deadline:
            try:
                async with aiohttp.ClientSession() as http, \
                        http.get(f"http://127.0.0.1:{target.port}/metrics") as resp:
                    if resp.status != 200:
                        break
                    text = await resp.text()
            except aiohttp.ClientError:
                break
            busy = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("bot_updates_in_flight"))
            if busy == 0:
                break
            await asyncio.sleep(0.5)


async def scrape(target: Process) -> dict[str, float]:
    """bot_updates_total by outcome, from /metrics."""
    totals: dict[str, float] = collections.defaultdict(float)
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{target.port}/metrics") as resp:
        for line in (await resp.text()).splitlines():
            if line.startswith("bot_updates_total{"):
                outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
                totals[outcome] += float(line.rsplit(" ", 1)[1])
    return dict(totals)


def machine() -> str:
    cpus = os.cpu_count()
    memory = 0.0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) / 1024 / 1024
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0]
    return (f"{date.today().isoformat()}, {cpus} cores ({model}), {memory:.0f} GiB RAM, "
            f"Python {platform.python_version()}, load average before the run {load:.2f}")


def py_spy_profile(target: Process, seconds: float,
                   output: Path) -> Callable[[], Coroutine[Any, Any, None]]:
    """py-spy samples the bot during the max-throughput run; the raw stacks go to `output`."""

    async def run() -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        assert target.proc is not None
        proc = await asyncio.create_subprocess_exec(
            py_spy, "record", "--pid", str(target.proc.pid), "--duration", str(int(seconds)),
            "--format", "raw", "--output", str(output), "--nonblocking", "--rate", "200",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        await proc.wait()

    return run


# From the leaf up, the first frame in one of these names where a sample's time goes.
CATEGORIES = (
    ("database (SQLAlchemy, asyncpg, aiosqlite)", ("sqlalchemy/", "asyncpg/", "aiosqlite/")),
    ("Redis client", ("redis/",)),
    ("pydantic", ("pydantic/", "pydantic_core/")),
    ("logging", ("logging/", "bot/logs.py")),
    ("HTTP (aiohttp server and client)", ("aiohttp/", "multidict/", "yarl/")),
    ("aiogram (routing, filters, methods)", ("aiogram/",)),
    ("bot code (bot/, handlers/, fsm/)", ("bot/", "handlers/", "fsm/")),
    ("event loop (idle, waking up)", ()),
)


def category(frames: list[str]) -> str:
    """The library closest to the leaf, within the callback the event loop is running; the
    event loop itself when it runs none (waiting for events, waking up for threads)."""
    loop = CATEGORIES[-1]
    runs = [i for i, frame in enumerate(frames) if frame.startswith("Handle._run ")]
    if not runs:
        return loop[0]
    for frame in reversed(frames[runs[-1] + 1:]):
        where = frame.rsplit("(", 1)[-1]
        for name, markers in CATEGORIES[:-1]:
            if any(marker in where for marker in markers):
                return name
    return "other (the standard library)"


def summarize_profile(path: Path, top: int = 25) -> None:
    """Where the bot's main thread spends its time, from py-spy's raw (collapsed) stacks:
    by library, then the functions with most time including and excluding callees."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack.startswith("_run_module_as_main"):
            continue  # the database driver's and executors' threads
        samples = int(count)
        kinds[category(stack.split(";"))] += samples
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1]
                  + ")" if " (" in f else f for f in stack.split(";")]
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    print(f"\nprofile of the main thread: {total} samples; by where the time goes:")
    for name, samples in kinds.most_common():
        print(f"  {samples / total:6.1%}  {name}")
    print("most time including callees:")
    for frame, samples in inclusive.most_common(top):
        print(f"  {samples / total:6.1%}  {frame}")
    print("most time in the function itself:")
    for frame, samples in own.most_common(top):
        print(f"  {samples / total:6.1%}  {frame}")


PG_ADMIN = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
BENCH_REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


_databases = itertools.count(1)


@contextlib.asynccontextmanager
async def fresh_postgres() -> AsyncIterator[str]:
    """A new PostgreSQL database for one run (BENCH_PG_ADMIN: where to create it)."""
    import asyncpg  # type: ignore[import-untyped]

    name = f"gasbot_bench_{os.getpid()}_{next(_databases)}"
    admin = await asyncpg.connect(PG_ADMIN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    try:
        yield f"{base}/{name}"
    finally:
        admin = await asyncpg.connect(PG_ADMIN)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def fresh_redis(url: str = BENCH_REDIS) -> str:
    from redis.asyncio import Redis

    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    return url


@contextlib.contextmanager
def workspace(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        yield Path(tmp)


def arguments(argv: list[str] | None = None,
              more: Callable[[argparse.ArgumentParser], None] | None = None,
              **defaults: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    if more is not None:
        more(parser)
    parser.add_argument("--rate", type=float, nargs="+", default=[100.0],
                        help="open-loop updates/s (several: one run each)")
    parser.add_argument("--duration", type=float, default=30, help="seconds per load")
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop users at once")
    parser.add_argument("--users", type=int, default=150, help="registered users in the "
                        "pool: few enough that each load runs the mix round several times, "
                        "enough that users picked at random stay well below the flood limit "
                        "(3 updates/s) at full load")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of warm-up")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite",
                        help="sqlite: SQLite, no Redis (one process, as a small installation "
                        "runs); postgres: PostgreSQL and Redis (BENCH_PG_ADMIN, BENCH_REDIS_URL)")
    parser.add_argument("--workdir", type=Path, help="keep the databases and logs here "
                        "(default: a temporary directory, removed afterwards)")
    parser.add_argument("--profile", type=Path, help="py-spy raw profile of the gas bot "
                        "during the closed loop, written here and summarized")
    parser.set_defaults(**defaults)
    return parser.parse_args(argv)


async def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    print(machine(), flush=True)
    rows: list[Row] = []
    async with contextlib.AsyncExitStack() as stack:
        workdir = stack.enter_context(workspace(args.workdir))
        redis_url: str | None = None
        if args.store == "postgres":
            database_url = await stack.enter_async_context(fresh_postgres())
            redis_url = await fresh_redis()
            label = "gas bot (PostgreSQL + Redis)"
        else:
            database_url = f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}"
            label = "gas bot (SQLite)"
        print(f"registering {args.users} users with a linked account ...", flush=True)
        users = await prepare_users(database_url, args.users)
        async with BenchAPI() as api:
            bot = gas_bot(api, workdir, "gasbot", database_url, redis_url)
            await bot.start()
            try:
                profile = (py_spy_profile(bot, args.duration * 0.8, args.profile)
                           if args.profile else None)
                rows += await measure(label, api, [bot], users, args, profile)
                outcomes = await scrape(bot)
            finally:
                bot.stop()
            rows += await measure_echo(api, workdir, users, args)
            violations = len(api.violations)
    print()
    print_table(rows)
    print()
    print_summary(rows, args, [label])
    print(f"gas bot updates by outcome: {outcomes}; Bot API spec violations: {violations}")
    if args.profile:
        summarize_profile(args.profile)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
