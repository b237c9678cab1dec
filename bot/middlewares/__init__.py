"""Middlewares: the event log, the per-update database session and the current user."""
