"""Repositories: every SQL statement of the bot lives here, and so does the commit."""
