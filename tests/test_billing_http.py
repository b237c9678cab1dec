"""The HTTP billing connector against the fake billing system, plus its resilience building blocks.

Every test talks real HTTP to `FakeBillingServer` on 127.0.0.1; only time is faked where the
test is about time (retry pauses, the breaker's reset timeout).
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.billing.base import BillingConnector
from bot.billing.errors import (
    AccountNotFound,
    BillingError,
    ProofRejected,
    ReadingRejected,
    ReceiptNotAvailable,
    SupplierUnavailable,
)
from bot.billing.http import HttpBillingConnector
from bot.billing.models import (
    AccountRef,
    Equipment,
    PaymentChannel,
    Period,
    Proof,
    ProofKind,
    ReadingSource,
    ReadingState,
    ReadingSubmission,
)
from bot.billing.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    Jitter,
    RetryPolicy,
)
from tests.billing_api_server import (
    CRIMEA,
    CRIMEA_LAST_PAYMENT,
    CRIMEA_SURNAME,
    DAGESTAN,
    DAGESTAN_ATTEMPTS,
    DAGESTAN_LAST_PAYMENT,
    DAGESTAN_PIN,
    DAGESTAN_SURNAME,
    FIXTURE_ACCOUNTS,
    SEVGAS,
    SEVGAS_ATTEMPTS,
    SEVGAS_PIN,
    TOKEN,
    FakeBillingServer,
)
from tests.support import leaks

ACCOUNT = "/suppliers/{supplier_code}/accounts/{account_number}"
METER_READINGS = ACCOUNT + "/meters/{meter_id}/readings"
NOW = datetime(2024, 8, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _remember_secrets() -> None:
    # The end-of-session scan of the log file then fails the run if any of them leaked.
    leaks.remember(TOKEN, *(ref.number for ref in FIXTURE_ACCOUNTS))


# --- fakes of time -------------------------------------------------------------------------------


@dataclass
class Sleeps:
    """Stands in for asyncio.sleep: records the pauses, waits for nothing."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
async def server() -> AsyncIterator[FakeBillingServer]:
    async with FakeBillingServer() as fake:
        yield fake


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def clock() -> Clock:
    return Clock()


Factory = Callable[..., HttpBillingConnector]


@pytest.fixture
async def make(server: FakeBillingServer, sleeps: Sleeps,
               clock: Clock) -> AsyncIterator[Factory]:
    """Builds connectors to the fake server with instant, recorded retry pauses and a fake
    clock on the breaker; closes them after the test."""
    made: list[HttpBillingConnector] = []

    def factory(**overrides: Any) -> HttpBillingConnector:
        options: dict[str, Any] = {
            "timeout": 2.0,
            "retry": RetryPolicy(sleep=sleeps),
            "breaker": CircuitBreaker(clock=clock, name="fake"),
            "name": "fake",
            **overrides,
        }
        base_url = options.pop("base_url", server.base_url)
        token = options.pop("token", TOKEN)
        connector = HttpBillingConnector(base_url, token, **options)
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        await connector.close()


@pytest.fixture
def connector(make: Factory) -> HttpBillingConnector:
    return make()


def submission(meter_id: str, *values: str, key: str = "key-0001-aaaa") -> ReadingSubmission:
    return ReadingSubmission(meter_id, tuple(Decimal(v) for v in values), key, NOW)


# --- the interface, method by method ------------------------------------------------------------


def test_implements_the_protocol(connector: HttpBillingConnector) -> None:
    assert isinstance(connector, BillingConnector)


async def test_find_account_keeps_leading_zeros(connector: HttpBillingConnector,
                                                server: FakeBillingServer) -> None:
    info = await connector.find_account(SEVGAS)

    assert info.ref == SEVGAS
    assert info.ref.number == "001234567"
    assert info.owner_masked == "Пе****** А. С."
    assert info.has_meters is True
    (request,) = server.requests
    assert request.path.endswith("/suppliers/sevgas/accounts/001234567")
    assert request.route == ACCOUNT
    assert request.authorized


async def test_find_account_without_meters_and_with_unit(
        connector: HttpBillingConnector, server: FakeBillingServer) -> None:
    info = await connector.find_account(CRIMEA)

    assert info.ref == CRIMEA
    assert info.has_meters is False
    assert server.requests[-1].query == {"unit": "simferopol"}


@pytest.mark.parametrize("ref", [
    AccountRef("sevgas", "1234567"),  # the same digits without the leading zeros
    AccountRef("sevgas", "999999999"),
    AccountRef("crimea", "00456789", unit="yalta"),  # exists, but in another unit
])
async def test_unknown_account(connector: HttpBillingConnector, server: FakeBillingServer,
                               ref: AccountRef) -> None:
    with pytest.raises(AccountNotFound):
        await connector.find_account(ref)
    assert len(server.requests) == 1  # a 4xx is an answer: never retried


async def test_unknown_supplier_is_an_integration_fault(connector: HttpBillingConnector) -> None:
    with pytest.raises(SupplierUnavailable, match="supplier_not_found"):
        await connector.find_account(AccountRef("mrg_perm", "12345678"))


async def test_verify_ownership_with_pin(connector: HttpBillingConnector,
                                         server: FakeBillingServer) -> None:
    await connector.verify_ownership(SEVGAS, Proof(ProofKind.PIN, pin=SEVGAS_PIN))
    assert server.requests[-1].request_json == {"kind": "pin", "pin": SEVGAS_PIN}
    assert server.requests[-1].status == 204


async def test_wrong_pins_count_down_then_lock(connector: HttpBillingConnector) -> None:
    wrong = Proof(ProofKind.PIN, pin="0000")
    left = []
    for _ in range(SEVGAS_ATTEMPTS):
        with pytest.raises(ProofRejected) as caught:
            await connector.verify_ownership(SEVGAS, wrong)
        left.append(caught.value.attempts_left)
    assert left == [2, 1, 0]
    with pytest.raises(ProofRejected) as caught:
        await connector.verify_ownership(SEVGAS, Proof(ProofKind.PIN, pin=SEVGAS_PIN))
    assert caught.value.attempts_left == 0


async def test_verify_ownership_with_surname_and_payment(connector: HttpBillingConnector,
                                                         server: FakeBillingServer) -> None:
    await connector.verify_ownership(DAGESTAN, Proof(
        ProofKind.SURNAME_PAYMENT, surname=DAGESTAN_SURNAME.upper(),
        last_payment=Decimal("1500")))
    assert server.requests[-1].request_json == {
        "kind": "surname_payment", "surname": "МАГОМЕДОВ", "last_payment": "1500"}
    with pytest.raises(ProofRejected) as caught:
        await connector.verify_ownership(DAGESTAN, Proof(
            ProofKind.SURNAME_PAYMENT, surname=DAGESTAN_SURNAME,
            last_payment=DAGESTAN_LAST_PAYMENT + Decimal("0.01")))
    assert caught.value.attempts_left == DAGESTAN_ATTEMPTS - 1


async def test_zero_last_payment_and_unlimited_attempts(connector: HttpBillingConnector,
                                                        server: FakeBillingServer) -> None:
    await connector.verify_ownership(CRIMEA, Proof(
        ProofKind.SURNAME_PAYMENT, surname=CRIMEA_SURNAME, last_payment=CRIMEA_LAST_PAYMENT))
    assert server.requests[-1].request_json["last_payment"] == "0"
    with pytest.raises(ProofRejected) as caught:
        await connector.verify_ownership(CRIMEA, Proof(
            ProofKind.SURNAME_PAYMENT, surname="Иванов", last_payment=Decimal("0")))
    assert caught.value.attempts_left is None


async def test_current_balance_is_exact(connector: HttpBillingConnector,
                                        server: FakeBillingServer) -> None:
    balance = await connector.get_balance(SEVGAS)

    assert balance.period == Period(2024, 8)
    assert (balance.opening, balance.charged, balance.paid, balance.closing) == (
        Decimal("-142.39"), Decimal("97.67"), Decimal("500.00"), Decimal("-544.72"))
    assert all(type(v) is Decimal for v in (balance.opening, balance.charged,
                                            balance.recalculation, balance.paid, balance.closing))
    assert str(balance.closing) == "-544.72"
    assert balance.due_date == date(2024, 9, 10)
    assert "period" not in server.requests[-1].query


async def test_balance_of_a_period(connector: HttpBillingConnector,
                                   server: FakeBillingServer) -> None:
    balance = await connector.get_balance(DAGESTAN, Period(2024, 7))

    assert balance.period == Period(2024, 7)
    assert balance.closing == Decimal("956.85")
    assert server.requests[-1].query == {"period": "2024-07"}
    current = await connector.get_balance(DAGESTAN)
    assert current.closing == Decimal("1956.85")
    assert current.recalculation == Decimal("-23.40")
    assert current.closing == (current.opening + current.charged + current.recalculation
                               - current.paid)


async def test_payments_of_a_year(connector: HttpBillingConnector) -> None:
    payments = await connector.get_payments(SEVGAS, 2024)

    assert [(p.paid_on, p.amount, p.channel, p.reference) for p in payments] == [
        (date(2024, 6, 5), Decimal("322.95"), PaymentChannel.BANK, "ПП-118"),
        (date(2024, 7, 8), Decimal("250.00"), PaymentChannel.ONLINE, "SBP-77120"),
        (date(2024, 8, 12), Decimal("500.00"), PaymentChannel.TERMINAL, None),
    ]
    assert [p.amount for p in await connector.get_payments(SEVGAS, 2023)] == [Decimal("300.00")]
    assert await connector.get_payments(CRIMEA, 2024) == []


async def test_charges_of_a_range(connector: HttpBillingConnector,
                                  server: FakeBillingServer) -> None:
    charges = await connector.get_charges(SEVGAS, Period(2024, 7), Period(2024, 8))

    assert [c.period for c in charges] == [Period(2024, 7), Period(2024, 8)]
    last = charges[-1]
    assert (last.volume, last.tariff, last.amount, last.unit) == (
        Decimal("12.988"), Decimal("7.52"), Decimal("97.67"), "м³")
    assert server.requests[-1].query == {"from": "2024-07", "to": "2024-08"}


async def test_account_details(connector: HttpBillingConnector) -> None:
    details = await connector.get_account_details(SEVGAS)
    assert details.owner_name == "Петренко Анна Сергеевна"
    assert details.residents == 3
    assert details.heated_area == Decimal("54.3")
    assert details.equipment == (Equipment.STOVE, Equipment.WATER_HEATER)
    assert (await connector.get_account_details(CRIMEA)).heated_area is None


async def test_meters(connector: HttpBillingConnector) -> None:
    (two_zone,) = await connector.get_meters(DAGESTAN)
    assert two_zone.zones == ("day", "night")
    assert two_zone.decimals == 0 and two_zone.capacity == 6
    assert two_zone.last is not None
    assert two_zone.last.values == (Decimal("27927"), Decimal("10311"))
    assert two_zone.last.state is ReadingState.PENDING

    (single,) = await connector.get_meters(SEVGAS)
    assert single.zones == ("total",)
    assert single.check_date == date(2027, 5, 1)
    assert single.last is not None and single.last.values == (Decimal("12332.690"),)

    assert await connector.get_meters(CRIMEA) == []


async def test_submit_a_two_zone_reading(connector: HttpBillingConnector,
                                         server: FakeBillingServer) -> None:
    ack = await connector.submit_reading(DAGESTAN, submission("dg-7", "27950", "10320"))

    assert ack.reference == "R-000001"
    assert ack.values == (Decimal("27950"), Decimal("10320"))
    assert ack.state is ReadingState.PENDING
    assert ack.accepted_at.tzinfo is not None
    assert server.readings_created == 1
    request = server.requests[-1]
    assert request.idempotency_key == "key-0001-aaaa"
    assert request.request_json == {"values": ["27950", "10320"],
                                    "submitted_at": "2024-08-20T09:30:00+00:00"}
    (meter,) = await connector.get_meters(DAGESTAN)
    assert meter.last is not None and meter.last.values == ack.values


async def test_a_repeated_key_returns_the_first_ack(connector: HttpBillingConnector,
                                                    server: FakeBillingServer) -> None:
    first = await connector.submit_reading(SEVGAS, submission("sg-1", "12340.5"))
    again = await connector.submit_reading(SEVGAS, submission("sg-1", "12340.5"))

    assert again == first
    assert server.readings_created == 1
    assert server.requests[-1].response_headers.get("Idempotent-Replayed") == "true"


@pytest.mark.parametrize(("ref", "meter", "values", "code"), [
    (DAGESTAN, "dg-7", ("27950.5", "10320"), "decimals_not_allowed"),
    (DAGESTAN, "dg-7", ("27900", "10320"), "less_than_previous"),
    (DAGESTAN, "dg-7", ("29950", "10320"), "too_high"),
    (DAGESTAN, "dg-7", ("27950",), "invalid"),
    (DAGESTAN, "no-such-meter", ("1",), "meter_not_found"),
    (SEVGAS, "sg-1", ("0",), "zero_not_allowed"),
    (SEVGAS, "sg-1", ("123456",), "too_many_digits"),
])
async def test_rejected_readings(connector: HttpBillingConnector, server: FakeBillingServer,
                                 ref: AccountRef, meter: str, values: tuple[str, ...],
                                 code: str) -> None:
    with pytest.raises(ReadingRejected) as caught:
        await connector.submit_reading(ref, submission(meter, *values))

    assert caught.value.code == code
    assert caught.value.detail  # the supplier's explanation, for the log
    assert server.readings_created == 0
    assert len(server.requests) == 1


async def test_second_reading_of_a_period(connector: HttpBillingConnector,
                                          server: FakeBillingServer) -> None:
    await connector.submit_reading(SEVGAS, submission("sg-1", "12340", key="key-first-0001"))
    with pytest.raises(ReadingRejected) as caught:
        await connector.submit_reading(SEVGAS, submission("sg-1", "12341", key="key-second-002"))
    assert caught.value.code == "already_submitted"
    assert server.readings_created == 1


async def test_outside_the_submission_window(make: Factory) -> None:
    async with FakeBillingServer(today=date(2024, 8, 5)) as early:
        connector = make(base_url=early.base_url)
        with pytest.raises(ReadingRejected) as caught:
            await connector.submit_reading(SEVGAS, submission("sg-1", "12340"))
    assert caught.value.code == "out_of_window"


async def test_naive_submission_time_is_refused_before_sending(
        connector: HttpBillingConnector, server: FakeBillingServer) -> None:
    naive = ReadingSubmission("sg-1", (Decimal(1),), "key-0001-aaaa", datetime(2024, 8, 20))
    with pytest.raises(ValueError, match="timezone"):
        await connector.submit_reading(SEVGAS, naive)
    assert server.requests == []


async def test_readings_history(connector: HttpBillingConnector) -> None:
    records = await connector.get_readings(SEVGAS, "sg-1", Period(2024, 5), Period(2024, 7))

    assert [r.period for r in records] == [Period(2024, 5), Period(2024, 6), Period(2024, 7)]
    assert [r.source for r in records] == [ReadingSource.ESTIMATE, ReadingSource.SUBSCRIBER,
                                           ReadingSource.SUBSCRIBER]
    assert records[-1].values == (Decimal("12332.690"),)
    assert records[-1].consumption == (Decimal("14.310"),)
    two_zone = await connector.get_readings(DAGESTAN, "dg-7", Period(2024, 7), Period(2024, 7))
    assert [r.consumption for r in two_zone] == [(Decimal("157"), Decimal("61"))]


async def test_history_of_an_unknown_meter_is_empty(connector: HttpBillingConnector,
                                                    server: FakeBillingServer) -> None:
    # A "/" in an id must stay inside its path segment, not address another resource.
    assert await connector.get_readings(SEVGAS, "sg/1", Period(2024, 1), Period(2024, 8)) == []
    assert server.requests[-1].route == METER_READINGS
    assert server.requests[-1].status == 404


async def test_receipt(connector: HttpBillingConnector) -> None:
    receipt = await connector.get_receipt(SEVGAS, Period(2024, 7))

    assert receipt.ref == SEVGAS
    assert receipt.period == Period(2024, 7)
    assert receipt.payer_name == "Петренко Анна Сергеевна"
    assert receipt.balance.closing == Decimal("-142.39")
    assert [c.amount for c in receipt.charges] == [Decimal("107.61")]
    assert [p.amount for p in receipt.payments] == [Decimal("250.00")]
    (line,) = receipt.meters
    assert (line.zone, line.previous, line.current, line.consumption) == (
        "total", Decimal("12318.380"), Decimal("12332.690"), Decimal("14.310"))

    no_meters = await connector.get_receipt(CRIMEA, Period(2024, 7))
    assert no_meters.meters == ()
    assert no_meters.heated_area is None


async def test_receipt_not_issued_yet(connector: HttpBillingConnector) -> None:
    with pytest.raises(ReceiptNotAvailable):
        await connector.get_receipt(SEVGAS, Period(2024, 8))
    with pytest.raises(AccountNotFound):
        await connector.get_receipt(AccountRef("sevgas", "000000001"), Period(2024, 7))


async def test_receipt_periods_newest_first(connector: HttpBillingConnector) -> None:
    assert await connector.list_receipt_periods(SEVGAS) == [Period(2024, 7), Period(2024, 6)]


# --- failures: retries, timeouts, status mapping ------------------------------------------------


async def test_slow_answer_is_retried(make: Factory, server: FakeBillingServer,
                                      sleeps: Sleeps) -> None:
    connector = make(timeout=0.2)
    server.delay_next(1, 1.0)

    balance = await connector.get_balance(SEVGAS)

    assert balance.closing == Decimal("-544.72")
    assert len(server.requests) == 2
    assert len(sleeps.delays) == 1


async def test_every_attempt_times_out(make: Factory, server: FakeBillingServer,
                                       sleeps: Sleeps) -> None:
    connector = make(timeout=0.2)
    server.delay_next(3, 1.0)

    with pytest.raises(SupplierUnavailable, match=r"no answer within 0\.2 s"):
        await connector.get_meters(DAGESTAN)

    assert len(server.requests) == 3
    # Full jitter: each pause is somewhere between 0 and its exponential ceiling.
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.2
    assert 0 <= sleeps.delays[1] <= 0.4


async def test_lost_answer_to_a_submission_creates_one_reading(
        connector: HttpBillingConnector, server: FakeBillingServer) -> None:
    # The first request is carried out but its answer is lost (a proxy's 503), the second
    # is refused before reaching the system; the third replays the first outcome.
    server.fail_next(1, 503, after_processing=True)
    server.fail_next(1, 503)

    ack = await connector.submit_reading(DAGESTAN, submission("dg-7", "27950", "10320"))

    assert server.readings_created == 1
    assert ack.reference == "R-000001"
    attempts = server.calls("POST", METER_READINGS)
    assert [r.status for r in attempts] == [503, 503, 201]
    assert {r.idempotency_key for r in attempts} == {"key-0001-aaaa"}
    assert attempts[-1].response_headers.get("Idempotent-Replayed") == "true"


async def test_timed_out_submission_creates_one_reading(make: Factory,
                                                        server: FakeBillingServer) -> None:
    connector = make(timeout=0.2)
    server.delay_next(1, 1.0)  # recorded, but the answer comes after the client gave up

    ack = await connector.submit_reading(SEVGAS, submission("sg-1", "12340"))

    assert server.readings_created == 1
    assert ack.values == (Decimal("12340"),)
    assert len(server.calls("POST", METER_READINGS)) == 2


async def test_gateway_errors_are_retried(connector: HttpBillingConnector,
                                          server: FakeBillingServer) -> None:
    server.fail_next(1, 502)  # an HTML page from a proxy
    server.fail_next(1, 504)

    assert (await connector.find_account(DAGESTAN)).ref == DAGESTAN
    assert [r.status for r in server.requests] == [502, 504, 200]


@pytest.mark.parametrize("status", [400, 404, 409, 500])
async def test_other_failures_are_not_retried(connector: HttpBillingConnector,
                                              server: FakeBillingServer, status: int) -> None:
    server.fail_next(1, status)

    with pytest.raises(SupplierUnavailable, match=f"HTTP {status}"):
        await connector.get_balance(SEVGAS)

    assert len(server.requests) == 1


async def test_ownership_is_never_verified_twice(connector: HttpBillingConnector,
                                                 server: FakeBillingServer) -> None:
    server.fail_next(1, 503)

    with pytest.raises(SupplierUnavailable):
        await connector.verify_ownership(SEVGAS, Proof(ProofKind.PIN, pin=SEVGAS_PIN))

    assert len(server.requests) == 1


async def test_ownership_timeout_is_not_retried(make: Factory, server: FakeBillingServer) -> None:
    connector = make(timeout=0.2)
    server.delay_next(1, 1.0)

    with pytest.raises(SupplierUnavailable):
        await connector.verify_ownership(SEVGAS, Proof(ProofKind.PIN, pin="0000"))

    assert len(server.requests) == 1
    assert server.account(SEVGAS).failed_attempts == 1


async def test_wrong_token(make: Factory, server: FakeBillingServer) -> None:
    connector = make(token="not-the-token-Zx81")

    with pytest.raises(SupplierUnavailable, match="401") as caught:
        await connector.find_account(SEVGAS)

    assert "not-the-token-Zx81" not in str(caught.value)
    assert len(server.requests) == 1
    assert not server.requests[0].authorized


async def test_no_token(make: Factory) -> None:
    async with FakeBillingServer(token=None) as open_server:
        connector = make(base_url=open_server.base_url, token=None)
        assert (await connector.find_account(CRIMEA)).has_meters is False


async def test_rate_limit_pause_is_honoured(connector: HttpBillingConnector,
                                            server: FakeBillingServer, sleeps: Sleeps) -> None:
    server.fail_next(1, 429, retry_after="3")

    await connector.get_meters(SEVGAS)

    assert sleeps.delays == [3.0]
    assert len(server.requests) == 2


async def test_a_long_rate_limit_pause_ends_the_call(connector: HttpBillingConnector,
                                                     server: FakeBillingServer,
                                                     sleeps: Sleeps) -> None:
    server.fail_next(1, 503, retry_after="120")

    with pytest.raises(SupplierUnavailable, match="HTTP 503"):
        await connector.get_meters(SEVGAS)

    assert sleeps.delays == []
    assert len(server.requests) == 1


async def test_connection_refused(make: Factory, sleeps: Sleeps) -> None:
    async with FakeBillingServer() as gone:
        base_url = gone.base_url
    connector = make(base_url=base_url)

    with pytest.raises(SupplierUnavailable, match="connection failed"):
        await connector.find_account(SEVGAS)
    assert len(sleeps.delays) == 2


# --- a system that breaks the contract ----------------------------------------------------------


@pytest.fixture
async def rogue(make: Factory) -> AsyncIterator[Callable[[web.Response], Awaitable[
        HttpBillingConnector]]]:
    """A connector to a one-route system that answers every request with a fixed response."""
    servers: list[TestServer] = []

    async def start(response: web.Response) -> HttpBillingConnector:
        async def handler(request: web.Request) -> web.Response:
            return response

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        test_server = TestServer(app, host="127.0.0.1")
        await test_server.start_server()
        servers.append(test_server)
        return make(base_url=str(test_server.make_url("/v1")))

    yield start
    for test_server in servers:
        await test_server.close()


BALANCE = {"period": "2024-08", "opening": "0.00", "charged": "1.00", "recalculation": "0.00",
           "paid": "0.00", "closing": "1.00", "due_date": None}


@pytest.mark.parametrize(("response", "message"), [
    (web.Response(text="<html>maintenance</html>", content_type="text/html"), "malformed JSON"),
    (web.json_response({**BALANCE, "closing": 1.0}), "balance.closing"),
    (web.json_response({**BALANCE, "paid": "1e3"}), "balance.paid"),
    (web.json_response({**BALANCE, "period": "2024-8"}), "balance.period"),
    (web.json_response({k: v for k, v in BALANCE.items() if k != "opening"}), "balance.opening"),
    (web.json_response({**BALANCE, "period": "2024-07"}), "asked for 2024-08"),
    (web.json_response([BALANCE]), "expected an object"),
    # A 404 without the contract's code is a wrong URL, not an unknown account.
    (web.Response(status=404, text="Not Found"), "unexpected HTTP 404"),
    (web.Response(status=302, headers={"Location": "http://127.0.0.1:9/"}),
     "unexpected HTTP 302"),
])
async def test_contract_violations_are_outages(
        rogue: Callable[[web.Response], Awaitable[HttpBillingConnector]],
        response: web.Response, message: str) -> None:
    connector = await rogue(response)

    with pytest.raises(SupplierUnavailable, match=message):
        await connector.get_balance(SEVGAS, Period(2024, 8))


async def test_an_unknown_rejection_reason_is_invalid(
        rogue: Callable[[web.Response], Awaitable[HttpBillingConnector]]) -> None:
    connector = await rogue(web.json_response(
        {"error": {"code": "reading_rejected", "reason": "moon_phase", "message": "No"}},
        status=422))

    with pytest.raises(ReadingRejected) as caught:
        await connector.submit_reading(SEVGAS, submission("sg-1", "1"))
    assert caught.value.code == "invalid"
    assert caught.value.detail == "moon_phase: No"


# --- the circuit breaker through the connector --------------------------------------------------


def state(breaker: CircuitBreaker) -> BreakerState:
    # A call rather than the property inline, so that mypy does not narrow it between checks.
    return breaker.state


async def test_breaker_opens_fails_fast_half_opens_and_closes(
        make: Factory, server: FakeBillingServer, clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=30, clock=clock)
    connector = make(retry=RetryPolicy(attempts=1), breaker=breaker)
    server.down = True

    for _ in range(3):
        with pytest.raises(SupplierUnavailable, match="HTTP 503"):
            await connector.get_balance(SEVGAS)
    assert state(breaker) is BreakerState.OPEN
    assert len(server.requests) == 3

    with pytest.raises(SupplierUnavailable, match="circuit"):
        await connector.get_balance(SEVGAS)
    assert len(server.requests) == 3  # failed fast: the system saw nothing

    clock.advance(29.9)
    with pytest.raises(SupplierUnavailable, match="circuit"):
        await connector.get_balance(SEVGAS)
    assert len(server.requests) == 3

    clock.advance(0.1)
    assert state(breaker) is BreakerState.HALF_OPEN
    server.down = False
    assert (await connector.get_balance(SEVGAS)).closing == Decimal("-544.72")
    assert state(breaker) is BreakerState.CLOSED
    assert len(server.requests) == 4
    await connector.get_meters(SEVGAS)
    assert len(server.requests) == 5


async def test_failed_trial_reopens(make: Factory, server: FakeBillingServer,
                                    clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30, clock=clock)
    connector = make(retry=RetryPolicy(attempts=1), breaker=breaker)
    server.down = True
    for _ in range(2):
        with pytest.raises(SupplierUnavailable):
            await connector.find_account(SEVGAS)

    clock.advance(30)
    with pytest.raises(SupplierUnavailable, match="HTTP 503"):
        await connector.find_account(SEVGAS)  # the trial
    assert state(breaker) is BreakerState.OPEN
    with pytest.raises(SupplierUnavailable, match="circuit"):
        await connector.find_account(SEVGAS)
    assert len(server.requests) == 3


async def test_breaker_counts_attempts_and_stops_retries(make: Factory,
                                                         server: FakeBillingServer,
                                                         clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=30, clock=clock)
    connector = make(retry=RetryPolicy(attempts=3, sleep=Sleeps()), breaker=breaker)
    server.down = True

    with pytest.raises(SupplierUnavailable, match="circuit"):
        await connector.get_meters(SEVGAS)
    assert len(server.requests) == 2


async def test_answers_about_accounts_keep_the_breaker_closed(
        make: Factory, server: FakeBillingServer, clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    connector = make(breaker=breaker)
    for _ in range(5):
        with pytest.raises(AccountNotFound):
            await connector.find_account(AccountRef("sevgas", "000000009"))
    with pytest.raises(ReceiptNotAvailable):
        await connector.get_receipt(SEVGAS, Period(2024, 8))
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.failures == 0


async def test_each_connector_has_its_own_breaker(server: FakeBillingServer) -> None:
    async with HttpBillingConnector(server.base_url, TOKEN) as first, \
            HttpBillingConnector(server.base_url, TOKEN) as second:
        assert first.breaker is not second.breaker


# --- the session -----------------------------------------------------------------------------


async def test_a_given_session_is_left_open(server: FakeBillingServer) -> None:
    async with aiohttp.ClientSession() as session:
        connector = HttpBillingConnector(server.base_url, TOKEN, session=session)
        await connector.find_account(SEVGAS)
        await connector.close()
        assert not session.closed


async def test_own_session_is_closed(server: FakeBillingServer) -> None:
    connector = HttpBillingConnector(server.base_url, TOKEN)
    await connector.find_account(SEVGAS)
    await connector.close()
    with pytest.raises(RuntimeError, match="closed"):
        await connector.find_account(SEVGAS)
    await connector.close()  # closing twice is harmless


def test_constructor_checks() -> None:
    with pytest.raises(ValueError, match="base_url"):
        HttpBillingConnector("billing.example.ru/v1", TOKEN)
    with pytest.raises(ValueError, match="timeout"):
        HttpBillingConnector("https://billing.example.ru/v1", TOKEN, timeout=0)
    connector = HttpBillingConnector("https://billing.example.ru/v1/", TOKEN)
    assert TOKEN not in repr(connector)
    assert connector.name == "billing.example.ru"


# --- logs ------------------------------------------------------------------------------------


class RawCapture(logging.Handler):
    """Keeps what a record says at the moment it is emitted, before the project's scrubbing
    filter (on the root handlers) rewrites it: the test is about what our code writes."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extras = {k: v for k, v in vars(record).items()
                  if k not in logging.LogRecord("", 0, "", 0, "", None, None).__dict__}
        self.lines.append(f"{record.getMessage()} {json.dumps(extras, default=str)}")


@pytest.fixture
def raw_logs() -> Iterator[RawCapture]:
    capture = RawCapture()
    logger = logging.getLogger("bot.billing")
    logger.addHandler(capture)
    try:
        yield capture
    finally:
        logger.removeHandler(capture)


async def test_calls_are_logged_with_template_status_and_timing(
        connector: HttpBillingConnector, server: FakeBillingServer,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.billing")
    server.fail_next(1, 503)

    await connector.get_balance(SEVGAS)

    attempts = [r for r in caplog.records
                if r.name == "bot.billing.http" and getattr(r, "duration_ms", None) is not None]
    assert [(r.__dict__["attempt"], r.__dict__["status"]) for r in attempts] == [(1, 503),
                                                                                 (2, 200)]
    for record in attempts:
        assert record.__dict__["http_method"] == "GET"
        assert record.__dict__["path"] == ACCOUNT + "/balance"
        assert isinstance(record.__dict__["duration_ms"], int)
        assert record.__dict__["account"] == "•••• 4567"
    assert attempts[0].levelno == logging.WARNING


async def test_no_token_or_account_number_in_logs_or_errors(
        make: Factory, server: FakeBillingServer, raw_logs: RawCapture,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    connector = make(timeout=0.2)
    errors: list[BillingError] = []

    async def expect_failure(call: Awaitable[object]) -> None:
        try:
            await call
        except BillingError as exc:
            errors.append(exc)
        else:
            raise AssertionError("expected a billing error")

    for ref in FIXTURE_ACCOUNTS:
        await connector.find_account(ref)
        await connector.get_balance(ref)
    await expect_failure(connector.find_account(AccountRef("sevgas", "007654321")))
    await expect_failure(connector.verify_ownership(SEVGAS, Proof(ProofKind.PIN, pin="1111")))
    await expect_failure(connector.get_receipt(DAGESTAN, Period(2024, 8)))
    await expect_failure(connector.submit_reading(DAGESTAN, submission("dg-7", "1", "1")))
    server.down = True
    await expect_failure(connector.get_meters(DAGESTAN))
    server.down = False
    server.delay_next(3, 1.0)
    await expect_failure(connector.get_meters(CRIMEA))
    await expect_failure(make(token="wrong-token-Qx7").get_meters(SEVGAS))
    await expect_failure(connector.verify_ownership(DAGESTAN, Proof(
        ProofKind.SURNAME_PAYMENT, surname=DAGESTAN_SURNAME, last_payment=Decimal("1"))))

    texts = [*raw_logs.lines, *(r.getMessage() for r in caplog.records),
             *(str(e) for e in errors), *(repr(e) for e in errors)]
    assert len(raw_logs.lines) > 20
    numbers = [ref.number for ref in FIXTURE_ACCOUNTS] + ["007654321"]
    for text in texts:
        for secret in [TOKEN, "wrong-token-Qx7", *numbers, DAGESTAN_PIN, SEVGAS_PIN,
                       DAGESTAN_SURNAME]:
            assert secret not in text, text
    assert any("•••• 4321" in text for text in texts)


# --- the resilience building blocks on their own -----------------------------------------------


def test_backoff_ceilings_double_up_to_the_cap() -> None:
    policy = RetryPolicy(base_delay=0.2, max_delay=2.0, jitter=Jitter.NONE)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert policy.ceiling(10_000) == 2.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_full_jitter_stays_within_bounds_and_spreads(seed: int) -> None:
    policy = RetryPolicy(rand=random.Random(seed).random)
    for retry in (1, 2, 3, 4, 5):
        samples = [policy.backoff(retry) for _ in range(500)]
        ceiling = min(2.0, 0.2 * 2 ** (retry - 1))
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) - min(samples) > ceiling * 0.8  # really spread, not constant


def test_equal_jitter_keeps_half_the_delay() -> None:
    policy = RetryPolicy(jitter=Jitter.EQUAL, rand=random.Random(7).random)
    samples = [policy.backoff(3) for _ in range(500)]
    assert all(0.4 <= s <= 0.8 for s in samples)
    assert RetryPolicy(jitter=Jitter.EQUAL, rand=lambda: 0.0).backoff(3) == 0.4


def test_jitter_extremes() -> None:
    assert RetryPolicy(rand=lambda: 0.0).backoff(2) == 0.0
    assert RetryPolicy(rand=lambda: 0.999999).backoff(2) == pytest.approx(0.4, abs=1e-5)


def test_retry_after_within_and_beyond_the_cap() -> None:
    policy = RetryPolicy(attempts=3, max_retry_after=5.0, rand=lambda: 0.5)
    assert policy.delay(1) == pytest.approx(0.1)
    assert policy.delay(1, retry_after=4.0) == 4.0
    assert policy.delay(1, retry_after=0.0) == pytest.approx(0.1)
    assert policy.delay(1, retry_after=6.0) is None
    assert policy.delay(3) is None  # no attempts left


@pytest.mark.parametrize("options", [
    {"attempts": 0}, {"base_delay": -1.0}, {"base_delay": 3.0, "max_delay": 2.0},
])
def test_retry_policy_checks(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**options)


async def test_run_retries_only_what_it_is_told() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(attempts=4, sleep=sleeps, rand=lambda: 1.0, jitter=Jitter.FULL)
    seen: list[int] = []

    async def flaky(attempt: int) -> str:
        seen.append(attempt)
        if attempt < 3:
            raise ConnectionError("flaky")
        return "ok"

    assert await policy.run(flaky, retryable=lambda e: isinstance(e, ConnectionError)) == "ok"
    assert seen == [1, 2, 3]
    assert sleeps.delays == [0.2, 0.4]

    async def broken(attempt: int) -> str:
        raise KeyError(attempt)

    with pytest.raises(KeyError):
        await policy.run(broken, retryable=lambda e: isinstance(e, ConnectionError))
    assert len(sleeps.delays) == 2


async def test_breaker_lets_one_trial_through(clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, clock=clock, name="x")
    breaker.allow()
    breaker.record_failure()
    with pytest.raises(CircuitOpen) as caught:
        breaker.allow()
    assert caught.value.retry_in == pytest.approx(10)

    clock.advance(10)
    breaker.allow()  # the trial
    with pytest.raises(CircuitOpen):
        breaker.allow()  # a second caller while the trial is out
    breaker.release()  # the trial was cancelled: no verdict
    breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
    breaker.allow()


async def test_breaker_forgets_a_lost_trial(clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=10, clock=clock)
    breaker.record_failure()
    clock.advance(10)
    breaker.allow()  # a trial that never reports back
    clock.advance(10)
    breaker.allow()  # presumed lost: another trial may go


async def test_breaker_counts_consecutive_failures_only(clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, clock=clock)
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()
    for _ in range(2):
        breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN


async def test_breaker_call_classifies_exceptions(clock: Clock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)

    async def not_found() -> None:
        raise LookupError

    with pytest.raises(LookupError):
        await breaker.call(not_found, is_failure=lambda e: not isinstance(e, LookupError))
    assert state(breaker) is BreakerState.CLOSED
    with pytest.raises(LookupError):
        await breaker.call(not_found)
    assert state(breaker) is BreakerState.OPEN


@pytest.mark.parametrize("options", [{"failure_threshold": 0}, {"reset_timeout": 0}])
def test_breaker_checks(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**options)
