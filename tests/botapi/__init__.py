"""Test harness: a local fake Bot API server that validates every request against api.json."""

from tests.botapi.server import ApiCall, FakeBotAPI, RateLimits
from tests.botapi.spec import SpecChecker, Violation, default_spec_path

__all__ = [
    "ApiCall",
    "FakeBotAPI",
    "RateLimits",
    "SpecChecker",
    "Violation",
    "default_spec_path",
]
