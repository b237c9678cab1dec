"""APScheduler 3 (`AsyncIOScheduler`) with one job: the reminders tick.

Why one periodic tick rather than a job per user and reminder:
- The settings rows are the source of truth. The tick asks the planner what is due *now* and
  writes it to the outbox, whose unique key makes asking twice harmless. Per-user jobs would
  be a second copy of the settings to keep in step with every change, unlink and account
  deletion, and 3 jobs × 100 000 accounts of pickled state.
- Catching up is the planner's job: after downtime the first tick finds whatever fell into
  it and is still within REMINDERS_GRACE_HOURS, and sends it once.

The job:
- id `reminders:tick`, added with `replace_existing=True` whenever this process becomes the
  leader, with its first run immediately (that run is the catch-up after a restart);
- `coalesce=True`: runs missed while the process was suspended or the loop was blocked
  collapse into one (each would ask the same question anyway);
- `max_instances=1`: a slow tick (a big database) never overlaps the next;
- `misfire_grace_time=None`: a late tick still runs, however late; it computes from the
  clock when it runs, so lateness costs nothing, and skipping it would only delay the catch-up.
  (APScheduler's default of 1 s would drop a tick that starts 1 s late.)

Job store: the job is persisted, as APScheduler 3 requires jobs to be picklable by
reference, in Redis when REDIS_URL is set (shared by the processes like the leader lock), else
in the bot's database (table `apscheduler_jobs`, created by migration 0006). APScheduler 3's
job stores are synchronous and run on the event loop: with PostgreSQL it connects through
psycopg (a dependency for this alone). With SQLite the job lives in a file of its own beside
the database (`bot.sqlite3` → `bot.jobs.sqlite3`): while one of the bot's own connections
held the database's write lock, the job store's write waited for it on the event loop, the
very loop the lock's holder needed to finish, so everything stood still until SQLite's busy
timeout (30 s) ran out, and the failed write stopped the scheduler for good.
A job store must never be run by two schedulers at once (DOMAIN.md §7), hence the leader:
only the leader starts a scheduler.

Pickled jobs reference their function by name, so the job calls the module-level
`fire_tick(name)`, which finds this process's live scheduler in `_LIVE` by name.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from apscheduler.jobstores.base import BaseJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import make_url

logger = logging.getLogger(__name__)

TICK_JOB_ID: Final = "reminders:tick"
JOB_DEFAULTS: Final[dict[str, Any]] = {
    "coalesce": True,
    "max_instances": 1,
    "misfire_grace_time": None,
}
REDIS_JOBS_KEY: Final = "bot:apscheduler:jobs"
REDIS_RUN_TIMES_KEY: Final = "bot:apscheduler:run_times"

Tick = Callable[[], Awaitable[None]]

# The live schedulers of this process by name: what a pickled job finds its tick through.
_LIVE: dict[str, ReminderScheduler] = {}


def sync_database_url(url: str) -> str:
    """Where the SQLAlchemy job store keeps the job, for the bot's async database URL: the
    same PostgreSQL database through psycopg, or the SQLite file's `.jobs` sibling (an
    in-memory SQLite database stays in memory)."""
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            parsed = parsed.set(database=str(path.with_name(f"{path.stem}.jobs{path.suffix}")))
        return parsed.set(drivername="sqlite").render_as_string(hide_password=False)
    if parsed.drivername.startswith("postgresql"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"no job store for {parsed.drivername}")


def build_job_store(database_url: str, redis_url: str | None) -> BaseJobStore:
    if redis_url:
        from apscheduler.jobstores.redis import RedisJobStore
        from redis.connection import parse_url

        options: dict[str, Any] = parse_url(redis_url)  # type: ignore[no-untyped-call]
        db = options.pop("db", 0)
        return RedisJobStore(db=db, jobs_key=REDIS_JOBS_KEY, run_times_key=REDIS_RUN_TIMES_KEY,
                             **options)
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    return SQLAlchemyJobStore(url=sync_database_url(database_url),
                              engine_options=engine_options)


async def fire_tick(name: str) -> None:
    """The job's function (referenced by name in the job store)."""
    scheduler = _LIVE.get(name)
    if scheduler is None:
        logger.warning("reminders tick for %r, which is not running here: skipped", name)
        return
    await scheduler.run_tick()


class ReminderScheduler:
    """A fresh `AsyncIOScheduler` per term as leader: APScheduler 3 closes its job stores on
    shutdown, so one is not restarted."""

    def __init__(self, tick: Tick, *, interval: float, job_store: Callable[[], BaseJobStore],
                 name: str = "default") -> None:
        self.tick = tick
        self.interval = interval
        self.job_store = job_store
        self.name = name
        self.ticks = 0
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def running(self) -> bool:
        return self._scheduler is not None and self._scheduler.running

    def start(self) -> None:
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(jobstores={"default": self.job_store()},
                                     job_defaults=dict(JOB_DEFAULTS), timezone=UTC)
        _LIVE[self.name] = self
        scheduler.add_job(fire_tick, IntervalTrigger(seconds=self.interval, timezone=UTC),
                          args=[self.name], id=TICK_JOB_ID, replace_existing=True,
                          next_run_time=datetime.now(UTC), **JOB_DEFAULTS)
        scheduler.start()
        self._scheduler = scheduler
        logger.info("reminders scheduler started: a tick every %ss", self.interval)

    def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if _LIVE.get(self.name) is self:
            del _LIVE[self.name]
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)
            logger.info("reminders scheduler stopped")

    def job(self) -> Any:
        """The tick job as the job store holds it (for operators and tests)."""
        return self._scheduler.get_job(TICK_JOB_ID) if self._scheduler is not None else None

    async def run_tick(self) -> None:
        self.ticks += 1
        try:
            await self.tick()
        except Exception:
            # Logged and swallowed: APScheduler would log it too, but without our context,
            # and the next tick must come regardless.
            logger.exception("reminders tick failed")
