"""Alembic migrations, applied by `python -m bot migrate` and at every start."""
