"""Keyboards: pure functions of their inputs; texts go through gettext at call time."""
