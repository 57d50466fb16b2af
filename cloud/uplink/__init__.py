"""Regulator uplink (issue 8): records flow to the provincial/city regulator platform of each tenant.

* :mod:`cloud.uplink.adapters` — one adapter per platform protocol family behind one interface;
* :mod:`cloud.uplink.outbox` — the transactional outbox (filled in the ledger write's transaction),
  re-send of a period (补传) and the upload KPIs;
* :mod:`cloud.uplink.worker` — workers that claim due rows (``FOR UPDATE SKIP LOCKED``), send, record
  every answer, retry with backoff and jitter, and put permanent rejections in the review queue;
* :mod:`cloud.uplink.platforms` — per-tenant platform configuration, credentials encrypted at rest.
"""
