from __future__ import annotations

from typing import Protocol, runtime_checkable

from bot.billing.models import (
    AccountDetails,
    AccountInfo,
    AccountRef,
    Balance,
    Charge,
    Meter,
    Payment,
    Period,
    Proof,
    ReadingAck,
    ReadingRecord,
    ReadingSubmission,
    ReceiptData,
)


@runtime_checkable
class BillingConnector(Protocol):
    """One supplier billing system. Every method may raise `SupplierUnavailable`; methods on an
    account raise `AccountNotFound` for an unknown one."""

    async def find_account(self, ref: AccountRef) -> AccountInfo: ...

    async def verify_ownership(self, ref: AccountRef, proof: Proof) -> None:
        """Raises `ProofRejected` (with attempts left, when the supplier counts them)."""

    async def get_balance(self, ref: AccountRef, period: Period | None = None) -> Balance:
        """The given period, or the current one."""

    async def get_payments(self, ref: AccountRef, year: int) -> list[Payment]: ...

    async def get_charges(self, ref: AccountRef, start: Period, end: Period) -> list[Charge]:
        """Charges of the periods from start to end inclusive, oldest first."""

    async def get_account_details(self, ref: AccountRef) -> AccountDetails: ...

    async def get_meters(self, ref: AccountRef) -> list[Meter]: ...

    async def submit_reading(self, ref: AccountRef, submission: ReadingSubmission) -> ReadingAck:
        """Idempotent by `submission.idempotency_key`: a repeated key returns the first ack.
        Raises `ReadingRejected` with a reason code."""

    async def get_readings(self, ref: AccountRef, meter_id: str, start: Period,
                           end: Period) -> list[ReadingRecord]: ...

    async def get_receipt(self, ref: AccountRef, period: Period) -> ReceiptData:
        """Raises `ReceiptNotAvailable` for a period without a receipt."""

    async def list_receipt_periods(self, ref: AccountRef) -> list[Period]:
        """Newest first."""

    async def close(self) -> None: ...
