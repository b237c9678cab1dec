"""Prometheus metrics of one runtime (prometheus-client), served at `GET /metrics`.

Each `Metrics` owns its `CollectorRegistry`: the library's global registry would make every
runtime built in one process (the tests build many) fight over the same metric names.

Other features count through the `Metrics` object of the runtime (`runtime.metrics`):

    metrics.reminders_sent.inc()
    metrics.reminders_failed.labels(reason="blocked").inc()
    metrics.observe_billing_call("billing.example.org", "getBalance", 0.182)

Label values must come from small fixed sets (update kinds, outcomes, operation names,
reasons): every distinct value is a new time series kept for the life of the process, so a
user id, an account number or an exception message never goes into a label.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from bot.middlewares.events import InFlight

# Most updates take a few milliseconds; a billing call or a PDF pushes one towards seconds.
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0)
# One billing attempt is bounded by BILLING_TIMEOUT (5 s by default).
BILLING_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

EventSink = Callable[[dict[str, Any]], Awaitable[None]]


class Metrics:
    """The bot's metrics; attributes are prometheus-client metrics, used as such."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.updates = Counter(
            "bot_updates", "Updates by kind and outcome: handled, unhandled, error, "
            "duplicate (a repeated update_id, skipped), throttled (dropped, user over the rate).",
            ["kind", "outcome"], registry=self.registry,
        )
        self.handler_latency = Histogram(
            "bot_handler_latency_seconds",
            "Time from taking an update into the handlers to being done with it.",
            buckets=HANDLER_BUCKETS, registry=self.registry,
        )
        self.errors = Counter(
            "bot_errors", "Updates whose handling raised, by update kind.",
            ["kind"], registry=self.registry,
        )
        self.reminders_sent = Counter(
            "bot_reminders_sent", "Reminders delivered to users.", registry=self.registry,
        )
        self.reminders_failed = Counter(
            "bot_reminders_failed", "Reminders not delivered, by reason.",
            ["reason"], registry=self.registry,
        )
        self.billing_call = Histogram(
            "bot_billing_call_seconds", "Duration of one HTTP attempt to a billing system.",
            ["supplier_system", "operation"], buckets=BILLING_BUCKETS, registry=self.registry,
        )
        self.in_flight = Gauge(
            "bot_updates_in_flight", "Updates being handled right now.", registry=self.registry,
        )

    def track_in_flight(self, in_flight: InFlight) -> None:
        """Read the gauge from the counter shutdown already drains, so the two never differ."""
        self.in_flight.set_function(lambda: in_flight.count)

    def count_update(self, kind: str, outcome: str) -> None:
        self.updates.labels(kind=kind, outcome=outcome).inc()

    def observe_update(self, kind: str, outcome: str, seconds: float) -> None:
        """An update that went through the handlers (the event log's record of it)."""
        self.count_update(kind, outcome)
        self.handler_latency.observe(seconds)
        if outcome == "error":
            self.errors.labels(kind=kind).inc()

    def observe_billing_call(self, supplier_system: str, operation: str,
                             seconds: float) -> None:
        """Fits `HttpBillingConnector(observe=...)`."""
        self.billing_call.labels(supplier_system=supplier_system,
                                 operation=operation).observe(seconds)

    def event_sink(self, forward: EventSink | None = None) -> EventSink:
        """A sink for `EventLogMiddleware`: observes each update's record, then hands it on
        (to the persistent event store) unchanged."""

        async def sink(record: dict[str, Any]) -> None:
            self.observe_update(str(record.get("kind")), str(record.get("outcome")),
                                float(record.get("duration_ms") or 0.0) / 1000)
            if forward is not None:
                await forward(record)

        return sink
