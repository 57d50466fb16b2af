"""Subscriptions and billing with Stripe (issue 22): plans, entitlements, webhooks, dunning.

* :mod:`cloud.billing.stages` — the dunning state machine (pure);
* :mod:`cloud.billing.gateway` — the Stripe REST calls, through the ``stripe`` library only;
* :mod:`cloud.billing.service` — every billing write (accounts, checkout, webhooks, bank transfer,
  dunning, the platform catalogue) and the platform admin's overview;
* :mod:`cloud.billing.entitlements` — the plan limits on gated management actions.

Billing never gates the ledger (ADR 0033): nothing in cloud/ledger, cloud/hub, cloud/uplink or agent
imports this package (tests/test_import_contracts.py), and no check here is called on ingest, gate
decisions, the uplink, the regulator's reads or the tenant's own ledger and exports.
"""
