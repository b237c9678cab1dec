from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import ConsentEvent, User, utcnow


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def set_language(self, user_id: int, language: str) -> User:
        user = await self.get(user_id)
        if user is None:
            user = User(id=user_id, language=language)
            self.session.add(user)
        else:
            user.language = language
        await self.session.commit()
        return user

    async def give_consent(self, user: User, policy_version: str, at: datetime) -> None:
        user.consent_at = at
        user.consent_version = policy_version
        self.session.add(
            ConsentEvent(user_id=user.id, action="given", policy_version=policy_version, at=at)
        )
        await self.session.commit()

    async def set_phone(self, user: User, phone: str) -> None:
        user.phone = phone
        await self.session.commit()

    async def set_email(self, user: User, email: str | None) -> None:
        user.email = email
        await self.session.commit()

    async def mark_registered(self, user: User, at: datetime) -> None:
        user.registered_at = at
        await self.session.commit()

    async def delete_personal_data(self, user_id: int, policy_version: str) -> None:
        """Remove the user row (related rows go by ON DELETE CASCADE) and record the withdrawal."""
        await self.session.execute(delete(User).where(User.id == user_id))
        self.session.add(
            ConsentEvent(
                user_id=user_id, action="withdrawn", policy_version=policy_version, at=utcnow()
            )
        )
        await self.session.commit()

    async def consent_events(self, user_id: int) -> list[ConsentEvent]:
        result = await self.session.scalars(
            select(ConsentEvent).where(ConsentEvent.user_id == user_id).order_by(ConsentEvent.id)
        )
        return list(result)
