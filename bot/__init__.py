"""The gas bot: an aiogram 3 application (see README.md)."""

from bot.aiogram_lazy import install as _defer_aiogram_models

_defer_aiogram_models()
