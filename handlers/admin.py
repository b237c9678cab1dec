"""Commands of the bot's admins (ADMIN_IDS), in a private chat: /stats.

For everybody else the router does not exist: its filter fails, and the command goes on to
the fallback like any unknown text.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router, html
from aiogram.enums import ChatType
from aiogram.filters import Command, Filter
from aiogram.types import Message, TelegramObject
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.i18n import fmt_number, fmt_period
from bot.services import Services
from bot.services.stats import Stats


class Admin(Filter):
    async def __call__(self, event: TelegramObject, services: Services,
                       event_from_user: Any = None) -> bool:
        return event_from_user is not None and services.stats.is_admin(event_from_user.id)


def stats_text(stats: Stats, lang: str) -> str:
    def n(value: int) -> str:
        return fmt_number(value, lang)

    def maybe(value: int | None) -> str:
        return n(value) if value is not None else _("not recorded yet")

    lines = [_("📊 <b>Statistics</b>"), ""]
    lines.append(_("Registered users: {count}").format(count=n(stats.registered_users)))
    lines.append(_("Linked accounts: {count}").format(count=n(stats.accounts_total)))
    lines += [f"  • {html.quote(item.name)}: {n(item.accounts)}" for item in stats.accounts]
    lines += ["", f"<b>{fmt_period(stats.period.year, stats.period.month, lang)}</b>"]
    lines.append(_("Meter readings submitted: {count} (accepted: {accepted})").format(
        count=maybe(stats.readings), accepted=maybe(stats.readings_accepted)))
    lines.append(_("Reminders sent: {sent}, failed: {failed}").format(
        sent=maybe(stats.reminders_sent), failed=maybe(stats.reminders_failed)))
    lines += ["", _("Open support tickets: {count}").format(count=n(stats.open_tickets))]
    return "\n".join(lines)


def build_router() -> Router:
    router = Router(name=__name__)
    router.message.filter(F.chat.type == ChatType.PRIVATE, Admin())

    @router.message(Command("stats"))
    async def stats(message: Message, services: Services, i18n: I18n) -> None:
        lang = i18n.current_locale  # the admin's language, registered or not
        await message.answer(stats_text(await services.stats.collect(lang), lang))

    return router
