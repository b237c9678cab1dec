"""`BillingConnector` over the REST API described in docs/billing-api.yaml.

One instance talks to one supplier billing system and owns that system's circuit breaker.
What the bot sends and expects is fixed by the OpenAPI document; this module is its client, so
any change here must be a change there first.

Personal data: request URLs contain account numbers, so nothing here logs or raises with a URL,
a raw aiohttp exception text, or a header. Logs carry the path template and a masked number.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from enum import StrEnum
from types import TracebackType
from typing import Final, Self, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.billing.errors import (
    AccountNotFound,
    ProofRejected,
    ReadingRejected,
    ReceiptNotAvailable,
    SupplierUnavailable,
)
from bot.billing.models import (
    AccountDetails,
    AccountInfo,
    AccountRef,
    Balance,
    Charge,
    Equipment,
    LastReading,
    Meter,
    Payment,
    PaymentChannel,
    Period,
    Proof,
    ProofKind,
    ReadingAck,
    ReadingRecord,
    ReadingSource,
    ReadingState,
    ReadingSubmission,
    ReceiptData,
    ReceiptMeterLine,
)
from bot.billing.resilience import CircuitBreaker, CircuitOpen, RetryPolicy
from bot.suppliers.accounts import mask_account

__all__ = ["OPERATIONS", "HttpBillingConnector"]

log = logging.getLogger(__name__)

_ACCOUNT: Final = "/suppliers/{supplier_code}/accounts/{account_number}"


@dataclass(frozen=True, slots=True)
class _Operation:
    name: str  # the operationId in docs/billing-api.yaml
    method: str
    template: str
    # Safe to repeat: reads, and the reading submission thanks to its Idempotency-Key.
    # Ownership verification is not: the supplier counts every attempt against the subscriber.
    idempotent: bool = True


_FIND = _Operation("findAccount", "GET", _ACCOUNT)
_VERIFY = _Operation(
    "verifyOwnership", "POST", _ACCOUNT + "/ownership-verifications", idempotent=False
)
_BALANCE = _Operation("getBalance", "GET", _ACCOUNT + "/balance")
_PAYMENTS = _Operation("getPayments", "GET", _ACCOUNT + "/payments")
_CHARGES = _Operation("getCharges", "GET", _ACCOUNT + "/charges")
_DETAILS = _Operation("getAccountDetails", "GET", _ACCOUNT + "/details")
_METERS = _Operation("getMeters", "GET", _ACCOUNT + "/meters")
_SUBMIT = _Operation("submitReading", "POST", _ACCOUNT + "/meters/{meter_id}/readings")
_READINGS = _Operation("getReadings", "GET", _ACCOUNT + "/meters/{meter_id}/readings")
_RECEIPTS = _Operation("listReceiptPeriods", "GET", _ACCOUNT + "/receipts")
_RECEIPT = _Operation("getReceipt", "GET", _ACCOUNT + "/receipts/{period}")

OPERATIONS: Final[Mapping[str, tuple[str, str]]] = {
    op.name: (op.method, op.template)
    for op in (_FIND, _VERIFY, _BALANCE, _PAYMENTS, _CHARGES, _DETAILS, _METERS, _SUBMIT,
               _READINGS, _RECEIPTS, _RECEIPT)
}
"""operationId → (method, path template) of every call this connector can make."""

_RETRYABLE_STATUSES: Final = frozenset({429, 502, 503, 504})
# A billing answer is a few kilobytes; anything far larger is a misrouted request or an attack.
_MAX_BODY: Final = 4 * 1024 * 1024
_REJECTION_REASONS: Final = frozenset({
    "out_of_window", "less_than_previous", "too_high", "zero_not_allowed", "too_many_digits",
    "decimals_not_allowed", "already_submitted", "meter_not_found", "invalid",
})
_DECIMAL_RE: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_PERIOD_RE: Final = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


class _AttemptFailed(Exception):
    """One HTTP attempt that says nothing about the account: the system did not answer well."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class _Malformed(Exception):
    """A 2xx answer that does not follow the contract."""


@dataclass(frozen=True, slots=True)
class _Request:
    """Everything about one call that stays the same across its attempts."""

    op: _Operation
    url: URL
    params: Mapping[str, str]
    body: object | None
    headers: Mapping[str, str]
    log_context: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    data: object  # decoded JSON, None for an empty body

    def error_code(self) -> str | None:
        error = self.error()
        code = error.get("code") if error is not None else None
        return code if isinstance(code, str) else None

    def error(self) -> dict[str, object] | None:
        if isinstance(self.data, dict):
            error = self.data.get("error")
            if isinstance(error, dict):
                return error
        return None


class _Obj:
    """Typed, path-aware access to a JSON object, so a contract violation names its field."""

    __slots__ = ("_data", "_where")

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise _Malformed(f"{where}: expected an object")
        self._data: dict[str, object] = data
        self._where = where

    def _get(self, key: str) -> object:
        if key not in self._data:
            raise _Malformed(f"{self._where}.{key}: missing")
        return self._data[key]

    def _bad(self, key: str, expected: str) -> _Malformed:
        return _Malformed(f"{self._where}.{key}: expected {expected}")

    def is_null(self, key: str) -> bool:
        return self._get(key) is None

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise self._bad(key, "a string")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self._data.get(key) is None else self.text(key)

    def integer(self, key: str) -> int:
        value = self._get(key)
        # bool is an int subclass in Python but not an integer in JSON.
        if not isinstance(value, int) or isinstance(value, bool):
            raise self._bad(key, "an integer")
        return value

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise self._bad(key, "a boolean")
        return value

    def decimal(self, key: str) -> Decimal:
        return _parse_decimal(self._get(key), f"{self._where}.{key}")

    def opt_decimal(self, key: str) -> Decimal | None:
        return None if self.is_null(key) else self.decimal(key)

    def decimals(self, key: str) -> tuple[Decimal, ...]:
        return tuple(
            _parse_decimal(item, f"{self._where}.{key}[{i}]")
            for i, item in enumerate(self.items(key))
        )

    def texts(self, key: str) -> tuple[str, ...]:
        result = []
        for i, item in enumerate(self.items(key)):
            if not isinstance(item, str):
                raise _Malformed(f"{self._where}.{key}[{i}]: expected a string")
            result.append(item)
        return tuple(result)

    def day(self, key: str) -> date:
        value = self.text(key)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self._bad(key, "a date YYYY-MM-DD") from None

    def opt_day(self, key: str) -> date | None:
        return None if self.is_null(key) else self.day(key)

    def instant(self, key: str) -> datetime:
        value = self.text(key)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise self._bad(key, "an RFC 3339 date-time") from None
        if parsed.tzinfo is None:
            raise self._bad(key, "a date-time with an offset")
        return parsed

    def period(self, key: str) -> Period:
        return _parse_period(self._get(key), f"{self._where}.{key}")

    def enum(self, key: str, kind: type[E]) -> E:
        value = self.text(key)
        try:
            return kind(value)
        except ValueError:
            raise self._bad(key, f"one of {', '.join(kind)}") from None

    def obj(self, key: str) -> _Obj:
        return _Obj(self._get(key), f"{self._where}.{key}")

    def opt_obj(self, key: str) -> _Obj | None:
        return None if self.is_null(key) else self.obj(key)

    def items(self, key: str) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self._bad(key, "an array")
        return value

    def objs(self, key: str) -> list[_Obj]:
        return [_Obj(item, f"{self._where}.{key}[{i}]")
                for i, item in enumerate(self.items(key))]


def _parse_decimal(value: object, where: str) -> Decimal:
    # Strings only: a JSON number may already have been rounded through a binary float by
    # the sender, and the contract says so.
    if not isinstance(value, str) or _DECIMAL_RE.fullmatch(value) is None:
        raise _Malformed(f"{where}: expected a decimal string")
    return Decimal(value)


def _parse_period(value: object, where: str) -> Period:
    if not isinstance(value, str) or _PERIOD_RE.fullmatch(value) is None:
        raise _Malformed(f"{where}: expected a period YYYY-MM")
    return Period.parse(value)


def _request_id() -> str:
    # Letters only: a hex id now and then holds a digit run that log scanners rightly take for
    # a phone or account number, and the scrubber would then mangle the id in our own logs.
    return "".join(secrets.choice(string.ascii_lowercase) for _ in range(20))


def _decimal_text(value: Decimal) -> str:
    # "f" keeps Decimal("1E+3") from reaching the wire as an exponent the contract forbids.
    return format(value, "f")


def _retry_after_seconds(header: str | None) -> float | None:
    if header is None:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class HttpBillingConnector:
    """A supplier billing system reached over the REST API of docs/billing-api.yaml.

    `base_url` is the server URL agreed with the supplier (paths of the document are appended
    to it). `token` is sent as a bearer token; None only for a system that authenticates the
    bot otherwise (network, mTLS). `timeout` bounds each attempt, from connecting to the last
    byte of the body. Without `retry`, `RetryPolicy()`; without `breaker`, a fresh
    `CircuitBreaker()` — keep one breaker per billing system. Without `session`, the connector
    creates one on first use and `close()` closes it; a given session is left to its owner.
    `name` labels log records and error messages (default: the host of `base_url`).
    `observe(name, operationId, seconds)`, if given, is told the duration of every attempt
    (e.g. `Metrics.observe_billing_call`).
    """

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        session: aiohttp.ClientSession | None = None,
        name: str | None = None,
        observe: Callable[[str, str, float], None] | None = None,
    ) -> None:
        url = URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("base_url must be an absolute http(s) URL")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._client_timeout = aiohttp.ClientTimeout(total=timeout)
        self._retry = retry if retry is not None else RetryPolicy()
        self.name: str = name or url.host
        self._breaker = breaker if breaker is not None else CircuitBreaker(name=self.name)
        self._session = session
        self._owns_session = session is None
        self._closed = False
        self._observe = observe

    def __repr__(self) -> str:
        # Never the token.
        return f"HttpBillingConnector(name={self.name!r}, base_url={self._base!r})"

    @property
    def breaker(self) -> CircuitBreaker:
        return self._breaker

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self._closed = True
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    # --- BillingConnector ---------------------------------------------------------------

    async def find_account(self, ref: AccountRef) -> AccountInfo:
        reply = await self._call(_FIND, ref)
        self._expect_success(_FIND, ref, reply)
        return self._parse(_FIND, ref, reply, _account_info)

    async def verify_ownership(self, ref: AccountRef, proof: Proof) -> None:
        reply = await self._call(_VERIFY, ref, body=_proof_body(proof))
        if reply.status == 403 and reply.error_code() == "proof_rejected":
            raise ProofRejected(_attempts_left(reply))
        self._expect_success(_VERIFY, ref, reply)

    async def get_balance(self, ref: AccountRef, period: Period | None = None) -> Balance:
        query = {"period": str(period)} if period is not None else {}
        reply = await self._call(_BALANCE, ref, query=query)
        self._expect_success(_BALANCE, ref, reply)
        balance = self._parse(_BALANCE, ref, reply, lambda data: _balance(_Obj(data, "balance")))
        if period is not None and balance.period != period:
            raise self._malformed(_BALANCE, ref, f"asked for {period}, got {balance.period}")
        return balance

    async def get_payments(self, ref: AccountRef, year: int) -> list[Payment]:
        reply = await self._call(_PAYMENTS, ref, query={"year": str(year)})
        self._expect_success(_PAYMENTS, ref, reply)
        return self._parse(_PAYMENTS, ref, reply, lambda data: [
            _payment(item) for item in _Obj(data, "body").objs("payments")
        ])

    async def get_charges(self, ref: AccountRef, start: Period, end: Period) -> list[Charge]:
        reply = await self._call(_CHARGES, ref, query={"from": str(start), "to": str(end)})
        self._expect_success(_CHARGES, ref, reply)
        charges = self._parse(_CHARGES, ref, reply, lambda data: [
            _charge(item) for item in _Obj(data, "body").objs("charges")
        ])
        # The interface promises oldest first; a stable sort keeps the supplier's line order.
        return sorted(charges, key=lambda charge: charge.period)

    async def get_account_details(self, ref: AccountRef) -> AccountDetails:
        reply = await self._call(_DETAILS, ref)
        self._expect_success(_DETAILS, ref, reply)
        return self._parse(_DETAILS, ref, reply, lambda data: _details(_Obj(data, "details")))

    async def get_meters(self, ref: AccountRef) -> list[Meter]:
        reply = await self._call(_METERS, ref)
        self._expect_success(_METERS, ref, reply)
        return self._parse(_METERS, ref, reply, lambda data: [
            _meter(item) for item in _Obj(data, "body").objs("meters")
        ])

    async def submit_reading(self, ref: AccountRef, submission: ReadingSubmission) -> ReadingAck:
        if submission.submitted_at.tzinfo is None:
            raise ValueError("submitted_at must be timezone-aware")
        body = {
            "values": [_decimal_text(value) for value in submission.values],
            "submitted_at": submission.submitted_at.isoformat(),
        }
        reply = await self._call(
            _SUBMIT, ref, path={"meter_id": submission.meter_id}, body=body,
            headers={"Idempotency-Key": submission.idempotency_key},
        )
        if reply.status == 422 and reply.error_code() == "reading_rejected":
            raise _rejection(reply)
        self._expect_success(_SUBMIT, ref, reply)
        return self._parse(_SUBMIT, ref, reply, lambda data: _ack(_Obj(data, "ack")))

    async def get_readings(self, ref: AccountRef, meter_id: str, start: Period,
                           end: Period) -> list[ReadingRecord]:
        reply = await self._call(
            _READINGS, ref, path={"meter_id": meter_id},
            query={"from": str(start), "to": str(end)},
        )
        if reply.status == 404 and reply.error_code() == "meter_not_found":
            # The interface has no "meter not found" for history; a meter the supplier no
            # longer knows (replaced, removed) has no history to show.
            log.info("billing: history asked for a meter the system does not know",
                     extra=self._log_context(_READINGS, ref))
            return []
        self._expect_success(_READINGS, ref, reply)
        records = self._parse(_READINGS, ref, reply, lambda data: [
            _reading_record(item) for item in _Obj(data, "body").objs("readings")
        ])
        return sorted(records, key=lambda record: record.period)

    async def get_receipt(self, ref: AccountRef, period: Period) -> ReceiptData:
        reply = await self._call(_RECEIPT, ref, path={"period": str(period)})
        if reply.status == 404 and reply.error_code() == "receipt_not_available":
            raise ReceiptNotAvailable(
                f"no receipt for {period} (account {mask_account(ref.number)})"
            )
        self._expect_success(_RECEIPT, ref, reply)
        receipt = self._parse(_RECEIPT, ref, reply, lambda data: _receipt(_Obj(data, "receipt")))
        if receipt.period != period:
            raise self._malformed(_RECEIPT, ref, f"asked for {period}, got {receipt.period}")
        return receipt

    async def list_receipt_periods(self, ref: AccountRef) -> list[Period]:
        reply = await self._call(_RECEIPTS, ref)
        self._expect_success(_RECEIPTS, ref, reply)
        periods = self._parse(_RECEIPTS, ref, reply, lambda data: [
            _parse_period(item, f"periods[{i}]")
            for i, item in enumerate(_Obj(data, "body").items("periods"))
        ])
        return sorted(set(periods), reverse=True)

    # --- transport -------------------------------------------------------------------------

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the billing connector is closed")
        if self._session is None:
            # Created lazily: aiohttp wants a running event loop, the constructor may not have one.
            self._session = aiohttp.ClientSession()
        return self._session

    def _url(self, op: _Operation, ref: AccountRef, path: Mapping[str, str]) -> URL:
        values = {"supplier_code": ref.supplier_code, "account_number": ref.number, **path}
        # safe="" so that a "/" inside an identifier cannot change which resource is addressed.
        encoded = {key: quote(value, safe="") for key, value in values.items()}
        return URL(self._base + op.template.format(**encoded), encoded=True)

    def _log_context(self, op: _Operation, ref: AccountRef) -> dict[str, object]:
        return {
            "billing_system": self.name,
            "operation": op.name,
            "http_method": op.method,
            "path": op.template,
            "account": mask_account(ref.number),
            "supplier": ref.supplier_code,
        }

    def _describe(self, op: _Operation, ref: AccountRef) -> str:
        return (f"billing system {self.name!r}: {op.method} {op.template} "
                f"(account {mask_account(ref.number)})")

    async def _call(
        self,
        op: _Operation,
        ref: AccountRef,
        *,
        path: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: object | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> _Reply:
        """Make the call with retries under the breaker; a reply is any answer that speaks
        about the request (2xx, 4xx); everything else ends in `SupplierUnavailable`."""
        url = self._url(op, ref, path or {})
        params = dict(query or {})
        if ref.unit is not None:
            params["unit"] = ref.unit
        request_id = _request_id()
        all_headers = {
            "Accept": "application/json",
            "User-Agent": "gasbot-billing/1",
            "X-Request-Id": request_id,
            **(headers or {}),
        }
        if self._token is not None:
            all_headers["Authorization"] = f"Bearer {self._token}"
        context = {**self._log_context(op, ref), "request_id": request_id}
        request = _Request(op, url, params, body, all_headers, context)
        policy = self._retry if op.idempotent else self._retry.without_retries()
        attempts_made = 0

        async def attempt(number: int) -> _Reply:
            nonlocal attempts_made
            attempts_made = number
            return await self._breaker.call(
                lambda: self._attempt(request, number),
                is_failure=lambda exc: isinstance(exc, _AttemptFailed),
            )

        def on_retry(next_attempt: int, delay: float, exc: Exception) -> None:
            log.info("billing: retrying %s %s in %.2f s", op.method, op.template, delay,
                     extra={**context, "attempt": next_attempt})

        try:
            return await policy.run(
                attempt,
                retryable=lambda exc: isinstance(exc, _AttemptFailed) and exc.retryable,
                retry_after=lambda exc: exc.retry_after if isinstance(exc, _AttemptFailed)
                else None,
                on_retry=on_retry,
            )
        except CircuitOpen as exc:
            log.warning("billing: %s %s not called, circuit open", op.method, op.template,
                        extra={**context, "attempt": attempts_made})
            raise SupplierUnavailable(f"{self._describe(op, ref)}: {exc}") from None
        except _AttemptFailed as exc:
            message = (f"{self._describe(op, ref)}: {exc.reason}, "
                       f"gave up after {attempts_made} attempt(s)")
            log.warning("billing: %s %s failed: %s", op.method, op.template, exc.reason,
                        extra={**context, "attempt": attempts_made})
            # No exception chaining: aiohttp's messages may quote the URL, which has the number.
            raise SupplierUnavailable(message) from None

    async def _attempt(self, request: _Request, number: int) -> _Reply:
        op = request.op
        session = self._get_session()
        started = time.perf_counter()
        status: int | None = None
        raw = b""
        retry_after: str | None = None
        failure: _AttemptFailed | None = None
        try:
            async with session.request(
                op.method, request.url, params=request.params, json=request.body,
                headers=request.headers,
                timeout=self._client_timeout,
                # A redirect would carry the bearer token to wherever it points.
                allow_redirects=False,
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                raw = await _read_limited(response)
        except TimeoutError:
            failure = _AttemptFailed(f"no answer within {self._timeout:g} s", retryable=True)
        except aiohttp.ClientError as exc:
            failure = _AttemptFailed(f"connection failed ({type(exc).__name__})", retryable=True)
        except _BodyTooLarge:
            failure = _AttemptFailed("response body too large", retryable=False)
        elapsed = time.perf_counter() - started
        duration_ms = round(elapsed * 1000)
        if self._observe is not None:
            self._observe(self.name, op.name, elapsed)

        reply: _Reply | None = None
        if failure is None:
            assert status is not None
            if status in _RETRYABLE_STATUSES:
                failure = _AttemptFailed(
                    f"HTTP {status}", retryable=True,
                    retry_after=_retry_after_seconds(retry_after),
                )
            elif status >= 500:
                failure = _AttemptFailed(f"HTTP {status}", retryable=False)
            else:
                try:
                    reply = _Reply(status, json.loads(raw) if raw.strip() else None)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    if 200 <= status < 300:
                        failure = _AttemptFailed(f"HTTP {status} with malformed JSON",
                                                 retryable=False)
                    else:
                        # An error page from a proxy: the status alone still tells something.
                        reply = _Reply(status, None)

        fields = {**request.log_context, "status": status, "duration_ms": duration_ms,
                  "attempt": number}
        if failure is not None:
            log.warning("billing: %s %s -> %s in %d ms (attempt %d)", op.method, op.template,
                        failure.reason, duration_ms, number,
                        extra={**fields, "outcome": failure.reason})
            raise failure
        assert reply is not None
        # Routine successes stay at DEBUG so a busy bot's INFO log shows what needs a look.
        level = logging.DEBUG if 200 <= reply.status < 300 else logging.INFO
        log.log(level, "billing: %s %s -> %d in %d ms (attempt %d)", op.method, op.template,
                reply.status, duration_ms, number, extra={**fields, "outcome": "answered"})
        return reply

    # --- answers ---------------------------------------------------------------------------

    def _expect_success(self, op: _Operation, ref: AccountRef, reply: _Reply) -> None:
        """Raise for every non-2xx the operation has no special meaning for."""
        if 200 <= reply.status < 300:
            return
        code = reply.error_code()
        if reply.status == 404 and code == "account_not_found":
            raise AccountNotFound(
                f"account {mask_account(ref.number)} not found at {ref.supplier_code}"
                + (f" (unit {ref.unit})" if ref.unit else "")
            )
        if reply.status == 401:
            reason = "rejected our credentials (HTTP 401)"
        else:
            reason = f"unexpected HTTP {reply.status}" + (f" {code}" if code else "")
        log.error("billing: %s %s: %s", op.method, op.template, reason,
                  extra={**self._log_context(op, ref), "status": reply.status})
        raise SupplierUnavailable(f"{self._describe(op, ref)}: {reason}")

    def _malformed(self, op: _Operation, ref: AccountRef, detail: str) -> SupplierUnavailable:
        log.error("billing: %s %s: answer breaks the contract: %s", op.method, op.template,
                  detail, extra=self._log_context(op, ref))
        return SupplierUnavailable(f"{self._describe(op, ref)}: malformed answer: {detail}")

    def _parse(self, op: _Operation, ref: AccountRef, reply: _Reply,
               parse: Callable[[object], T]) -> T:
        try:
            return parse(reply.data)
        except _Malformed as exc:
            raise self._malformed(op, ref, str(exc)) from None


class _BodyTooLarge(Exception):
    pass


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > _MAX_BODY:
            raise _BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


# --- request bodies ----------------------------------------------------------------------------


def _proof_body(proof: Proof) -> dict[str, str]:
    if proof.kind is ProofKind.PIN:
        if not proof.pin:
            raise ValueError("a PIN proof needs the PIN")
        return {"kind": "pin", "pin": proof.pin}
    if not proof.surname or proof.last_payment is None:
        raise ValueError("a surname_payment proof needs the surname and the last payment")
    return {
        "kind": "surname_payment",
        "surname": proof.surname,
        "last_payment": _decimal_text(proof.last_payment),
    }


# --- error bodies ------------------------------------------------------------------------------


def _attempts_left(reply: _Reply) -> int | None:
    error = reply.error() or {}
    value = error.get("attempts_left")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def _rejection(reply: _Reply) -> ReadingRejected:
    error = reply.error() or {}
    reason = error.get("reason")
    message = error.get("message")
    detail = message if isinstance(message, str) and message else None
    if isinstance(reason, str) and reason in _REJECTION_REASONS:
        return ReadingRejected(reason, detail)
    # A reason outside the contract: the bot can only say "invalid", the log keeps the rest.
    shown = reason if isinstance(reason, str) else "no reason"
    return ReadingRejected("invalid", f"{shown}: {detail}" if detail else shown)


# --- response bodies ---------------------------------------------------------------------------


def _account_info(data: object) -> AccountInfo:
    obj = _Obj(data, "account")
    return AccountInfo(
        ref=AccountRef(
            supplier_code=obj.text("supplier_code"),
            number=obj.text("account_number"),
            unit=obj.opt_text("unit"),
        ),
        owner_masked=obj.text("owner_masked"),
        address_masked=obj.text("address_masked"),
        has_meters=obj.flag("has_meters"),
    )


def _balance(obj: _Obj) -> Balance:
    return Balance(
        period=obj.period("period"),
        opening=obj.decimal("opening"),
        charged=obj.decimal("charged"),
        recalculation=obj.decimal("recalculation"),
        paid=obj.decimal("paid"),
        closing=obj.decimal("closing"),
        due_date=obj.opt_day("due_date"),
    )


def _payment(obj: _Obj) -> Payment:
    return Payment(
        paid_on=obj.day("paid_on"),
        amount=obj.decimal("amount"),
        channel=obj.enum("channel", PaymentChannel),
        reference=obj.opt_text("reference"),
    )


def _charge(obj: _Obj) -> Charge:
    return Charge(
        period=obj.period("period"),
        service=obj.text("service"),
        volume=obj.decimal("volume"),
        unit=obj.text("unit"),
        tariff=obj.decimal("tariff"),
        amount=obj.decimal("amount"),
        recalculation=obj.decimal("recalculation"),
    )


def _details(obj: _Obj) -> AccountDetails:
    known = {item.value: item for item in Equipment}
    equipment = []
    for i, item in enumerate(obj.items("equipment")):
        if not isinstance(item, str) or item not in known:
            raise _Malformed(f"details.equipment[{i}]: unknown equipment")
        equipment.append(known[item])
    return AccountDetails(
        owner_name=obj.text("owner_name"),
        address=obj.text("address"),
        residents=obj.integer("residents"),
        heated_area=obj.opt_decimal("heated_area"),
        equipment=tuple(equipment),
    )


def _meter(obj: _Obj) -> Meter:
    zones = obj.texts("zones")
    if not zones:
        raise _Malformed("meter.zones: empty")
    last_obj = obj.opt_obj("last")
    last = None
    if last_obj is not None:
        last = LastReading(
            values=last_obj.decimals("values"),
            taken_on=last_obj.day("taken_on"),
            source=last_obj.enum("source", ReadingSource),
            state=last_obj.enum("state", ReadingState),
        )
        if len(last.values) != len(zones):
            raise _Malformed("meter.last.values: not one value per zone")
    return Meter(
        id=obj.text("id"),
        serial=obj.text("serial"),
        zones=zones,
        capacity=obj.integer("capacity"),
        decimals=obj.integer("decimals"),
        check_date=obj.opt_day("check_date"),
        last=last,
        service=obj.text("service"),
    )


def _ack(obj: _Obj) -> ReadingAck:
    return ReadingAck(
        reference=obj.text("reference"),
        accepted_at=obj.instant("accepted_at"),
        values=obj.decimals("values"),
        state=obj.enum("state", ReadingState),
    )


def _reading_record(obj: _Obj) -> ReadingRecord:
    return ReadingRecord(
        meter_id=obj.text("meter_id"),
        period=obj.period("period"),
        values=obj.decimals("values"),
        consumption=obj.decimals("consumption"),
        taken_on=obj.day("taken_on"),
        source=obj.enum("source", ReadingSource),
        state=obj.enum("state", ReadingState),
    )


def _receipt(obj: _Obj) -> ReceiptData:
    return ReceiptData(
        ref=AccountRef(
            supplier_code=obj.text("supplier_code"),
            number=obj.text("account_number"),
            unit=obj.opt_text("unit"),
        ),
        period=obj.period("period"),
        payer_name=obj.text("payer_name"),
        address=obj.text("address"),
        residents=obj.integer("residents"),
        heated_area=obj.opt_decimal("heated_area"),
        balance=_balance(obj.obj("balance")),
        charges=tuple(_charge(item) for item in obj.objs("charges")),
        payments=tuple(_payment(item) for item in obj.objs("payments")),
        meters=tuple(
            ReceiptMeterLine(
                serial=line.text("serial"),
                zone=line.text("zone"),
                previous=line.decimal("previous"),
                current=line.decimal("current"),
                consumption=line.decimal("consumption"),
                check_date=line.opt_day("check_date"),
            )
            for line in obj.objs("meters")
        ),
    )
