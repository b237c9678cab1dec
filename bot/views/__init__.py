"""Renderers: pure functions from domain values to the HTML text of a message.

They take the language explicitly and call no service, so any entry point (a command, a
button, an inline query, a reminder) renders the same thing from the same data.
"""
