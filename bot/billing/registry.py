"""Which connector serves which supplier, per the catalog (`connector: demo | http`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.billing.base import BillingConnector
from bot.config import Settings
from bot.suppliers.models import Catalog, ConnectorKind


class BillingRegistry:
    """Builds connectors lazily, one per billing system (so an http connector's circuit
    breaker covers exactly one remote system), and closes them at shutdown."""

    def __init__(self, settings: Settings, catalog: Catalog,
                 session_factory: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime],
                 observe: Callable[[str, str, float], None] | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self.session_factory = session_factory
        self.clock = clock
        self.observe = observe  # billing call latency, for the metrics
        self._by_key: dict[str, BillingConnector] = {}
        self._overrides: dict[str, BillingConnector] = {}

    def override(self, supplier_code: str, connector: BillingConnector) -> None:
        """Tests and operators' tools swap one supplier's connector."""
        self._overrides[supplier_code] = connector

    def for_supplier(self, supplier_code: str) -> BillingConnector:
        if supplier_code in self._overrides:
            return self._overrides[supplier_code]
        supplier = self.catalog.get(supplier_code)
        if supplier is None:
            raise KeyError(supplier_code)
        if supplier.connector is ConnectorKind.HTTP:
            base_url = supplier.billing_url or self.settings.billing_url
            if base_url is None:
                raise KeyError(f"{supplier_code}: no billing_url and no BILLING_URL")
            key = f"http:{base_url}"
            if key not in self._by_key:
                from bot.billing.http import HttpBillingConnector

                token = self.settings.billing_token
                self._by_key[key] = HttpBillingConnector(
                    base_url=base_url,
                    token=token.get_secret_value() if token else None,
                    timeout=self.settings.billing_timeout,
                    observe=self.observe,
                )
            return self._by_key[key]
        if "demo" not in self._by_key:
            from bot.billing.demo import DemoBillingConnector

            self._by_key["demo"] = DemoBillingConnector(
                self.session_factory, self.catalog, self.clock
            )
        return self._by_key["demo"]

    async def close(self) -> None:
        for connector in self._by_key.values():
            await connector.close()
        self._by_key.clear()
