from __future__ import annotations

import re
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import AppContext
from bot.db.models import User
from bot.db.repositories.users import UserRepository
from bot.services.errors import ForeignContact, InvalidEmail, InvalidPhone

# Letters and digits of any script are allowed in the local part (RFC 6531: иван@почта.рф)
# and in domain labels (IDN); the TLD is letters, or a punycode label (xn--p1ai = рф).
_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_LABEL = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
EMAIL_RE = re.compile(
    rf"^{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:xn--[a-z0-9-]{{1,59}}|[^\W\d_]{{2,63}})$"
)
# How the stored domain must look once converted: ASCII labels only.
_ASCII_DOMAIN_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+"
                              r"(?:xn--[a-z0-9-]{1,59}|[a-z]{2,63})$")


def normalize_email(raw: str) -> str:
    """The address as stored: lower case, the domain in its ASCII (punycode) form.

    Why punycode: it is the one spelling of a domain that every mail server, billing system
    and database column takes, and «ivan@почта.рф» and «ivan@xn--80a1acny.xn--p1ai» are then
    the same stored address. The local part stays as typed (lower-cased): it has no ASCII
    form. Users see the domain decoded back (`display_email`, `mask_email`). The converter is
    Python's built-in "idna" codec; a label it cannot convert (or an xn-- label that is not
    valid punycode) is not an address.
    """
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidEmail(raw)
    local, _, domain = email.rpartition("@")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
        # Decoding checks the punycode labels the user typed or the codec produced.
        ascii_domain.encode("ascii").decode("idna")
    except UnicodeError:
        raise InvalidEmail(raw) from None
    email = f"{local}@{ascii_domain.lower()}"
    if len(email) > 254 or not _ASCII_DOMAIN_RE.match(ascii_domain.lower()):
        raise InvalidEmail(raw)
    return email


def display_email(email: str) -> str:
    """A stored address as people read it: the punycode domain decoded (ivan@почта.рф)."""
    local, _, domain = email.rpartition("@")
    try:
        return f"{local}@{domain.encode('ascii').decode('idna')}"
    except UnicodeError:
        return email


def email_forms(email: str) -> tuple[str, ...]:
    """The spellings a user may type their stored address in: ASCII and Unicode domain."""
    return tuple(dict.fromkeys((email, display_email(email))))


def normalize_phone(raw: str) -> str:
    """E.164 with its «+». A Russian mobile number in the domestic form (8 9XX …: no country
    code begins with 89) is given its country code; any other is taken as international."""
    digits = re.sub(r"\D", "", raw)
    if not 10 <= len(digits) <= 15:
        raise InvalidPhone(raw)
    if len(digits) == 11 and digits.startswith("89"):
        digits = "7" + digits[1:]
    return "+" + digits


def mask_phone(phone: str) -> str:
    """`+7 ••• ••• 12 34`: enough for the owner to recognise, useless to anyone else."""
    digits = re.sub(r"\D", "", phone)
    return f"+{digits[:-10] or ''} ••• ••• {digits[-4:-2]} {digits[-2:]}".replace("+ ", "+")


def mask_email(email: str) -> str:
    local, _, domain = display_email(email).rpartition("@")
    return f"{local[:1]}•••@{domain}"


class RegistrationStep(StrEnum):
    LANGUAGE = "language"
    CONSENT = "consent"
    PHONE = "phone"
    EMAIL = "email"


def registration_step(user: User | None) -> RegistrationStep:
    """Where an unfinished registration goes on from, by what is stored: a /cancel or a
    refused consent clears the conversation, not what the user already gave."""
    if user is None:
        return RegistrationStep.LANGUAGE
    if user.consent_at is None:
        return RegistrationStep.CONSENT
    if user.phone is None:
        return RegistrationStep.PHONE
    return RegistrationStep.EMAIL


class UserService:
    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.repo = UserRepository(session)
        self.app = app

    async def get(self, user_id: int) -> User | None:
        return await self.repo.get(user_id)

    async def choose_language(self, user_id: int, language: str) -> User:
        return await self.repo.set_language(user_id, language)

    async def give_consent(self, user: User) -> None:
        await self.repo.give_consent(
            user, self.app.settings.privacy_policy_version, self.app.clock()
        )

    async def save_contact(self, user: User, phone: str, contact_user_id: int | None) -> str:
        if contact_user_id != user.id:
            raise ForeignContact
        normalized = normalize_phone(phone)
        await self.repo.set_phone(user, normalized)
        return normalized

    async def save_email(self, user: User, raw: str) -> str:
        email = normalize_email(raw)
        await self.repo.set_email(user, email)
        return email

    async def clear_email(self, user: User) -> None:
        await self.repo.set_email(user, None)

    async def complete_registration(self, user: User) -> None:
        if user.registered_at is None:
            await self.repo.mark_registered(user, self.app.clock())

    async def delete_all_data(self, user_id: int) -> None:
        await self.repo.delete_personal_data(user_id, self.app.settings.privacy_policy_version)
