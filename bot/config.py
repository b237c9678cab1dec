"""Settings read from the environment and `.env` (pydantic-settings).

Every variable is documented in `.env.example`; a missing or malformed one stops the bot at
start with one line naming it (see `bot.__main__`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{10,}$")
# Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and - in a webhook secret token.
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ToolSettings(BaseSettings):
    """What the operator commands (migrate, demo-accounts, logs, reminders) need: storage,
    catalog and logging, and no bot token. The bot's `Settings` extend it."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    database_url: str = "sqlite+aiosqlite:///data/bot.sqlite3"
    redis_url: str | None = None
    suppliers_file: Path | None = None

    log_format: Literal["json", "console"] = "console"
    log_file: Path | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    event_retention_days: int = Field(default=30, ge=1)

    # Reminders (bot/reminders): on/off, the global pace in messages a second (Telegram
    # allows about 30), how late a missed reminder may still go out, the scheduler's tick,
    # tries per reminder, and the leader lock's TTL and renewal (with REDIS_URL).
    reminders_enabled: bool = True
    reminders_rate: float = Field(default=25.0, gt=0, le=30)
    reminders_grace_hours: float = Field(default=6.0, gt=0, le=72)
    reminders_tick_seconds: float = Field(default=60.0, gt=0, le=3600)
    reminders_max_attempts: int = Field(default=5, ge=1, le=50)
    reminders_leader_ttl: float = Field(default=15.0, gt=0)
    reminders_leader_renew: float = Field(default=5.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _db_url(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("suppliers_file")
    @classmethod
    def _suppliers_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"file not found: {value}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _leader_timing(self) -> ToolSettings:
        if self.reminders_leader_renew >= self.reminders_leader_ttl:
            raise ValueError("REMINDERS_LEADER_RENEW: must be shorter than REMINDERS_LEADER_TTL")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


class Settings(ToolSettings):
    bot_token: SecretStr
    telegram_api_url: str = "https://api.telegram.org"

    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_host: str = "0.0.0.0"  # noqa: S104 - the webhook server listens behind a proxy
    webhook_port: int = Field(default=8080, ge=1, le=65535)
    webhook_path: str = "/webhook"

    default_locale: Literal["ru", "en"] = "ru"
    # Times not tied to a supplier (a support ticket about no account) are shown in this
    # zone; the catalog's default, and most suppliers', is Moscow time.
    default_timezone: str = "Europe/Moscow"
    privacy_policy_url: str = "https://example.org/privacy"
    privacy_policy_version: str = "2026-11"

    billing_url: str | None = None
    billing_token: SecretStr | None = None
    billing_timeout: float = Field(default=5.0, gt=0)
    max_accounts_per_user: int = Field(default=10, ge=1, le=100)

    fsm_ttl_days: int = Field(default=30, ge=1)
    shutdown_timeout: float = Field(default=10.0, gt=0)

    throttle_rate: float = Field(default=3.0, ge=0)  # updates/s per user; 0 turns it off
    throttle_burst: int = Field(default=10, ge=1)
    metrics_host: str = "0.0.0.0"  # noqa: S104 - scraped from another host or container
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    # The staff group that receives support tickets (a negative chat id); None: tickets are
    # only stored. Admins (Telegram user ids) may use /stats.
    support_chat_id: int | None = None
    admin_ids: Annotated[tuple[int, ...], NoDecode] = ()

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("is required but not set")
        if not TOKEN_RE.match(value.get_secret_value()):
            raise ValueError("must look like 123456789:AAE... (the token from @BotFather)")
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL such as https://api.telegram.org")
        return value.rstrip("/")

    @field_validator("billing_url")
    @classmethod
    def _billing_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("metrics_port", mode="before")
    @classmethod
    def _metrics_port(cls, value: object) -> object:
        # `METRICS_PORT=` as written in .env.example means "not set".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("support_chat_id", mode="before")
    @classmethod
    def _support_chat_id(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _admin_ids(cls, value: object) -> object:
        # `ADMIN_IDS=1,2` from the environment; a list or tuple from code.
        if isinstance(value, str):
            parts = [p.strip() for p in value.split(",") if p.strip()]
            if not all(re.fullmatch(r"\d{1,20}", p) for p in parts):
                raise ValueError("must be Telegram user ids separated by commas, e.g. 1234,5678")
            return tuple(int(p) for p in parts)
        return value

    @field_validator("default_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import available_timezones

        if value not in available_timezones():
            raise ValueError("must be an IANA time zone such as Europe/Moscow")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> Settings:
        if self.mode == "webhook":
            if not self.webhook_url:
                raise ValueError("WEBHOOK_URL: required when MODE=webhook")
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if not SECRET_RE.match(secret):
                raise ValueError(
                    "WEBHOOK_SECRET: required when MODE=webhook, 1-256 of A-Z a-z 0-9 _ -"
                )
        return self


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


def load_settings(**overrides: object) -> Settings:
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def load_tool_settings(**overrides: object) -> ToolSettings:
    from pydantic import ValidationError

    try:
        return ToolSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None


def describe_validation_error(exc: Exception) -> str:
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return str(exc)
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]).upper()
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "is required but not set"
        parts.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(parts)
