from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import AppContext
from bot.db.models import User
from bot.db.repositories.users import UserRepository
from bot.services.errors import ForeignContact, InvalidEmail, InvalidPhone

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not EMAIL_RE.match(email):
        raise InvalidEmail(raw)
    return email


def normalize_phone(raw: str) -> str:
    digits = re.sub(r"\D", "", raw)
    if not 10 <= len(digits) <= 15:
        raise InvalidPhone(raw)
    return "+" + digits


def mask_phone(phone: str) -> str:
    """`+7 ••• ••• 12 34`: enough for the owner to recognise, useless to anyone else."""
    digits = re.sub(r"\D", "", phone)
    return f"+{digits[:-10] or ''} ••• ••• {digits[-4:-2]} {digits[-2:]}".replace("+ ", "+")


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}•••@{domain}"


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
