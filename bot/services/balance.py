"""Balance and histories of linked accounts: what the supplier's billing says, fetched for
the handlers of /balance and the payments, charges and details views.

A supplier that does not answer, or no longer knows an account, is a normal outcome here,
not an exception: every call returns a `Fetched` whose `failure` the handler words.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from bot.billing.base import BillingConnector
from bot.billing.errors import AccountNotFound, SupplierUnavailable
from bot.billing.models import AccountDetails, AccountRef, Balance, Charge, Payment, Period
from bot.context import AppContext
from bot.db.models_accounts import LinkedAccount
from bot.services.accounts import AccountsService, masked_number
from bot.suppliers.models import Supplier

__all__ = [
    "CHARGE_MONTHS",
    "PAYMENT_YEARS",
    "BalanceService",
    "ChargeHistory",
    "Failure",
    "Fetched",
    "is_overdue",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Payment history offers the current year and this many before it (the portals keep about as
# much; the demo billing keeps two years).
PAYMENT_YEARS: Final = 3
# «Charges of the last 12 months»: the 12 newest billed months.
CHARGE_MONTHS: Final = 12


class Failure(StrEnum):
    UNAVAILABLE = "unavailable"  # timeouts, 5xx, an open circuit, a supplier no longer served
    NOT_FOUND = "not_found"  # the supplier no longer knows the account (merged, closed)


@dataclass(frozen=True, slots=True)
class Fetched(Generic[T]):
    """What the billing answered for one account: a value, or why there is none."""

    account: LinkedAccount
    supplier: Supplier | None  # None: the operator has since removed it from the catalog
    value: T | None = None
    failure: Failure | None = None


def is_overdue(balance: Balance, today: date) -> bool:
    """Money is owed and its due date has passed; paying on the due date itself is on time.
    `today` is the supplier's (`BalanceService.today`)."""
    return balance.closing > 0 and balance.due_date is not None and today > balance.due_date


@dataclass(frozen=True, slots=True)
class ChargeHistory:
    start: Period
    end: Period
    charges: tuple[Charge, ...]  # oldest first, as the connector gives them


class BalanceService:
    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.app = app
        self.accounts = AccountsService(session, app)

    # --- which accounts --------------------------------------------------------------------

    async def list_for(self, user_id: int) -> list[LinkedAccount]:
        return await self.accounts.list_for(user_id)

    async def target(self, user_id: int, account_id: int | None = None) -> LinkedAccount | None:
        """The account asked for (only if it is the user's), or the default one."""
        if account_id is None:
            return await self.accounts.default(user_id)
        return await self.accounts.get(user_id, account_id)

    async def card_target(self, user_id: int, account_id: int | None = None
                          ) -> tuple[LinkedAccount | None, LinkedAccount | None, bool]:
        """For a balance card, with one query: the account asked for (only if it is the
        user's; None without `account_id`), the default account, and whether the user has
        several accounts (the card then offers the others)."""
        accounts = await self.accounts.list_for(user_id)
        asked = next((a for a in accounts if a.id == account_id), None)
        default = next((a for a in accounts if a.is_default), accounts[0] if accounts else None)
        return asked, default, len(accounts) > 1

    def supplier(self, account: LinkedAccount) -> Supplier | None:
        return self.app.catalog.get(account.supplier_code)

    def today(self, account: LinkedAccount) -> date:
        """The supplier's today: its billing months turn over in its own time zone."""
        supplier = self.supplier(account)
        now = self.app.clock()
        return now.astimezone(supplier.zone).date() if supplier is not None else now.date()

    def overdue(self, account: LinkedAccount, balance: Balance) -> bool:
        """Whether the account's `balance` is past its due date today, the supplier's today."""
        return is_overdue(balance, self.today(account))

    def payment_years(self, account: LinkedAccount) -> list[int]:
        """The years the payment history offers, oldest first."""
        year = self.today(account).year
        return list(range(year - PAYMENT_YEARS, year + 1))

    # --- billing calls ---------------------------------------------------------------------

    async def balance(self, account: LinkedAccount) -> Fetched[Balance]:
        """The current period's balance."""
        return await self._fetch(account, "balance",
                                 lambda connector, ref: connector.get_balance(ref))

    async def balances(self, accounts: Sequence[LinkedAccount]) -> list[Fetched[Balance]]:
        """Every account's balance, asked in parallel: one slow supplier delays, not blocks."""
        return list(await asyncio.gather(*(self.balance(account) for account in accounts)))

    async def payments(self, account: LinkedAccount, year: int) -> Fetched[list[Payment]]:
        return await self._fetch(account, "payments",
                                 lambda connector, ref: connector.get_payments(ref, year))

    def charge_window(self, account: LinkedAccount) -> tuple[Period, Period]:
        """One month more than shown: the current month is usually not billed yet, and then
        the 12 before it are the last 12 billed months."""
        current = Period.of(self.today(account))
        return current.shift(-CHARGE_MONTHS), current

    async def charges(self, account: LinkedAccount) -> Fetched[ChargeHistory]:
        """The charges of the 12 newest billed months of the window."""
        start, end = self.charge_window(account)
        fetched = await self._fetch(account, "charges",
                                    lambda connector, ref: connector.get_charges(ref, start, end))
        if fetched.value is None:
            return Fetched(account, fetched.supplier, failure=fetched.failure)
        kept = sorted({charge.period for charge in fetched.value})[-CHARGE_MONTHS:]
        charges = tuple(charge for charge in fetched.value if charge.period in kept)
        first = kept[0] if kept else end.shift(1 - CHARGE_MONTHS)
        return Fetched(account, fetched.supplier, ChargeHistory(first, end, charges))

    async def details(self, account: LinkedAccount) -> Fetched[AccountDetails]:
        """The account's characteristics; the caller shows them only to the account's owner
        in a private chat (they hold the full name and address)."""
        return await self._fetch(account, "details",
                                 lambda connector, ref: connector.get_account_details(ref))

    async def _fetch(self, account: LinkedAccount, what: str,
                     call: Callable[[BillingConnector, AccountRef], Awaitable[T]]) -> Fetched[T]:
        supplier = self.supplier(account)
        try:
            connector = self.app.billing.for_supplier(account.supplier_code)
        except KeyError:
            # Removed from the catalog, or an http supplier without a billing URL: nothing
            # the user can fix, and the operator may bring it back.
            logger.warning("%s: no billing connector for supplier %s", what,
                           account.supplier_code)
            return Fetched(account, supplier, failure=Failure.UNAVAILABLE)
        try:
            value = await call(connector, self.accounts.ref(account))
        except SupplierUnavailable as exc:
            logger.warning("%s: supplier %s unavailable for account %s: %s", what,
                           account.supplier_code, masked_number(account), exc)
            return Fetched(account, supplier, failure=Failure.UNAVAILABLE)
        except AccountNotFound:
            logger.warning("%s: supplier %s no longer knows account %s", what,
                           account.supplier_code, masked_number(account))
            return Fetched(account, supplier, failure=Failure.NOT_FOUND)
        return Fetched(account, supplier, value)
