"""Conversation states: one module per conversation, states and typed data side by side."""
