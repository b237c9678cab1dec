"""Support tickets and their threads: every SQL statement of the support feature."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models_support import SupportTicket, TicketMessage, TicketNumbers, TicketStatus


class SupportRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- reading ------------------------------------------------------------------------

    async def get(self, ticket_id: int) -> SupportTicket | None:
        return await self.session.get(SupportTicket, ticket_id)

    async def get_for_user(self, user_id: int, ticket_id: int) -> SupportTicket | None:
        """The ticket if it is the user's: ids come from callback data anyone can forge."""
        return await self.session.scalar(
            select(SupportTicket).where(
                SupportTicket.id == ticket_id, SupportTicket.user_id == user_id
            )
        )

    async def for_user(self, user_id: int, limit: int) -> list[SupportTicket]:
        """Newest first."""
        result = await self.session.scalars(
            select(SupportTicket)
            .where(SupportTicket.user_id == user_id)
            .order_by(SupportTicket.id.desc())
            .limit(limit)
        )
        return list(result)

    async def count_for_user(self, user_id: int, status: TicketStatus | None = None) -> int:
        query = select(func.count()).select_from(SupportTicket).where(
            SupportTicket.user_id == user_id
        )
        if status is not None:
            query = query.where(SupportTicket.status == status.value)
        return int(await self.session.scalar(query) or 0)

    async def count_open(self) -> int:
        return int(await self.session.scalar(
            select(func.count()).select_from(SupportTicket)
            .where(SupportTicket.status == TicketStatus.OPEN.value)
        ) or 0)

    async def by_support_message(self, chat_id: int, message_id: int) -> SupportTicket | None:
        """The ticket a message of the support chat belongs to: its post, a staff reply or a
        posted answer of the user."""
        ticket = await self.session.scalar(
            select(SupportTicket).where(
                SupportTicket.support_chat_id == chat_id,
                SupportTicket.support_message_id == message_id,
            )
        )
        if ticket is not None:
            return ticket
        ticket_id = await self.session.scalar(
            select(TicketMessage.ticket_id).where(
                TicketMessage.support_chat_id == chat_id,
                TicketMessage.support_message_id == message_id,
            ).limit(1)
        )
        return await self.get(ticket_id) if ticket_id is not None else None

    async def messages(self, ticket_id: int) -> list[TicketMessage]:
        result = await self.session.scalars(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(TicketMessage.id)
        )
        return list(result)

    # --- writing ------------------------------------------------------------------------

    async def create(self, *, user_id: int, topic: str, text: str, photo_file_id: str | None,
                     account_id: int | None, at: datetime) -> SupportTicket:
        # The row lock of this UPDATE orders concurrent tickets; the transaction's commit
        # below releases it.
        number = await self.session.scalar(
            update(TicketNumbers).where(TicketNumbers.id == 1)
            .values(last=TicketNumbers.last + 1).returning(TicketNumbers.last))
        ticket = SupportTicket(
            id=number, user_id=user_id, topic=topic, text=text, photo_file_id=photo_file_id,
            account_id=account_id, status=TicketStatus.OPEN.value, created_at=at,
        )
        self.session.add(ticket)
        await self.session.commit()
        return ticket

    async def set_post(self, ticket: SupportTicket, chat_id: int, message_id: int) -> None:
        ticket.support_chat_id = chat_id
        ticket.support_message_id = message_id
        await self.session.commit()

    async def add_message(self, *, ticket_id: int, author: str, text: str,
                          photo_file_id: str | None, support_chat_id: int | None,
                          support_message_id: int | None, at: datetime) -> TicketMessage:
        message = TicketMessage(
            ticket_id=ticket_id, author=author, text=text, photo_file_id=photo_file_id,
            support_chat_id=support_chat_id, support_message_id=support_message_id,
            created_at=at,
        )
        self.session.add(message)
        await self.session.commit()
        return message

    async def set_message_post(self, message: TicketMessage, chat_id: int,
                               message_id: int) -> None:
        message.support_chat_id = chat_id
        message.support_message_id = message_id
        await self.session.commit()

    async def close(self, ticket: SupportTicket, at: datetime) -> bool:
        """Close the ticket; False when it was already closed (a second /close, a race)."""
        result = await self.session.execute(
            update(SupportTicket)
            .where(SupportTicket.id == ticket.id,
                   SupportTicket.status == TicketStatus.OPEN.value)
            .values(status=TicketStatus.CLOSED.value, closed_at=at)
        )
        await self.session.commit()
        await self.session.refresh(ticket)
        return bool(getattr(result, "rowcount", 0))
