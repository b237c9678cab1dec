"""Reminders: the readings window, the payment due date and a new receipt, sent once, on time,
within Telegram's limits.

How the pieces fit (each module says why it is built the way it is):

- `models`: what a user can set per account (kinds, days, time of day) and the defaults that
  apply until they change anything; the Russian time zones offered.
- `planner`: pure functions: given the settings rows and a moment, which reminders are due.
- `delivery`: the outbox. A due reminder is first written as a row whose UNIQUE key is
  (kind, user, account, period); only then is it claimed and sent, so neither a second
  process, nor a second run for the same moment, nor a restart mid-fan-out sends it twice.
- `ratelimit`: the global pace (REMINDERS_RATE messages a second) and one message per chat
  per second; a 429 pauses every send for `retry_after`.
- `content`: the text and buttons of one reminder, in the user's language, with the amount
  due or the receipt's availability asked from the billing system when that decides anything.
- `scheduler`: APScheduler 3 with one periodic tick job that plans and enqueues.
- `leader`: with Redis, one process among several runs the scheduler and the sender.
- `engine`: the background service that ties them together for the running bot.
"""
