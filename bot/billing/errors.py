"""Typed failures of a billing system, mapped from whatever the connector speaks."""

from __future__ import annotations


class BillingError(Exception):
    """Base class; never shown raw to a user."""


class AccountNotFound(BillingError):
    pass


class ProofRejected(BillingError):
    def __init__(self, attempts_left: int | None = None) -> None:
        super().__init__(f"proof rejected (attempts left: {attempts_left})")
        self.attempts_left = attempts_left


class SupplierUnavailable(BillingError):
    """Timeouts, 5xx, an open circuit breaker: try later, keep the user's progress."""


class ReadingRejected(BillingError):
    """Codes: out_of_window, less_than_previous, too_high, zero_not_allowed, too_many_digits,
    decimals_not_allowed, already_submitted, meter_not_found, invalid."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(f"reading rejected: {code}" + (f" ({detail})" if detail else ""))
        self.code = code
        self.detail = detail


class ReceiptNotAvailable(BillingError):
    pass
