"""The readings outbox worker, and what a user is told about a reading's fate.

The worker runs in every bot process (`bot.background`). Each round it

1. gives up on readings older than the policy's `max_age` (marked failed),
2. makes one attempt at every reading that is due: queued ones whose backoff has passed,
   and claims abandoned by a process that died mid-attempt (same idempotency key: the
   billing system answers with the reading it may already have),
3. tells users about readings answered (or given up) since: accepted with the reference
   number, rejected with the reason, failed with what to do.

Several processes may run it at once: every step is a compare-and-set on the row
(`bot.db.repositories.readings`), so a reading is sent by one process at a time and each
piece of news is sent once. The texts live here because both the worker and the chat
(`handlers.readings`) word the same outcomes.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from aiogram import Bot, html
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from bot.background import cancel_and_wait, wait_event, wait_task
from bot.context import AppContext
from bot.db.models_readings import OutboxStatus, QueuedReading
from bot.db.repositories.readings import OutboxRepository
from bot.i18n import fmt_date, fmt_number
from bot.services.readings import DEFAULT_POLICY, OutboxPolicy, OutboxSender, split_values
from bot.suppliers.accounts import mask_account
from bot.suppliers.models import Supplier

__all__ = [
    "OutboxRound",
    "ReadingsOutboxWorker",
    "fmt_reading",
    "outcome_text",
    "rejection_reason",
    "values_text",
    "zone_label",
]

log = logging.getLogger(__name__)

# Readings attempted, and pieces of news sent, per round at most: a long outage's backlog
# drains over a few rounds instead of in one burst against the billing system and Telegram.
_BATCH: Final = 50


# --- words -------------------------------------------------------------------------------


def fmt_reading(value: Decimal, lang: str) -> str:
    """A reading or a consumption with exactly the digits it has (12 345,678)."""
    exponent = value.normalize().as_tuple().exponent
    decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return fmt_number(value, lang, decimals)


# A consumption in a list or a total: litres at most, whatever the dial shows (the
# Петербург meters have five decimals: 316,13120 beside 155,60064 was noise).
VOLUME_DECIMALS: Final = 3


def fmt_volume(value: Decimal, lang: str, decimals: int) -> str:
    """A consumption, rounded to the meter's decimals (`decimals`) but three at most, and
    written as readings are, without trailing zeros: «316,131», «155,6», «316»."""
    shown = max(0, min(decimals, VOLUME_DECIMALS))
    return fmt_reading(value.quantize(Decimal(1).scaleb(-shown), ROUND_HALF_UP), lang)


def zone_label(zone: str) -> str:
    """A tariff zone's name; the single zone of an ordinary meter has none."""
    if zone == "day":
        return _("day")
    if zone == "night":
        return _("night")
    return "" if zone == "total" else zone


def values_text(zones: Sequence[str], values: Sequence[Decimal], lang: str) -> str:
    """«12 345 m³», or «day 1 234 · night 567 m³» for a two-tariff meter (HTML)."""
    unit = _("m³")
    if len(values) == 1:
        return f"<b>{fmt_reading(values[0], lang)}</b> {unit}"
    parts = [f"{html.quote(zone_label(zone))} <b>{fmt_reading(value, lang)}</b>"
             for zone, value in zip(zones, values, strict=True)]
    return " · ".join(parts) + f" {unit}"


def _supplier_name(supplier: Supplier | None, lang: str, code: str) -> str:
    return html.quote(supplier.display_name(lang) if supplier is not None else code)


def rejection_reason(code: str, detail: str | None, supplier: Supplier | None,
                     lang: str) -> str:
    """Why the billing system refused a reading, from its code (docs/billing-api.yaml)."""
    if code == "out_of_window" and supplier is not None:
        window = supplier.readings.window
        return _("the submission window is closed: readings are accepted from the {start} "
                 "to the {end} day of the month").format(start=window.start_day,
                                                         end=window.end_day)
    if code == "out_of_window":
        return _("the submission window is closed")
    if code == "less_than_previous":
        previous = _decimal_or_none(detail)
        if previous is not None:
            return _("it is less than the previous accepted reading ({previous})").format(
                previous=fmt_reading(previous, lang))
        return _("it is less than the previous accepted reading")
    reasons = {
        "too_high": _("the consumption is above the maximum the supplier accepts for a period"),
        "zero_not_allowed": _("the supplier does not accept zero consumption"),
        "too_many_digits": _("it has more digits than the meter shows"),
        "decimals_not_allowed": _("it has more digits after the decimal point than the supplier "
                                  "accepts"),
        "already_submitted": _("a reading for this period has already been submitted, and "
                               "the supplier does not accept a second one"),
        "meter_not_found": _("the supplier does not know this meter any more (was it "
                             "replaced?)"),
        "account_not_found": _("the supplier no longer finds this account"),
    }
    return reasons.get(code, _("the supplier refused it as invalid"))


def _decimal_or_none(text: str | None) -> Decimal | None:
    try:
        value = Decimal((text or "").strip())
    except ArithmeticError:
        return None
    return value if value.is_finite() else None


def outcome_text(item: QueuedReading, supplier: Supplier | None, lang: str, *,
                 later: bool) -> str:
    """What the user is told about a stored reading: right after «Submit» (`later` False),
    or by the worker once the billing system has answered (`later` True)."""
    name = _supplier_name(supplier, lang, item.supplier_code)
    values = values_text(item.zones.split(","), split_values(item.values), lang)
    serial = html.quote(item.meter_serial)
    status = item.outbox_status
    if status is OutboxStatus.ACCEPTED:
        head = (_("✅ Your reading has reached <b>{supplier}</b> and was accepted.").format(
                    supplier=name) if later else _("✅ <b>Reading accepted</b>"))
        lines = [
            head,
            _("Meter № {serial} · account <code>{number}</code>").format(
                serial=serial, number=mask_account(item.number)),
            _("Reading: {values}").format(values=values),
        ]
        accepted = item.accepted_at or item.updated_at
        zone = supplier.zone if supplier is not None else UTC
        lines.append(_("Date: {date}").format(
            date=fmt_date(accepted.astimezone(zone).date(), lang)))
        if item.reference:
            lines.append(_("Reference number: <code>{reference}</code>").format(
                reference=html.quote(item.reference)))
        if item.billing_state == "pending":
            lines.append(_("The supplier will check it; it shows in the history as «pending» "
                           "until then."))
        return "\n".join(lines)
    if status is OutboxStatus.REJECTED:
        reason = rejection_reason(item.reject_code or "invalid", item.reject_detail, supplier,
                                  lang)
        return (_("❌ <b>{supplier}</b> did not accept the reading {values} of meter № "
                  "{serial}: {reason}.").format(supplier=name, values=values, serial=serial,
                                                reason=reason)
                + "\n\n" + _("Check the reading and send it again with /reading, or contact "
                             "the supplier."))
    if status is OutboxStatus.FAILED:
        return _("⚠️ I could not get <b>{supplier}</b> to confirm your reading {values} of "
                 "meter № {serial}: it has not answered for too long. Look at the meter's "
                 "history (/reading → «📜 History») and send the reading again if it is "
                 "not there.").format(supplier=name, values=values, serial=serial)
    if status is OutboxStatus.SENDING:
        return _("⏳ Your reading {values} is being sent to <b>{supplier}</b> right now. I "
                 "will write to you as soon as it is accepted.").format(values=values,
                                                                       supplier=name)
    return _("⏳ <b>{supplier}</b> is not responding right now. Your reading {values} is "
             "saved and will be sent automatically — I will write to you when the supplier "
             "accepts it. There is no need to send it again.").format(supplier=name,
                                                                      values=values)


# --- the worker --------------------------------------------------------------------------


@dataclass(slots=True)
class OutboxRound:
    """What one round did, for tests and the log."""

    expired: int = 0
    attempted: list[OutboxStatus] = field(default_factory=list)
    told: int = 0


class ReadingsOutboxWorker:
    """A `BackgroundService` (bot.background): a round at start, then every `interval`
    seconds. `run_once()` is one round, for tests and tools."""

    name = "readings-outbox"

    def __init__(self, app: AppContext, i18n: I18n, *, bot: Bot | None = None,
                 interval: float = 15.0, policy: OutboxPolicy = DEFAULT_POLICY,
                 batch: int = _BATCH, rand: Callable[[], float] = random.random) -> None:
        self.app = app
        self.i18n = i18n
        self.bot = bot
        self.interval = interval
        self.policy = policy
        self.batch = batch
        self.rand = rand
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self, bot: Bot) -> None:
        self.bot = bot
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        # A round in the middle of a billing call gets a moment to finish; cut off, its
        # reading stays claimed and is taken over after `stale_after`, with the same key.
        if not await wait_task(task, 10):
            log.warning("readings outbox stopped in the middle of a round")
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:
                log.exception("readings outbox round failed")
            await wait_event(self._stopping, self.interval)

    def _now(self) -> datetime:
        now = self.app.clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=UTC)

    async def run_once(self) -> OutboxRound:
        result = OutboxRound()
        now = self._now()
        stale_before = now - self.policy.stale_after
        async with self.app.session_factory() as session:
            repo = OutboxRepository(session)
            result.expired = await repo.expire(now - self.policy.max_age, stale_before, now)
            due = await repo.due(now, stale_before, self.batch)
        for item_id in due:
            if self._stopping.is_set():
                break
            async with self.app.session_factory() as session:
                sender = OutboxSender(session, self.app, self.policy, self.rand)
                item = await sender.attempt(item_id)
            if item is not None:
                result.attempted.append(item.outbox_status)
        if result.expired or result.attempted:
            log.info("readings outbox round: %d expired, %d attempted", result.expired,
                     len(result.attempted))
        result.told = await self.tell_users()
        return result

    async def tell_users(self) -> int:
        """Send the news of answered readings; returns how many messages went out."""
        if self.bot is None:
            return 0
        told = 0
        async with self.app.session_factory() as session:
            repo = OutboxRepository(session)
            for item, lang in await repo.untold(self.batch):
                if not await repo.claim_notification(item.id):
                    continue  # another process tells this one
                try:
                    await self._tell(item, lang)
                except (TelegramForbiddenError, TelegramBadRequest) as exc:
                    # Blocked by the user, or the chat is gone: no later try would do better.
                    log.info("reading news not delivered: %s", type(exc).__name__,
                             extra={"user_id": item.user_id, "reading": item.id})
                except (TelegramRetryAfter, TelegramNetworkError, TelegramAPIError) as exc:
                    log.warning("reading news postponed: %s", type(exc).__name__,
                                extra={"user_id": item.user_id, "reading": item.id})
                    await repo.unclaim_notification(item.id)
                    break
                else:
                    told += 1
        return told

    async def _tell(self, item: QueuedReading, lang: str) -> None:
        assert self.bot is not None
        supplier = self.app.catalog.get(item.supplier_code)
        with self.i18n.context(), self.i18n.use_locale(lang):
            text = outcome_text(item, supplier, lang, later=True)
        await self.bot.send_message(chat_id=item.user_id, text=text)
