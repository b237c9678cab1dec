"""Business rules. Services are bound to the update's database session by `Services`."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

if TYPE_CHECKING:
    from bot.context import AppContext
    from bot.services.accounts import AccountsService
    from bot.services.balance import BalanceService
    from bot.services.linking import LinkingService
    from bot.services.payments import PaymentsService
    from bot.services.readings import ReadingsService
    from bot.services.receipts import ReceiptsService
    from bot.services.reminders import ReminderService
    from bot.services.stats import StatsService
    from bot.services.support import SupportService
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

    @cached_property
    def balance(self) -> BalanceService:
        from bot.services.balance import BalanceService

        return BalanceService(self.session, self.app)

    @cached_property
    def payments(self) -> PaymentsService:
        from bot.services.payments import PaymentsService

        return PaymentsService(self.app)

    @cached_property
    def readings(self) -> ReadingsService:
        from bot.services.readings import ReadingsService

        return ReadingsService(self.session, self.app)

    @cached_property
    def receipts(self) -> ReceiptsService:
        from bot.services.receipts import ReceiptsService

        return ReceiptsService(self.app)

    @cached_property
    def reminders(self) -> ReminderService:
        from bot.services.reminders import ReminderService

        return ReminderService(self.session, self.app)

    @cached_property
    def support(self) -> SupportService:
        from bot.services.support import SupportService

        return SupportService(self.session, self.app)

    @cached_property
    def stats(self) -> StatsService:
        from bot.services.stats import StatsService

        return StatsService(self.session, self.app)
