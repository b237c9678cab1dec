"""docs/billing-api.yaml is the contract suppliers implement: it must be valid OpenAPI, match the
fake billing system route for route, document its errors, agree with the bot's value types, and
describe every request the connector really makes and every answer the fake really gives."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
import yaml
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from bot.billing.errors import BillingError, ReadingRejected
from bot.billing.http import OPERATIONS, HttpBillingConnector
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
from bot.billing.resilience import RetryPolicy
from tests.billing_api_server import (
    CRIMEA,
    CRIMEA_LAST_PAYMENT,
    CRIMEA_SURNAME,
    DAGESTAN,
    DAGESTAN_PIN,
    SEVGAS,
    TOKEN,
    FakeBillingServer,
    LoggedRequest,
)

SPEC_PATH = Path(__file__).resolve().parents[1] / "docs" / "billing-api.yaml"
SPEC_URI = "urn:gasbot:billing-api"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Statuses every operation must document: what any system, proxy or gateway may answer.
COMMON_ERRORS = {"400", "401", "429", "500", "502", "503", "504"}
ACCOUNT_PATH = "/suppliers/{supplier_code}/accounts/{account_number}"

Json = dict[str, Any]


def load_spec() -> Json:
    with SPEC_PATH.open(encoding="utf-8") as file:
        spec = yaml.safe_load(file)
    assert isinstance(spec, dict)
    return spec


SPEC = load_spec()


def escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def deref(node: Json, pointer: str) -> tuple[Json, str]:
    """Follows OpenAPI `$ref`s (local only) and returns the target with its JSON pointer."""
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        pointer = ref
        node = SPEC
        for segment in ref[2:].split("/"):
            node = node[segment.replace("~1", "/").replace("~0", "~")]
    return node, pointer


def operations() -> dict[tuple[str, str], tuple[Json, str]]:
    """(METHOD, path) → (operation object, its JSON pointer)."""
    found = {}
    for path, item in SPEC["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                found[(method.upper(), path)] = (item[method],
                                                 f"#/paths/{escape(path)}/{method}")
    return found


def parameters(path: str, op_pointer: str) -> list[tuple[Json, str]]:
    """The parameters of an operation (path level and its own) with their JSON pointers."""
    path_pointer = f"#/paths/{escape(path)}"
    op = operations_by_pointer()[op_pointer]
    listed = [(p, f"{path_pointer}/parameters/{i}")
              for i, p in enumerate(SPEC["paths"][path].get("parameters", []))]
    listed += [(p, f"{op_pointer}/parameters/{i}") for i, p in enumerate(op.get("parameters", []))]
    return [deref(param, pointer) for param, pointer in listed]


def operations_by_pointer() -> dict[str, Json]:
    return {pointer: op for op, pointer in operations().values()}


def responses(op: Json, op_pointer: str) -> dict[str, tuple[Json, str]]:
    return {status: deref(response, f"{op_pointer}/responses/{status}")
            for status, response in op["responses"].items()}


def error_codes() -> set[str]:
    return set(SPEC["components"]["schemas"]["ErrorCode"]["enum"])


_registry: Registry[Any] = Registry().with_resource(
    SPEC_URI, Resource.from_contents(SPEC, default_specification=DRAFT202012))


def schema_validator(pointer: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": SPEC_URI + quote(pointer, safe="#/~")},
                                registry=_registry, format_checker=FormatChecker())


def assert_valid(pointer: str, instance: object, what: str) -> None:
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in schema_validator(pointer).iter_errors(instance)]
    assert not problems, f"{what}: {problems}"


# --- the document itself ------------------------------------------------------------------------


def test_the_document_is_valid_openapi() -> None:
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1")
    assert SPEC["security"] == [{"bearerAuth": []}]
    assert SPEC["components"]["securitySchemes"]["bearerAuth"] == {
        **SPEC["components"]["securitySchemes"]["bearerAuth"], "type": "http",
        "scheme": "bearer"}


def test_every_operation_is_described() -> None:
    ids = []
    for (method, path), (op, _) in operations().items():
        assert op.get("summary") and op.get("description"), (method, path)
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids))


async def test_fake_server_routes_are_exactly_the_documented_operations() -> None:
    async with FakeBillingServer() as server:
        assert server.routes() == set(operations())


def test_connector_operations_are_documented() -> None:
    documented = {op["operationId"]: key for key, (op, _) in operations().items()}
    assert dict(OPERATIONS) == documented


def test_every_operation_documents_its_errors() -> None:
    codes = error_codes()
    used: set[str] = set()
    for (method, path), (op, pointer) in operations().items():
        answers = responses(op, pointer)
        assert answers.keys() >= COMMON_ERRORS, (method, path)
        assert any(status.startswith("2") for status in answers), (method, path)
        if path.startswith(ACCOUNT_PATH):
            assert "account_not_found" in answers["404"][0]["x-error-codes"], (method, path)
        for status, (response, _) in answers.items():
            assert response.get("description"), (method, path, status)
            if status.startswith("2"):
                continue
            listed = response.get("x-error-codes")
            assert listed, f"{method} {path} {status}: no error codes listed"
            assert set(listed) <= codes, (method, path, status)
            used.update(listed)
            if status not in ("502", "504"):  # may come from a proxy, with any body
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
    assert used == codes, "an error code no operation answers with"


@pytest.mark.parametrize(("operation", "status", "code"), [
    ("verifyOwnership", "403", "proof_rejected"),
    ("submitReading", "422", "reading_rejected"),
    ("submitReading", "409", "idempotency_conflict"),
    ("getReceipt", "404", "receipt_not_available"),
    ("getReadings", "404", "meter_not_found"),
    ("findAccount", "401", "unauthorized"),
    ("findAccount", "404", "supplier_not_found"),
])
def test_specific_errors_are_documented(operation: str, status: str, code: str) -> None:
    (op, pointer), = [v for v in operations().values() if v[0]["operationId"] == operation]
    assert code in responses(op, pointer)[status][0]["x-error-codes"]


def test_submission_requires_an_idempotency_key() -> None:
    _, pointer = operations()[("POST", ACCOUNT_PATH + "/meters/{meter_id}/readings")]
    (key,) = [p for p, _ in parameters(ACCOUNT_PATH + "/meters/{meter_id}/readings", pointer)
              if p["in"] == "header"]
    assert key["name"] == "Idempotency-Key" and key["required"] is True


def test_rejection_reasons_match_the_interface() -> None:
    doc = ReadingRejected.__doc__ or ""
    documented = set(re.findall(r"[a-z_]+", doc.split("Codes:", 1)[1]))
    schema = SPEC["components"]["schemas"]["ReadingRejectionReason"]
    assert set(schema["enum"]) == documented


def test_enums_match_the_value_types() -> None:
    schemas = SPEC["components"]["schemas"]
    assert schemas["Payment"]["properties"]["channel"]["enum"] == [c.value for c in PaymentChannel]
    assert schemas["AccountDetails"]["properties"]["equipment"]["items"]["enum"] == [
        e.value for e in Equipment]
    assert schemas["ReadingSource"]["enum"] == [s.value for s in ReadingSource]
    assert schemas["ReadingState"]["enum"] == [s.value for s in ReadingState]
    kinds = [branch["properties"]["kind"]["const"]
             for branch in schemas["OwnershipProof"]["oneOf"]]
    assert kinds == [k.value for k in ProofKind]


@pytest.mark.parametrize(("schema", "good", "bad"), [
    ("Money", ["1956.85", "-544.72", "0", "0.5"], ["1956.856", "1,5", "1e3", "", " 1"]),
    ("Period", ["2024-08", "2024-12"], ["2024-8", "2024-13", "2024-00", "202408"]),
])
def test_value_formats(schema: str, good: list[str], bad: list[str]) -> None:
    validator = schema_validator(f"#/components/schemas/{schema}")
    assert all(validator.is_valid(value) for value in good)
    assert not any(validator.is_valid(value) for value in bad)
    assert not validator.is_valid(1956.85)  # money is never a JSON number


# --- what really goes over the wire -------------------------------------------------------------


@pytest.fixture
async def server() -> AsyncIterator[FakeBillingServer]:
    async with FakeBillingServer() as fake:
        yield fake


async def _no_sleep(seconds: float) -> None:
    pass


async def run_scenario(server: FakeBillingServer) -> None:
    """Every operation, its answers and the failure modes the fake can play."""

    async def attempt(call: Awaitable[object]) -> None:
        with contextlib.suppress(BillingError):
            await call

    now = datetime(2024, 8, 20, 9, 0, tzinfo=UTC)
    async with HttpBillingConnector(server.base_url, TOKEN,
                                    retry=RetryPolicy(sleep=_no_sleep)) as bot, \
            HttpBillingConnector(server.base_url, "wrong-token-8k",
                                 retry=RetryPolicy(sleep=_no_sleep)) as stranger:
        for ref in (SEVGAS, DAGESTAN, CRIMEA, AccountRef("sevgas", "000000404"),
                    AccountRef("mrg_perm", "12345678")):
            await attempt(bot.find_account(ref))
        await attempt(bot.verify_ownership(DAGESTAN, Proof(ProofKind.PIN, pin=DAGESTAN_PIN)))
        await attempt(bot.verify_ownership(SEVGAS, Proof(ProofKind.PIN, pin="0000")))
        await attempt(bot.verify_ownership(CRIMEA, Proof(
            ProofKind.SURNAME_PAYMENT, surname=CRIMEA_SURNAME, last_payment=CRIMEA_LAST_PAYMENT)))
        await attempt(bot.get_balance(SEVGAS))
        await attempt(bot.get_balance(CRIMEA, Period(2024, 7)))
        await attempt(bot.get_payments(SEVGAS, 2024))
        await attempt(bot.get_charges(DAGESTAN, Period(2024, 1), Period(2024, 12)))
        await attempt(bot.get_account_details(SEVGAS))
        for ref in (SEVGAS, DAGESTAN, CRIMEA):
            await attempt(bot.get_meters(ref))
        good = ReadingSubmission("dg-7", (Decimal(27950), Decimal(10320)), "scenario-key-1", now)
        await attempt(bot.submit_reading(DAGESTAN, good))
        await attempt(bot.submit_reading(DAGESTAN, good))
        await attempt(bot.submit_reading(SEVGAS, ReadingSubmission(
            "sg-1", (Decimal("12340.1234"),), "scenario-key-2", now)))
        await attempt(bot.get_readings(SEVGAS, "sg-1", Period(2024, 1), Period(2024, 8)))
        await attempt(bot.get_readings(SEVGAS, "gone", Period(2024, 1), Period(2024, 8)))
        await attempt(bot.list_receipt_periods(SEVGAS))
        await attempt(bot.get_receipt(SEVGAS, Period(2024, 7)))
        await attempt(bot.get_receipt(DAGESTAN, Period(2024, 7)))
        await attempt(bot.get_receipt(SEVGAS, Period(2024, 8)))
        server.fail_next(1, 429, retry_after="1")
        server.fail_next(1, 502)
        server.fail_next(1, 504)
        await attempt(bot.get_meters(DAGESTAN))
        server.fail_next(1, 503, after_processing=True)
        await attempt(bot.submit_reading(SEVGAS, ReadingSubmission(
            "sg-1", (Decimal("12340.5"),), "scenario-key-3", now)))
        server.fail_next(1, 500)
        await attempt(bot.get_balance(DAGESTAN))
        await attempt(stranger.get_meters(SEVGAS))


def check_request(entry: LoggedRequest, ops: dict[tuple[str, str], tuple[Json, str]]) -> None:
    what = f"{entry.method} {entry.route} -> {entry.status}"
    assert entry.route is not None, f"{entry.method} to an undocumented path"
    assert (entry.method, entry.route) in ops, what
    op, op_pointer = ops[(entry.method, entry.route)]

    params = parameters(entry.route, op_pointer)
    for param, pointer in params:
        if param["in"] == "path":
            assert_valid_param(param, pointer, entry.path_params[param["name"]], what)
        elif param["in"] == "query":
            value = entry.query.get(param["name"])
            assert value is not None or not param.get("required"), f"{what}: no {param['name']}"
            if value is not None:
                assert_valid_param(param, pointer, value, what)
        elif param["in"] == "header" and param["name"] == "Idempotency-Key":
            assert entry.idempotency_key is not None, f"{what}: no Idempotency-Key"
            assert_valid_param(param, pointer, entry.idempotency_key, what)
    undocumented = entry.query.keys() - {p["name"] for p, _ in params if p["in"] == "query"}
    assert not undocumented, f"{what}: undocumented query parameters {undocumented}"

    if "requestBody" in op:
        body_pointer = f"{op_pointer}/requestBody/content/application~1json/schema"
        assert_valid(body_pointer, entry.request_json, f"{what} request body")
    else:
        assert entry.request_json is None, what

    answers = responses(op, op_pointer)
    assert str(entry.status) in answers, f"{what}: status not documented"
    response, pointer = answers[str(entry.status)]
    if "content" in response and entry.response_json is not None:
        assert_valid(f"{pointer}/content/application~1json/schema", entry.response_json,
                     f"{what} response body")
    if entry.status is not None and entry.status >= 400 and entry.response_json is not None:
        assert entry.response_json["error"]["code"] in response["x-error-codes"], what
    if entry.status is not None and 200 <= entry.status < 300 and "content" in response:
        assert entry.response_json is not None, f"{what}: a documented body is missing"


def assert_valid_param(param: Json, pointer: str, value: str, what: str) -> None:
    schema, _ = deref(param["schema"], "")
    # Query strings are text; the document types some parameters as integers.
    instance: object = int(value) if schema.get("type") == "integer" else value
    assert_valid(f"{pointer}/schema", instance, f"{what}: parameter {param['name']}")


async def test_connector_and_fake_speak_only_the_documented_api(
        server: FakeBillingServer) -> None:
    await run_scenario(server)

    ops = operations()
    for entry in server.requests:
        check_request(entry, ops)
    # The check above is only as good as the ground it covers.
    exercised = {(r.method, r.route) for r in server.requests}
    assert exercised == set(ops)
    statuses = {r.status for r in server.requests}
    assert {200, 201, 204, 401, 403, 404, 422, 429, 500, 502, 503, 504} <= statuses
    assert server.readings_created == 2


async def test_fake_answers_to_invalid_requests_are_documented(
        server: FakeBillingServer) -> None:
    """Requests the connector would never send, made by hand: the fake must still answer as
    the contract says (and so must a supplier)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = server.base_url + "/suppliers/sevgas/accounts/001234567"
    async with aiohttp.ClientSession(headers=headers) as session:
        bad: list[tuple[str, str, object]] = [
            ("GET", "/balance?period=2024-13", None),
            ("GET", "/payments", None),
            ("GET", "/charges?from=2024-08&to=2024-01", None),
            # Севгаз accepts only a PIN.
            ("POST", "/ownership-verifications",
             {"kind": "surname_payment", "surname": "x", "last_payment": "0"}),
            # No Idempotency-Key.
            ("POST", "/meters/sg-1/readings",
             {"values": ["1"], "submitted_at": "2024-08-20T10:00:00+03:00"}),
            ("GET", "/receipts/2024-8", None),
        ]
        for method, path, body in bad:
            async with session.request(method, base + path, json=body) as answer:
                assert answer.status == 400, path
        submit = {"values": ["12340"], "submitted_at": "2024-08-20T10:00:00+03:00"}
        for values, status in [(["12340"], 201), (["12341"], 409)]:
            async with session.post(base + "/meters/sg-1/readings",
                                    json={**submit, "values": values},
                                    headers={"Idempotency-Key": "manual-key-01"}) as answer:
                assert answer.status == status
    ops = operations()
    for entry in server.requests:
        if entry.status == 400:
            op, pointer = ops[(entry.method, entry.route or "")]
            _, response_pointer = responses(op, pointer)["400"]
            assert_valid(f"{response_pointer}/content/application~1json/schema",
                         entry.response_json, "400 body")
        else:
            check_request(entry, ops)
