"""Business rules. Services are bound to the update's database session by `Services`."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from bot.context import AppContext
    from bot.services.accounts import AccountsService
    from bot.services.linking import LinkingService
    from bot.services.users import UserService


class Services:
    """Per-update façade: handlers ask it for a service, services share one session."""

    def __init__(self, session: AsyncSession, app: AppContext) -> None:
        self.session = session
        self.app = app

    @cached_property
    def users(self) -> UserService:
        from bot.services.users import UserService

        return UserService(self.session, self.app)

    @cached_property
    def linking(self) -> LinkingService:
        from bot.services.linking import LinkingService

        return LinkingService(self.session, self.app)

    @cached_property
    def accounts(self) -> AccountsService:
        from bot.services.accounts import AccountsService

        return AccountsService(self.session, self.app)
