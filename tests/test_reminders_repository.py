"""The reminders' SQL on SQLite and on the real PostgreSQL: upserts, the outbox's unique key
and its compare-and-set claim, pausing, the bulk demo seed, and ON DELETE CASCADE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select

from bot.cli_reminders import seed_demo_users
from bot.db import migrate
from bot.db.engine import create_engine, create_session_factory
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.db.models_reminders import ReminderDelivery, ReminderSettingsRow
from bot.db.repositories.reminders import ReminderRepository
from bot.reminders.models import DEFAULTS, settings_values
from bot.suppliers.loader import load_catalog

NOW = datetime(2026, 11, 15, 7, tzinfo=UTC)


def outbox_row(user_id: int, account_id: int, kind: str = "readings",
               period: str = "2026-11") -> dict[str, Any]:
    return {"kind": kind, "user_id": user_id, "account_id": account_id, "period": period,
            "scheduled_at": NOW, "expires_at": NOW + timedelta(hours=6), "status": "pending",
            "attempts": 0, "next_attempt_at": NOW, "created_at": NOW, "updated_at": NOW}


async def test_outbox_settings_and_cascades(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
        factory = create_session_factory(engine)
        users, accounts, _kinds = await seed_demo_users(factory, load_catalog(), 3,
                                                        supplier="mrg_moscow", first_id=500)
        assert (users, accounts) == (3, 3)
        # Seeding again changes nothing.
        assert (await seed_demo_users(factory, load_catalog(), 3, supplier="mrg_moscow",
                                      first_id=500))[:2] == (3, 3)
        async with factory() as session:
            repo = ReminderRepository(session)
            plan = await repo.plan_rows()
            assert [(row.user_id, row.supplier_code, row.settings) for row in plan] == [
                (500, "mrg_moscow", None), (501, "mrg_moscow", None), (502, "mrg_moscow", None)]
            ids = {row.user_id: row.account_id for row in plan}
            # Settings: insert, then replace; the due day learnt keeps the rest.
            values = settings_values(DEFAULTS, NOW)
            await repo.save_settings(ids[500], {**values, "payment_on": False})
            await repo.save_settings(ids[500], {**values, "payment_days_before": 7,
                                                "payment_on": False})
            await repo.learn_due_day(ids[500], 25, values)
            await repo.learn_due_day(ids[501], 10, values)
            rows = await repo.settings_for(ids.values())
            assert (rows[ids[500]].payment_on, rows[ids[500]].payment_days_before,
                    rows[ids[500]].due_day) == (False, 7, 25)
            assert rows[ids[501]].due_day == 10 and rows[ids[501]].payment_on is True
            # The outbox: a key goes in once, however often it is written.
            batch = [outbox_row(u, a) for u, a in ids.items()]
            await repo.enqueue(batch)
            await repo.enqueue([*batch, outbox_row(500, ids[500], "payment", "2026-10")])
            assert await session.scalar(select(func.count()).select_from(
                ReminderDelivery)) == 4
            statuses = await repo.statuses([("readings", 500, ids[500], "2026-11"),
                                            ("receipt", 500, ids[500], "2026-10")])
            assert statuses == {("readings", 500, ids[500], "2026-11"): "pending"}
            ready = await repo.ready(NOW, 10)
            assert len(ready) == 4
            first = ready[0]
            # Claimed once: the second claim (another worker) loses.
            assert await repo.claim(first.id, "w1", NOW)
            assert not await repo.claim(first.id, "w2", NOW)
            await repo.finish(first.id, "w2", "sent", NOW, message_id=1)  # not w2's: no-op
            await repo.finish(first.id, "w1", "sent", NOW, message_id=42, attempts=1)
            assert [r.id for r in await repo.ready(NOW, 10)] == [r.id for r in ready[1:]]
            # A stale claim is recorded as interrupted, a fresh one is left alone.
            second = ready[1]
            assert await repo.claim(second.id, "w1", NOW - timedelta(minutes=5))
            assert await repo.recover_interrupted(NOW - timedelta(minutes=2), NOW) == 1
            # Pausing a user marks their pending rows and hides them from planning.
            paused = await repo.pause_user(502, "blocked", NOW)
            assert paused == 1
            assert 502 not in {row.user_id for row in await repo.plan_rows()}
            assert await repo.resume_user(502, NOW) and not await repo.resume_user(502, NOW)
        async with factory() as session:
            by_id = {r.id: r for r in await session.scalars(select(ReminderDelivery))}
            assert (by_id[first.id].status, by_id[first.id].message_id) == ("sent", 42)
            assert (by_id[second.id].status, by_id[second.id].reason) == ("failed",
                                                                          "interrupted")
            # Unlinking removes the account's settings and outbox rows; deleting the user
            # removes everything else of theirs.
            await session.execute(delete(LinkedAccount).where(LinkedAccount.id == ids[500]))
            await session.execute(delete(User).where(User.id == 501))
            await session.commit()
            assert await session.scalar(select(func.count()).select_from(
                ReminderSettingsRow)) == 0
            left = list(await session.scalars(select(ReminderDelivery.user_id)))
            assert left == [502]
    finally:
        await engine.dispose()


async def test_planning_in_batches_sees_every_account_once(bot_env: Any,
                                                           monkeypatch: Any) -> None:
    import bot.services.reminders as reminders
    from bot.services.reminders import ReminderService

    env = await bot_env()
    app = env.runtime.app
    await seed_demo_users(app.session_factory, app.catalog, 7, supplier="mrg_moscow",
                          first_id=700)
    moment = datetime(2026, 11, 15, 7, tzinfo=UTC)  # 10:00 in Москва: the window opens
    async with app.session_factory() as session:
        whole = await ReminderService(session, app).due_at(moment)
    monkeypatch.setattr(reminders, "PLAN_BATCH", 3)
    async with app.session_factory() as session:
        service = ReminderService(session, app)
        sizes = [len(rows) async for rows, _plans in service.plan_batches()]
        assert sizes == [3, 3, 1]
        assert await service.due_at(moment) == whole
        first = await service.enqueue_due(moment, now=moment)
        again = await service.enqueue_due(moment, now=moment)
    assert len(whole) == 7 and {item.user_id for item in whole} == set(range(700, 707))
    assert first.due == whole and first.new == 7
    assert set(first.statuses.values()) == {"pending"} and len(first.statuses) == 7
    assert again.new == 0 and again.statuses == first.statuses
