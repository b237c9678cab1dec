"""Webhook mode: requests without the right secret token are refused; good ones handled."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
from aiohttp import web

from bot.runners import create_webhook_app, webhook_runner

SECRET = "s3cr3t-Token_value"


def start_update(update_id: int, user_id: int = 6001) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": int(time.time()), "text": "/start",
            "chat": {"id": user_id, "type": "private", "first_name": "A"},
            "from": {"id": user_id, "is_bot": False, "first_name": "A", "language_code": "en"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
        },
    }


async def test_webhook_secret_enforced(bot_env: Any, caplog: Any) -> None:
    """Refused requests are also in the access log; handled ones only in the event log."""
    env = await bot_env(mode="webhook", webhook_url="https://bot.example.org",
                        webhook_secret=SECRET)
    app = create_webhook_app(env.bot, env.dp, env.settings)
    runner = webhook_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}{env.settings.webhook_path}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(url, json=start_update(1)) as resp:
                assert resp.status in (401, 403)
            async with http.post(url, json=start_update(2),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as resp:
                assert resp.status in (401, 403)
            await asyncio.sleep(0.2)
            assert env.session.requests == [], "a refused update must not be handled"
            async with http.post(url, json=start_update(3),
                                 headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}) as resp:
                assert resp.status == 200
        for _ in range(100):
            if any(r.method == "sendMessage" for r in env.session.requests):
                break
            await asyncio.sleep(0.05)
        sent = [r for r in env.session.requests if r.method == "sendMessage"]
        assert sent and "Choose your language" in (sent[0].text or "")
        access = [r for r in caplog.records if r.name == "aiohttp.access"]
        assert [r.getMessage() for r in access] == [
            f"POST {env.settings.webhook_path} refused with {access[0].status}"] * 2, access
        assert access[0].status in (401, 403)
    finally:
        await runner.cleanup()


def test_settle_heap_freezes_what_start_up_built() -> None:
    import gc

    from bot.runners import GC_THRESHOLDS, settle_heap

    before = gc.get_threshold()
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        settle_heap()
        # Everything alive moved to the permanent generation; the collector sees nothing.
        assert gc.get_freeze_count() > 10_000
        assert gc.get_count()[2] == 0 and len(gc.get_objects(2)) == 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
