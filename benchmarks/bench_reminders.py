"""A reminders fan-out against a local Bot API server with Telegram's limits.

Run from the repository root, either way:

    .venv/bin/python -m benchmarks.bench_reminders --n 10000
    .venv/bin/python benchmarks/bench_reminders.py --n 500 --rate 25

Two scenarios, each on a fresh SQLite database seeded by `python -m bot demo-seed --users N`
(every user with one Москва demo account, so all N readings reminders fall due together):

- clean: `python -m bot reminders send-due --at <the 15th, 10:00 MSK>` sends them all;
- killed: the same, killed with SIGKILL once `--kill-at` of them have arrived, then run again.

The Bot API server (tests/botapi/server.py) answers 429 with `retry_after` beyond 30 messages
a second overall or one a second per chat, like Telegram. Reported per scenario: the achieved
rate (first to last message) as a share of REMINDERS_RATE and of Telegram's 30, the 429s,
duplicates (users with more than one message) and lost reminders (users with none), which
must both be 0, and rows left in doubt by the kill (claimed, and the process died before it
recorded the answer: never sent twice; such a row's message did arrive when it is not lost).

At 25 messages a second, 10 000 reminders take about 7 minutes per scenario. Everything
stops by itself: each wait is bounded by twice the expected duration plus two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    # Run as a script: make the repository root importable, as `-m` would.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.botapi.server import FakeBotAPI, RateLimits

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAHbenchTOKENbenchTOKENbench0123456"
MOMENT = "2026-11-15T10:00+03:00"  # Москва's readings window opens: 10:00 MSK on the 15th
TELEGRAM_CAP = 30.0
FIRST_ID = 9_100_000_000


@dataclass
class Result:
    scenario: str
    n: int
    delivered: int
    elapsed: float
    rate: float
    throttled: int
    duplicates: int
    lost: int
    in_doubt: int
    seed_seconds: float


def env_for(api: FakeBotAPI, workdir: Path, rate: float) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items()
           if not k.startswith(("BOT_", "DATABASE_", "REDIS_", "LOG_", "TELEGRAM_", "REMINDERS_"))},
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": api.base_url,
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}",
        "REMINDERS_RATE": str(rate),
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "WARNING",
    }


async def run(env: dict[str, str], workdir: Path, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=workdir, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def finish(proc: asyncio.subprocess.Process, timeout: float, what: str) -> str:
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise SystemExit(f"{what} did not finish within {timeout:.0f} s") from None
    text = out.decode() + err.decode()
    # Exit code 1 is send-due's "some reminders failed" (the table shows them); a traceback
    # is the benchmark's failure.
    if proc.returncode not in (0, 1) or "Traceback" in text:
        raise SystemExit(f"{what} failed ({proc.returncode}):\n{text[-3000:]}")
    return text


def delivered_by_chat(api: FakeBotAPI) -> Counter[int]:
    return Counter(int(c.chat_id) for c in api.calls_of("sendMessage")
                   if c.ok and c.chat_id is not None)


async def scenario(name: str, n: int, rate: float, kill_at: float | None,
                   workdir: Path) -> Result:
    os.makedirs(workdir, exist_ok=True)
    expected = n / rate
    limit = 2 * expected + 120
    async with FakeBotAPI(TOKEN, limits=RateLimits(global_per_second=TELEGRAM_CAP,
                                                  per_chat_per_second=1)) as api:
        env = env_for(api, workdir, rate)
        started = time.monotonic()
        await finish(await run(env, workdir, "demo-seed", "--users", str(n),
                               "--supplier", "mrg_moscow", "--first-id", str(FIRST_ID)),
                     300, "demo-seed")
        seed_seconds = time.monotonic() - started
        proc = await run(env, workdir, "reminders", "send-due", "--at", MOMENT)
        if kill_at is not None:
            target = max(1, int(n * kill_at))
            deadline = time.monotonic() + limit
            seen, delivered = 0, 0
            # Counted incrementally: the server shares this event loop, and rescanning
            # thousands of calls every millisecond would delay its answers.
            while delivered < target:
                if time.monotonic() > deadline or proc.returncode is not None:
                    raise SystemExit("the sender did not get to the kill point")
                calls = api.calls
                delivered += sum(1 for c in calls[seen:] if c.ok and c.method == "sendMessage")
                seen = len(calls)
                await asyncio.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            print(f"  [{name}] killed after {sum(delivered_by_chat(api).values())} of {n}",
                  file=sys.stderr)
            proc = await run(env, workdir, "reminders", "send-due", "--at", MOMENT)
        summary = await finish(proc, limit, "send-due")
        print(f"  [{name}] send-due: " + " / ".join(summary.strip().splitlines()[-3:]),
              file=sys.stderr)
        sends = sorted(c.time for c in api.calls_of("sendMessage") if c.ok)
        by_chat = delivered_by_chat(api)
        elapsed = sends[-1] - sends[0] if len(sends) > 1 else 0.0
        rate_achieved = (len(sends) - 1) / elapsed if elapsed > 0 else 0.0
        expected_chats = {FIRST_ID + i for i in range(n)}
        db = sqlite3.connect(workdir / "bot.sqlite3")
        try:
            in_doubt = db.execute("SELECT count(*) FROM reminder_deliveries "
                                  "WHERE status = 'sending'").fetchone()[0]
        finally:
            db.close()
        violations = len(api.violations)
        if violations:
            print(f"  [{name}] {violations} Bot API spec violations", file=sys.stderr)
        return Result(
            scenario=name, n=n, delivered=len(sends), elapsed=elapsed, rate=rate_achieved,
            throttled=api.rejected_429,
            duplicates=sum(1 for count in by_chat.values() if count > 1),
            lost=len(expected_chats - set(by_chat)), in_doubt=int(in_doubt),
            seed_seconds=seed_seconds,
        )


def table(results: list[Result], rate: float) -> str:
    header = ("scenario", "reminders", "delivered", "seconds", "msg/s", f"of {rate:g}/s",
              "of 30/s", "429s", "duplicates", "lost", "in doubt", "seed s")
    rows = [(r.scenario, str(r.n), str(r.delivered), f"{r.elapsed:.1f}", f"{r.rate:.2f}",
             f"{100 * r.rate / rate:.1f}%", f"{100 * r.rate / TELEGRAM_CAP:.1f}%",
             str(r.throttled), str(r.duplicates), str(r.lost), str(r.in_doubt),
             f"{r.seed_seconds:.1f}") for r in results]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|",
                      *(line(row) for row in rows)])


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="reminders (users) per scenario")
    parser.add_argument("--rate", type=float, default=25.0, help="REMINDERS_RATE, msg/s")
    parser.add_argument("--kill-at", type=float, default=0.5,
                        help="share of the reminders after which the sender is killed")
    parser.add_argument("--only", choices=("clean", "killed"), default=None)
    parser.add_argument("--keep", action="store_true", help="keep the working directories")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    print(f"{args.n} reminders per scenario at REMINDERS_RATE={args.rate:g} against a local "
          f"Bot API server limited to 30 msg/s and 1 msg/s per chat (expect ~"
          f"{args.n / args.rate / 60:.1f} min per scenario)", file=sys.stderr)
    results = []
    try:
        if args.only in (None, "clean"):
            results.append(await scenario("clean", args.n, args.rate, None, root / "clean"))
        if args.only in (None, "killed"):
            results.append(await scenario(f"killed at {args.kill_at:.0%}, rerun", args.n,
                                          args.rate, args.kill_at, root / "killed"))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(table(results, args.rate))
    return 0 if all(r.duplicates == 0 and r.lost == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
