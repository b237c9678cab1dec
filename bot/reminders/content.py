"""The text and buttons of one reminder, in the user's language, decided at send time.

Two kinds ask the billing system first, because its answer changes what to do:
- a payment reminder is skipped when nothing is due (an overpaid account), shows the amount
  and the real due date otherwise, and teaches the settings the supplier's due day; when the
  billing system does not answer in time the reminder goes out without the amount (the due
  date does not wait for the supplier's system to come back);
- a new-receipt notice waits until the receipt is really there: the bot asks once a day from
  the 1st of the month to the 10th, then gives up (skipped, "no_receipt").
- a readings reminder is skipped for an account without meters ("no_meters") and once every
  meter has this period's reading, sent through the bot or elsewhere ("submitted"); when the
  billing system does not answer in time it goes out anyway (the window does not wait).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from aiogram import html
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n, ngettext
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.billing.errors import BillingError
from bot.billing.models import AccountRef, Balance, Period, ReadingSource, ReadingState
from bot.context import AppContext
from bot.db.models_accounts import LinkedAccount
from bot.db.repositories.readings import OutboxRepository
from bot.db.repositories.reminders import ReadyDelivery, ReminderRepository
from bot.i18n import LANGUAGES, fmt_day_month, fmt_money, fmt_period
from bot.keyboards.reminders import reminder_keyboard
from bot.reminders.models import (
    RECEIPT_LAST_DAY,
    ReadingsAnchor,
    ReminderKind,
    ReminderSettings,
    settings_from_row,
    settings_values,
)
from bot.reminders.planner import due_date
from bot.services.accounts import account_title, unit_name
from bot.suppliers.accounts import mask_account
from bot.suppliers.models import Supplier

logger = logging.getLogger(__name__)

# The billing system gets this long per reminder: the fan-out must not stall behind it.
BILLING_WAIT = 5.0
# A billing system that is down is asked again after this long (new-receipt notices).
_RETRY_BILLING = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Send:
    text: str
    markup: InlineKeyboardMarkup


@dataclass(frozen=True, slots=True)
class Defer:
    until: datetime
    reason: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Skip:
    reason: str


Prepared = Send | Defer | Skip


class ReminderContent:
    def __init__(self, app: AppContext, i18n: I18n, *, grace: timedelta,
                 billing_wait: float = BILLING_WAIT) -> None:
        self.app = app
        self.i18n = i18n
        self.grace = grace
        self.billing_wait = billing_wait

    async def prepare(self, row: ReadyDelivery, now: datetime) -> Prepared:
        async with self.app.session_factory() as session:
            repo = ReminderRepository(session)
            subject = await repo.subject(row.user_id, row.account_id)
            if subject is None:
                return Skip("gone")
            user, account, settings_row = subject
            settings = settings_from_row(settings_row)
            kind = ReminderKind(row.kind)
            if not settings.enabled(kind):
                return Skip("turned_off")  # turned off after the row was written
            supplier = self.app.catalog.get(account.supplier_code)
            if supplier is None:
                return Skip("no_supplier")
            lang = (user.language if user.language in LANGUAGES
                    else self.app.settings.default_locale)
            period = Period.parse(row.period)
            ref = AccountRef(account.supplier_code, account.number, account.unit)
            balance: Balance | None = None
            if kind is ReminderKind.PAYMENT:
                balance = await self._balance(ref)
                if balance is not None and balance.closing <= 0:
                    return Skip("nothing_due")
                if (balance is not None and balance.due_date is not None
                        and balance.due_date.day != settings.due_day):
                    await repo.learn_due_day(account.id, balance.due_date.day,
                                             settings_values(settings, now))
            elif kind is ReminderKind.READINGS:
                settled = await self._readings_settled(session, account, ref, period)
                if settled is not None:
                    return Skip(settled)
            elif kind is ReminderKind.RECEIPT:
                waiting = await self._receipt_wait(ref, period, row, now)
                if waiting is not None:
                    return waiting
        with self.i18n.context(), self.i18n.use_locale(lang):
            text = self._text(kind, account, supplier, settings, period, balance, lang)
            return Send(text, reminder_keyboard(kind, account.id))

    async def _balance(self, ref: AccountRef) -> Balance | None:
        try:
            connector = self.app.billing.for_supplier(ref.supplier_code)
            return await asyncio.wait_for(connector.get_balance(ref), self.billing_wait)
        except (BillingError, TimeoutError) as exc:
            logger.info("payment reminder without the amount: billing %s: %s",
                        ref.supplier_code, type(exc).__name__)
            return None

    async def _readings_settled(self, session: AsyncSession, account: LinkedAccount,
                                ref: AccountRef, period: Period) -> str | None:
        """Why a readings reminder has nothing to ask, or None when it has (or when the
        billing system cannot tell in time)."""
        try:
            connector = self.app.billing.for_supplier(ref.supplier_code)
            meters = await asyncio.wait_for(connector.get_meters(ref), self.billing_wait)
            if not meters:
                return "no_meters"
            done = await OutboxRepository(session).meters_submitted(account.id, str(period))
            for meter in meters:
                if meter.id in done:
                    continue
                records = await asyncio.wait_for(
                    connector.get_readings(ref, meter.id, period, period), self.billing_wait)
                if not any(r.period == period and r.source is ReadingSource.SUBSCRIBER
                           and r.state is not ReadingState.REJECTED for r in records):
                    return None
        except (BillingError, TimeoutError) as exc:
            logger.info("readings reminder sent unchecked: billing %s: %s",
                        ref.supplier_code, type(exc).__name__)
            return None
        return "submitted"

    async def _receipt_wait(self, ref: AccountRef, period: Period, row: ReadyDelivery,
                            now: datetime) -> Defer | Skip | None:
        """None when the receipt is out; otherwise when to look again, or to give up."""
        try:
            connector = self.app.billing.for_supplier(ref.supplier_code)
            periods = await asyncio.wait_for(connector.list_receipt_periods(ref),
                                             self.billing_wait)
        except (BillingError, TimeoutError):
            retry = now + _RETRY_BILLING
            return Defer(retry, "billing_unavailable", max(row.expires_at, retry + self.grace))
        if period in periods:
            return None
        # Same time of day tomorrow, until the last day the supplier may still issue it.
        tomorrow = row.scheduled_at + timedelta(days=((now - row.scheduled_at).days + 1))
        month = period.shift(1)
        last = datetime.combine(month.first_day().replace(day=RECEIPT_LAST_DAY),
                                row.scheduled_at.timetz())
        if tomorrow > last:
            return Skip("no_receipt")
        return Defer(tomorrow, "receipt_not_ready", tomorrow + self.grace)

    def _text(self, kind: ReminderKind, account: LinkedAccount, supplier: Supplier,
              settings: ReminderSettings, period: Period, balance: Balance | None,
              lang: str) -> str:
        title = account_title(account, supplier.display_name(lang),
                              unit_name(account, supplier, lang))
        about = f"<b>{html.quote(title)}</b> · <code>{mask_account(account.number)}</code>"
        if kind is ReminderKind.READINGS:
            start, end = supplier.readings.window.bounds(period.year, period.month)
            if settings.readings_anchor is ReadingsAnchor.START:
                head = _("📟 <b>Time to submit your gas meter readings</b>")
                rule = _("{supplier} accepts readings from {start} to {end}.").format(
                    supplier=html.quote(supplier.display_name(lang)),
                    start=fmt_day_month(start, lang), end=fmt_day_month(end, lang))
            else:
                left = (end - max(start, end - timedelta(
                    days=settings.readings_days_before))).days
                head = (_("📟 <b>Last day to submit your gas meter readings</b>") if left == 0
                        else ngettext(
                            "📟 <b>{n} day left to submit your gas meter readings</b>",
                            "📟 <b>{n} days left to submit your gas meter readings</b>",
                            left).format(n=left))
                rule = _("{supplier} accepts readings until {end} inclusive.").format(
                    supplier=html.quote(supplier.display_name(lang)),
                    end=fmt_day_month(end, lang))
            lines = [head, about, rule]
        elif kind is ReminderKind.PAYMENT:
            due = (balance.due_date if balance is not None and balance.due_date is not None
                   else due_date(settings, period.shift(1)))
            lines = [_("💳 <b>Payment is due by {date}</b>").format(
                date=fmt_day_month(due, lang)), about]
            if balance is not None:
                lines.append(_("Amount due: <b>{amount}</b>").format(
                    amount=fmt_money(max(balance.closing, Decimal(0)), lang)))
        else:
            lines = [_("🧾 <b>Your receipt for {period} is ready</b>").format(
                period=fmt_period(period.year, period.month, lang)), about]
        lines += ["", _("<i>Reminder settings: /reminders</i>")]
        return "\n".join(lines)
