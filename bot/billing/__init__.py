"""Billing connectors: the seam between the bot and a supplier's billing system.

`base.BillingConnector` is the interface; `demo` (embedded, data in our database) and `http`
(a REST client of the API in docs/billing-api.yaml) implement it; `registry` picks one per
supplier.
"""
