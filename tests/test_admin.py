"""/stats for the admins of ADMIN_IDS: users, accounts per supplier, this month's readings and
reminders, open tickets. For anybody else the command does not exist."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.db.models import Base
from bot.services import Services
from tests.conftest import TEST_TOKEN
from tests.test_groups import GroupMember, answers
from tests.test_linking import Clock, entries, link_directly, register

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
THIS_MONTH = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
LAST_MONTH = datetime(2026, 10, 30, 9, 0, tzinfo=UTC)


async def _seed(env: Any) -> tuple[int, int]:
    """Two registered users, one halfway; three accounts; tickets; readings; reminders."""
    for user_id in (6702, 6703):
        await register(env.client(user_id=user_id))
    await env.client(user_id=6704).send("/start")  # not registered
    perm = await entries(env, "mrg_perm")
    sevgas = await entries(env, "sevgas")
    a = await link_directly(env, 6702, perm[0])
    await link_directly(env, 6703, perm[1])
    await link_directly(env, 6703, sevgas[0])
    async with env.runtime.app.session_factory() as session:
        services = Services(session, env.runtime.app)
        await services.support.open_ticket(6702, "payments", "Вопрос об оплате", None, None)
        closed = await services.support.open_ticket(6703, "other", "Другой вопрос", None, None)
        await services.support.close(closed)
        readings = Base.metadata.tables.get("readings_outbox")
        if readings is not None:
            rows = []
            for index, (status, at) in enumerate([("accepted", THIS_MONTH),
                                                   ("queued", THIS_MONTH),
                                                   ("rejected", THIS_MONTH),
                                                   ("accepted", LAST_MONTH)]):
                rows.append({"user_id": 6702, "account_id": a.id, "supplier_code": "mrg_perm",
                             "number": a.number, "meter_id": "m1", "meter_serial": "S1",
                             "zones": "total", "values": "123", "period": "2026-11",
                             "idempotency_key": f"k{index}", "status": status,
                             "attempts": 1, "next_attempt_at": at, "created_at": at,
                             "updated_at": at})
            await session.execute(readings.insert(), rows)
        deliveries = Base.metadata.tables.get("reminder_deliveries")
        if deliveries is not None:
            rows = []
            for index, (status, at) in enumerate([("sent", THIS_MONTH), ("sent", THIS_MONTH),
                                                   ("failed", THIS_MONTH),
                                                   ("paused", THIS_MONTH),
                                                   ("pending", THIS_MONTH),
                                                   ("sent", LAST_MONTH)]):
                rows.append({"kind": f"k{index}", "user_id": 6702, "account_id": a.id,
                             "period": "2026-11", "scheduled_at": at, "expires_at": NOW,
                             "status": status, "attempts": 1, "next_attempt_at": at,
                             "created_at": at, "updated_at": at})
            await session.execute(deliveries.insert(), rows)
        await session.commit()
    return a.id, closed.id


async def test_admin_sees_the_numbers(bot_env: Any) -> None:
    env = await bot_env(admin_ids="6701")
    await _seed(env)
    env.runtime.app.clock = Clock(NOW)
    admin = env.client(user_id=6701)  # an admin need not be a registered user
    await admin.send("/stats")
    text = admin.last_text()
    assert text.startswith("📊 <b>Статистика</b>")
    assert "Зарегистрированных пользователей: 2" in text
    assert "Привязанных счетов: 3" in text
    assert "  • Газпром межрегионгаз Пермь: 2\n  • Севгаз: 1" in text
    assert "<b>ноябрь 2026</b>" in text
    assert "Открытых обращений в поддержку: 1" in text
    if "readings_outbox" in Base.metadata.tables:
        assert "Передано показаний: 3 (принято: 1)" in text
    else:
        assert "Передано показаний: пока не учитывается" in text
    if "reminder_deliveries" in Base.metadata.tables:
        assert "Напоминаний отправлено: 2, не доставлено: 2" in text
    else:
        assert "пока не учитывается" in text


async def test_stats_in_english(bot_env: Any) -> None:
    env = await bot_env(admin_ids=[6705])
    admin = env.client(user_id=6705, language_code="en")
    await admin.send("/stats")
    text = admin.last_text()
    assert "Registered users: 0" in text and "Open support tickets: 0" in text


async def test_non_admins_do_not_have_the_command(bot_env: Any) -> None:
    env = await bot_env(admin_ids="6701")
    user = env.client(user_id=6706)
    await register(user)
    await user.send("/stats")
    assert "Статистика" not in user.last_text()
    assert "Я не знаю команды /stats" in user.last_text()
    stranger = env.client(user_id=6707)
    await stranger.send("/stats")
    assert stranger.last_text() == "Чтобы начать, отправьте /start."
    # Not in groups either, admin or not.
    admin_in_group = GroupMember(env, 6701)
    assert answers(await admin_in_group.send("/stats@gas_test_bot")) == []


def test_admin_ids_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", " 11, 22 ,33")
    monkeypatch.setenv("SUPPORT_CHAT_ID", "-1002220005550")
    settings = load_settings(_env_file=None, bot_token=TEST_TOKEN)
    assert settings.admin_ids == (11, 22, 33)
    assert settings.support_chat_id == -1002220005550
    monkeypatch.setenv("ADMIN_IDS", "")
    monkeypatch.setenv("SUPPORT_CHAT_ID", "")
    settings = load_settings(_env_file=None, bot_token=TEST_TOKEN)
    assert settings.admin_ids == () and settings.support_chat_id is None
    monkeypatch.setenv("ADMIN_IDS", "11;@admin")
    with pytest.raises(ConfigError, match=r"^ADMIN_IDS: must be Telegram user ids"):
        load_settings(_env_file=None, bot_token=TEST_TOKEN)
