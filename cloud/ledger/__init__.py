"""The ledger: the one write path of pass events, weighings, corrections and manual releases.

ARCHITECTURE.md "Who writes what": nothing outside this package inserts into ``pass_event``,
``pass_correction`` or ``weighing`` (a contract test in tests/test_import_contracts.py holds it).

* :mod:`cloud.ledger.passes`: pass events (the hub's batch ingest and single inserts) — resolves the
  vehicle and the vehicle version valid at the pass time, fills every HJ 1321 field, queues the uplink.
* :mod:`cloud.ledger.corrections`: corrections of pass events (who and why; sealed in the cloud chain).
* :mod:`cloud.ledger.weighings`: weighings and late weight attachments.
"""
