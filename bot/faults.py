"""Fault injection for the crash tests. TEST-ONLY: off unless `GASBOT_CRASH_AT` is set.

`crash_point(name)` ends the process on the spot, as `kill -9` would (no `finally`, no
shutdown hooks, no flushing), when the environment variable `GASBOT_CRASH_AT` names that
point. The tests use it to prove that a reading survives a crash at the worst moments:
just before the billing system is called, and just after it answered but before the
outbox row records the answer. The variable is read at every call, so a test can start
the bot with it and restart it without; it is never set in production.

Nothing is logged: the logging handlers would not get to flush anyway, and one line on
stderr (the point's name, nothing about the user) is enough for a test to see why the
process died.
"""

from __future__ import annotations

import os
from typing import Final

CRASH_ENV: Final = "GASBOT_CRASH_AT"
# What a shell reports for a process killed by SIGKILL (128 + 9).
CRASH_EXIT_CODE: Final = 137


def crash_point(name: str) -> None:
    """Exit the process immediately if `GASBOT_CRASH_AT` equals `name`; otherwise nothing."""
    if os.environ.get(CRASH_ENV) == name:
        os.write(2, f"crash point reached: {name}\n".encode())
        os._exit(CRASH_EXIT_CODE)
