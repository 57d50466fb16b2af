"""Billing settings from the environment (read once per process).

* ``ECOGATE_STRIPE_SECRET_KEY`` — the API key (``sk_test_…`` against the fake);
* ``ECOGATE_STRIPE_API_BASE`` — the API's base URL; set to the local fake (``infra/stripe_fake.py``)
  for offline runs, unset for Stripe itself;
* ``ECOGATE_STRIPE_WEBHOOK_SECRET`` — the endpoint's signing secret (``whsec_…``).

Without a key billing still works for trials, entitlements, bank transfer and the overview; checkout
and the customer portal answer that online payment is not configured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class BillingConfig:
    """Stripe credentials and where to reach it."""

    secret_key: str = ""
    api_base: str = ""
    webhook_secret: str = ""

    @classmethod
    def from_env(cls) -> BillingConfig:
        """Read the ``ECOGATE_STRIPE_*`` variables."""
        return cls(
            secret_key=os.environ.get("ECOGATE_STRIPE_SECRET_KEY", ""),
            api_base=os.environ.get("ECOGATE_STRIPE_API_BASE", ""),
            webhook_secret=os.environ.get("ECOGATE_STRIPE_WEBHOOK_SECRET", ""),
        )
