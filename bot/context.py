"""Application-wide objects, built once and handed to the dispatcher as keyword data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.models import utcnow
from bot.suppliers.models import Catalog

if TYPE_CHECKING:
    from bot.billing.registry import BillingRegistry


@dataclass(slots=True)
class AppContext:
    settings: Settings
    session_factory: async_sessionmaker[AsyncSession]
    catalog: Catalog
    billing: BillingRegistry
    clock: Callable[[], datetime] = field(default=utcnow)
