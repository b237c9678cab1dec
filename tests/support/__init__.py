"""Test support: a recording fake Bot API session, a chat client, service availability."""
