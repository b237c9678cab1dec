"""Linking a supplier account to a user: limits, lookup, and proof of ownership.

Repeated wrong proofs put the account (not the user) in a cooldown, enforced here from the
`link_attempts` table, so neither a second Telegram account nor a fresh conversation resets it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from bot.billing.errors import AccountNotFound, ProofRejected, SupplierUnavailable
from bot.billing.models import AccountInfo, AccountRef, Proof
from bot.context import AppContext
from bot.db.models_accounts import LinkedAccount
from bot.db.repositories.accounts import AccountRepository, AttemptRepository, LinkOutcome
from bot.services.errors import DomainError
from bot.suppliers.accounts import AccountError
from bot.suppliers.models import PinInfo, RegionGroup, Supplier
from bot.suppliers.search import search_suppliers

__all__ = [
    "COOLDOWN_WINDOW",
    "MAX_PROOF_FAILURES",
    "AccountNotFound",
    "AlreadyLinked",
    "InvalidAccountNumber",
    "InvalidPayment",
    "InvalidPin",
    "InvalidSurname",
    "LimitReached",
    "LimitScope",
    "LinkCooldown",
    "LinkingService",
    "SupplierLocked",
    "SupplierUnavailable",
    "WrongProof",
    "normalize_pin",
    "normalize_surname",
    "parse_payment",
]

MAX_PROOF_FAILURES: Final = 5
COOLDOWN_WINDOW: Final = timedelta(hours=1)
# Attempts older than this can no longer matter for a cooldown and are forgotten.
_ATTEMPTS_KEPT: Final = 2 * COOLDOWN_WINDOW


class LimitScope(StrEnum):
    SUPPLIER = "supplier"  # the supplier's own limit (Пермь: 3 accounts per cabinet)
    TOTAL = "total"  # the bot's limit over all suppliers


class LimitReached(DomainError):
    def __init__(self, scope: LimitScope, limit: int) -> None:
        super().__init__(f"{scope} limit of {limit} accounts reached")
        self.scope = scope
        self.limit = limit


class AlreadyLinked(DomainError):
    """The user has linked this very account already."""


class InvalidAccountNumber(DomainError):
    def __init__(self, error: AccountError) -> None:
        super().__init__(error.value)
        self.error = error


class InvalidPin(DomainError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "format": spaces, empty or too long | "shape": not this supplier's


class InvalidSurname(DomainError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "format" | "full_name" | "latin"


class InvalidPayment(DomainError):
    pass


class LinkCooldown(DomainError):
    """Too many wrong proofs for the account lately; nobody may try before `until`."""

    def __init__(self, until: datetime) -> None:
        super().__init__(f"cooldown until {until.isoformat()}")
        self.until = until


class WrongProof(DomainError):
    def __init__(self, attempts_left: int) -> None:
        super().__init__(f"wrong proof, {attempts_left} attempts left")
        self.attempts_left = attempts_left


class SupplierLocked(DomainError):
    """The supplier's own system has locked the account after wrong proofs: only the
    supplier can unlock it."""


# --- what the user types at the proof steps ----------------------------------------------

_PIN_MAX_LEN: Final = 64
_SURNAME_RE: Final = re.compile(r"^[^\W\d_]+(?:[-'’ ][^\W\d_]+)*$")
_SURNAME_MAX_LEN: Final = 60
# Currency words people add after an amount; the amount itself is what matters.
_CURRENCY_RE: Final = re.compile(r"(?:₽|руб\.?|р\.?|rub\.?|rur\.?)$", re.IGNORECASE)
_AMOUNT_RE: Final = re.compile(r"^[0-9]{1,9}(?:[.,][0-9]{1,2})?$")
_COMMA_GROUPED_RE: Final = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]{1,2})?")
_WORD_INITIAL_YO: Final = re.compile(r"(?<!\w)ё")


def normalize_pin(raw: str, info: PinInfo | None = None) -> str:
    """The secret as typed, trimmed; refused for free when it cannot be the supplier's PIN."""
    pin = raw.strip()
    if not pin or len(pin) > _PIN_MAX_LEN or any(ch.isspace() for ch in pin):
        raise InvalidPin("format")
    if info is not None and not info.could_be(pin):
        raise InvalidPin("shape")
    return pin


_CYRILLIC_RE: Final = re.compile(r"[а-яё]", re.IGNORECASE)


# Words that make a surname of two words («Де Голль», «фон Браун», «Мамедов оглы»); two words
# without one are the surname and the first name («Попов Иван»), which the supplier's
# comparison would refuse, spending an attempt.
_SURNAME_PARTICLES = frozenset({
    "ал", "аль", "ван", "да", "де", "дер", "ди", "дю", "дель", "делла", "ибн", "бен",
    "кызы", "ла", "ле", "мак", "о", "оглы", "сан", "улы", "фон", "эль",
})


def normalize_surname(raw: str) -> str:
    """The owner's surname as typed, with spacing tidied; the supplier compares it loosely."""
    surname = " ".join(raw.split())
    words = surname.split(" ")
    if len(words) > 2 or (len(words) == 2 and not _SURNAME_PARTICLES.intersection(
            word.lower().rstrip("’'") for word in words)):
        # «Иванов Иван Иванович», «Попов Иван»: the supplier wants the surname alone.
        raise InvalidSurname("full_name")
    if not surname or len(surname) > _SURNAME_MAX_LEN or not _SURNAME_RE.match(surname):
        raise InvalidSurname("format")
    if not _CYRILLIC_RE.search(surname):
        # Receipts print it in Cyrillic, and so does the supplier's system: «Zhuravleva»
        # would only spend one of the account's attempts.
        raise InvalidSurname("latin")
    return surname


_UNIT_STOPWORDS = frozenset({"уэгх", "управление", "unit", "gas", "facilities", "the"})


def find_units(supplier: Supplier, text: str) -> list[int]:
    """The supplier's units (indexes into `supplier.units`) a typed name points to: «Керчь»,
    «керченское», «Kerch». Every word matches by its stem (its ending cut off: «Керчь» is
    in «Керченское»), in either language's name."""
    words = [w for w in re.findall(r"\w+", text.casefold()) if w not in _UNIT_STOPWORDS]
    stems = [w[:max(3, len(w) - 2)] for w in words]
    if not stems:
        return []
    return [index for index, unit in enumerate(supplier.units)
            if all(any(stem in name.casefold() for name in (unit.name.ru, unit.name.en))
                   for stem in stems)]


def parse_payment(raw: str, *, comma_groups: bool = False) -> Decimal:
    """«1 250,50», «1250.5 руб.», «0» → Decimal. Either separator: people copy amounts from
    receipts (comma) and from banking apps (dot). Thousands grouped with commas as English
    writes them: «1,433.25» always, «1,433» when `comma_groups` (an English user)."""
    text = re.sub(r"[\s\u00a0\u202f]+", "", raw)
    text = _CURRENCY_RE.sub("", text)
    if _COMMA_GROUPED_RE.fullmatch(text) and ("." in text or comma_groups):
        text = text.replace(",", "")
    if not _AMOUNT_RE.match(text):
        raise InvalidPayment
    try:
        return Decimal(text.replace(",", ".")).quantize(Decimal("0.01"))
    except InvalidOperation as exc:  # pragma: no cover - the regular expression rules it out
        raise InvalidPayment from exc


@dataclass(frozen=True, slots=True)
class ProofStatus:
    """The account's recent attempts as the cooldown rule sees them."""

    failures: int  # failures counting towards the next cooldown
    locked_until: datetime | None

    @property
    def attempts_left(self) -> int:
        return max(0, MAX_PROOF_FAILURES - self.failures)


class LinkingService:
    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.accounts = AccountRepository(session)
        self.attempts = AttemptRepository(session)
        self.app = app

    # --- the catalog ---------------------------------------------------------------------

    def supplier(self, code: str | None) -> Supplier | None:
        return self.app.catalog.get(code) if code else None

    def search(self, query: str, lang: str) -> list[Supplier]:
        found = search_suppliers(self.app.catalog, query, lang)
        if not found and "ё" in query.casefold():
            # «Ёшкар-Ола»: people write the sound «йо» at the start of a word as «ё». The
            # search folds ё into е, which finds «Ёлки» typed as «елки» but not this.
            respelled = _WORD_INITIAL_YO.sub("йо", query.casefold())
            found = search_suppliers(self.app.catalog, respelled, lang)
        return found

    def regions(self, lang: str) -> list[tuple[int, RegionGroup]]:
        """Regions sorted for `lang`, each with an index that does not depend on the language
        (buttons carry it, and the user may switch languages between showing and tapping)."""
        stable = {group.region.ru: index
                  for index, group in enumerate(self.app.catalog.by_region("ru"))}
        return [(stable[group.region.ru], group) for group in self.app.catalog.by_region(lang)]

    def region(self, index: int) -> RegionGroup | None:
        groups = self.app.catalog.by_region("ru")
        return groups[index] if 0 <= index < len(groups) else None

    def check_number(self, supplier: Supplier, raw: str) -> str:
        check = supplier.account.validate(raw)
        if check.error is not None:
            raise InvalidAccountNumber(check.error)
        assert check.number is not None
        return check.number

    # --- limits --------------------------------------------------------------------------

    @property
    def total_limit(self) -> int:
        return self.app.settings.max_accounts_per_user

    async def ensure_room(self, user_id: int, supplier: Supplier | None = None) -> None:
        """Early refusal, before the user types anything for nothing; `link` checks again
        under a lock, since another conversation may take the slot meanwhile."""
        if await self.accounts.count(user_id) >= self.total_limit:
            raise LimitReached(LimitScope.TOTAL, self.total_limit)
        if supplier is None or supplier.max_accounts is None:
            return
        if await self.accounts.count(user_id, supplier.code) >= supplier.max_accounts:
            raise LimitReached(LimitScope.SUPPLIER, supplier.max_accounts)

    # --- cooldown ------------------------------------------------------------------------

    def account_key(self, ref: AccountRef) -> str:
        """A keyed hash: account numbers have 8-12 digits, so a plain hash of one would be
        reversed by trying them all; without the bot's secret it cannot."""
        secret = self.app.settings.bot_token.get_secret_value().encode()
        key = hashlib.sha256(b"gasbot/link-attempts\0" + secret).digest()
        message = f"{ref.supplier_code}\0{ref.unit or ''}\0{ref.number}".encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    async def proof_status(self, ref: AccountRef) -> ProofStatus:
        """5 failures within an hour lock the account for an hour from the 5th failure.

        Failures before the latest success do not count (the owner got in). Attempts are
        refused, not recorded, while the account is locked, so the last failure is the one
        that locked it; once the hour is over, the count starts afresh.
        """
        now = self.app.clock()
        attempts = await self.attempts.recent(self.account_key(ref), now - _ATTEMPTS_KEPT)
        failures: list[datetime] = []
        for attempt in attempts:
            if attempt.success:
                failures.clear()
            else:
                failures.append(attempt.at)
        if failures:
            last = failures[-1]
            streak = [at for at in failures if at > last - COOLDOWN_WINDOW]
            if len(streak) >= MAX_PROOF_FAILURES and now < last + COOLDOWN_WINDOW:
                return ProofStatus(len(streak), last + COOLDOWN_WINDOW)
        return ProofStatus(sum(1 for at in failures if at > now - COOLDOWN_WINDOW), None)

    async def _ensure_not_locked(self, ref: AccountRef) -> None:
        status = await self.proof_status(ref)
        if status.locked_until is not None:
            raise LinkCooldown(status.locked_until)

    async def _record(self, ref: AccountRef, user_id: int, success: bool) -> None:
        now = self.app.clock()
        await self.attempts.record(self.account_key(ref), user_id, now, success,
                                   forget_before=now - _ATTEMPTS_KEPT)

    # --- the steps -----------------------------------------------------------------------

    async def lookup(self, user_id: int, ref: AccountRef) -> AccountInfo:
        """Find the account at the supplier. Raises AlreadyLinked, LinkCooldown,
        AccountNotFound or SupplierUnavailable."""
        if await self.accounts.find(user_id, ref.supplier_code, ref.number, ref.unit):
            raise AlreadyLinked
        await self._ensure_not_locked(ref)
        return await self.app.billing.for_supplier(ref.supplier_code).find_account(ref)

    async def link(self, user_id: int, ref: AccountRef, proof: Proof,
                   info: AccountInfo | None = None) -> LinkedAccount:
        """Check the proof with the supplier and link the account within the limits.

        `info` is what `lookup` returned; without it the account is looked up again. Raises
        LimitReached, AlreadyLinked, LinkCooldown, WrongProof, SupplierLocked,
        AccountNotFound or SupplierUnavailable.
        """
        supplier = self.supplier(ref.supplier_code)
        if supplier is None:
            raise AccountNotFound(ref.supplier_code)
        if not supplier.accepts(proof.kind):
            raise ValueError(f"{supplier.code} does not accept {proof.kind}")
        # Refuse before spending one of the account's attempts on a link that cannot happen.
        await self.ensure_room(user_id, supplier)
        if await self.accounts.find(user_id, ref.supplier_code, ref.number, ref.unit):
            raise AlreadyLinked
        await self._ensure_not_locked(ref)
        connector = self.app.billing.for_supplier(ref.supplier_code)
        if info is None:
            info = await connector.find_account(ref)
        try:
            await connector.verify_ownership(ref, proof)
        except ProofRejected as exc:
            await self._record(ref, user_id, success=False)
            status = await self.proof_status(ref)
            if status.locked_until is not None:
                raise LinkCooldown(status.locked_until) from exc
            if exc.attempts_left is not None and exc.attempts_left <= 0:
                raise SupplierLocked from exc
            left = status.attempts_left
            if exc.attempts_left is not None:
                left = min(left, exc.attempts_left)
            raise WrongProof(left) from exc
        await self._record(ref, user_id, success=True)
        outcome, account = await self.accounts.add_within_limits(
            user_id=user_id,
            supplier_code=ref.supplier_code,
            number=ref.number,
            unit=ref.unit,
            owner_masked=info.owner_masked,
            address_masked=info.address_masked,
            at=self.app.clock(),
            supplier_limit=supplier.max_accounts,
            total_limit=self.total_limit,
        )
        if outcome is LinkOutcome.DUPLICATE:
            raise AlreadyLinked
        if outcome is LinkOutcome.TOTAL_FULL:
            raise LimitReached(LimitScope.TOTAL, self.total_limit)
        if outcome is LinkOutcome.SUPPLIER_FULL:
            assert supplier.max_accounts is not None
            raise LimitReached(LimitScope.SUPPLIER, supplier.max_accounts)
        assert account is not None
        return account
