"""A user's linked accounts: listing, names, the default account, unlinking.

Other features start here to know which accounts a user has (`default`, `get`, `ref`).
"""

from __future__ import annotations

import unicodedata

from sqlalchemy.ext.asyncio import AsyncSession

from bot.billing.models import AccountRef
from bot.context import AppContext
from bot.db.models_accounts import ALIAS_MAX_LEN, LinkedAccount
from bot.db.repositories.accounts import AccountRepository
from bot.services.errors import DomainError
from bot.suppliers.accounts import mask_account
from bot.suppliers.models import Supplier


class InvalidAlias(DomainError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "empty" | "too_long"


class AccountGone(DomainError):
    """The account is not (or no longer) linked to this user: a stale or forged button."""


def normalize_alias(raw: str) -> str:
    """Spacing tidied, control and format characters dropped (they would garble lists)."""
    cleaned = "".join(ch for ch in raw if unicodedata.category(ch)[0] != "C")
    alias = " ".join(cleaned.split())
    if not alias:
        raise InvalidAlias("empty")
    if len(alias) > ALIAS_MAX_LEN:
        raise InvalidAlias("too_long")
    return alias


def unit_name(account: LinkedAccount, supplier: Supplier | None, lang: str) -> str | None:
    """The name of the account's management unit (УЭГХ) in `lang`; None for a supplier
    without units. A unit the catalog no longer lists is named by its code."""
    if not account.unit:
        return None
    unit = supplier.unit(account.unit) if supplier is not None else None
    return unit.name.get(lang) if unit is not None else account.unit


def account_title(account: LinkedAccount, supplier_name: str, unit: str | None = None) -> str:
    """How an account is called in lists and buttons: its alias, else the supplier's name,
    then the management unit where the supplier has them: the same number may exist in two
    units, and two buttons «Крымгазсети · •••• 8700» could not be told apart.
    Plain text: escape it before putting it in HTML."""
    name = account.alias or supplier_name
    return f"{name} · {unit}" if unit else name


def masked_number(account: LinkedAccount) -> str:
    return mask_account(account.number)


class AccountsService:
    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.repo = AccountRepository(session)
        self.app = app

    async def list_for(self, user_id: int) -> list[LinkedAccount]:
        """Oldest first, so the order stays put when the default changes."""
        return await self.repo.for_user(user_id)

    async def get(self, user_id: int, account_id: int) -> LinkedAccount | None:
        return await self.repo.get(user_id, account_id)

    async def default(self, user_id: int) -> LinkedAccount | None:
        accounts = await self.repo.for_user(user_id)
        return next((a for a in accounts if a.is_default), accounts[0] if accounts else None)

    async def count(self, user_id: int) -> int:
        return await self.repo.count(user_id)

    @staticmethod
    def ref(account: LinkedAccount) -> AccountRef:
        return AccountRef(account.supplier_code, account.number, account.unit)

    def supplier_name(self, account: LinkedAccount, lang: str) -> str:
        supplier = self.app.catalog.get(account.supplier_code)
        # A supplier the operator has since disabled still deserves a readable line.
        return supplier.display_name(lang) if supplier else account.supplier_code

    def unit_name(self, account: LinkedAccount, lang: str) -> str | None:
        return unit_name(account, self.app.catalog.get(account.supplier_code), lang)

    def title(self, account: LinkedAccount, lang: str) -> str:
        return account_title(account, self.supplier_name(account, lang),
                             self.unit_name(account, lang))

    def where(self, account: LinkedAccount, lang: str) -> str:
        """The supplier's name, with the management unit where it has them."""
        unit = self.unit_name(account, lang)
        name = self.supplier_name(account, lang)
        return f"{name} · {unit}" if unit else name

    async def _own(self, user_id: int, account_id: int) -> LinkedAccount:
        account = await self.repo.get(user_id, account_id)
        if account is None:
            raise AccountGone
        return account

    async def rename(self, user_id: int, account_id: int, raw: str | None) -> LinkedAccount:
        """Give the account a name, or remove it (`raw` None)."""
        account = await self._own(user_id, account_id)
        await self.repo.rename(account, normalize_alias(raw) if raw is not None else None)
        return account

    async def make_default(self, user_id: int, account_id: int) -> LinkedAccount:
        account = await self._own(user_id, account_id)
        await self.repo.set_default(user_id, account_id)
        return account

    async def unlink(self, user_id: int, account_id: int) -> LinkedAccount | None:
        """Remove the account; returns the account that became the default instead of it,
        if it was the default and another one is left."""
        removed, successor = await self.repo.remove(user_id, account_id)
        if not removed:
            raise AccountGone
        return successor
