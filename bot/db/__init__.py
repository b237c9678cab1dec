"""Database: engine and session factory, ORM models, repositories (all SQL lives there)."""
