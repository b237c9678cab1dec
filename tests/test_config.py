from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

ROOT = Path(__file__).resolve().parent.parent
GOOD_TOKEN = "123456789:AAHtestTOKENtestTOKENtestTOKEN0123456"


def run_bot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "MODE", "WEBHOOK"))}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env={**clean, **env}, cwd=ROOT / "tests",
        capture_output=True, text=True, timeout=60, check=False,
    )


def test_missing_token_is_one_clear_line_without_traceback() -> None:
    result = run_bot({})
    assert result.returncode == 2
    assert result.stderr.strip() == "Configuration error: BOT_TOKEN: is required but not set"
    assert "Traceback" not in result.stderr + result.stdout


def test_malformed_settings_name_the_variable() -> None:
    result = run_bot({"BOT_TOKEN": "not-a-token"})
    assert result.returncode == 2
    assert result.stderr.startswith("Configuration error: BOT_TOKEN:")
    assert "not-a-token" not in result.stderr
    result = run_bot({"BOT_TOKEN": GOOD_TOKEN, "WEBHOOK_PORT": "http"})
    assert result.returncode == 2 and "WEBHOOK_PORT" in result.stderr
    result = run_bot({"BOT_TOKEN": GOOD_TOKEN, "MODE": "webhook"})
    assert result.returncode == 2 and "WEBHOOK_URL" in result.stderr


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"database_url": "mysql://x"}, "DATABASE_URL"),
        ({"redis_url": "http://x"}, "REDIS_URL"),
        ({"telegram_api_url": "ftp://x"}, "TELEGRAM_API_URL"),
        ({"log_format": "xml"}, "LOG_FORMAT"),
        ({"mode": "webhook", "webhook_url": "https://x", "webhook_secret": "bad secret!"},
         "WEBHOOK_SECRET"),
    ],
)
def test_each_bad_value_names_its_variable(overrides: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, bot_token=GOOD_TOKEN, **overrides)
    assert variable in str(info.value)
    assert "\n" not in str(info.value)


def test_defaults() -> None:
    settings = load_settings(_env_file=None, bot_token=GOOD_TOKEN)
    assert settings.database_url.startswith("sqlite+aiosqlite:///data/")
    assert settings.mode == "polling"
    assert settings.default_locale == "ru"
    assert settings.redis_url is None
