"""A regulator platform simulator for tests, benchmarks and ``make demo`` (issue 8).

It speaks the ``transportControl`` family (REGULATION.md §2.4) the way the platforms seen in the
field answer: tokens that expire, schema checks with the platform's reasons, de-duplication by the
record serial ``lsh`` (a second submission is answered ``已存在`` and counted), photos by serial. Faults
are injected through :class:`Faults`: the whole platform down (connections refused), a share of 5xx
answers, of timeouts (the answer never comes), of malformed bodies and HTML error pages, every token
expired at once, a rate limit, and schema rejection of chosen serials.

In-process::

    async with RegulatorSimulator() as sim:
        sim.url            # base URL of the platform
        sim.faults.error_rate = 0.2
        await sim.set_down(True)
        sim.records        # serial -> the accepted record value

As a process: ``python -m infra.regsim --port 18080`` (inspection at ``GET /_sim/state``, faults with
``POST /_sim/faults``).
"""

from infra.regsim.app import Faults, RegulatorSimulator

__all__ = ["Faults", "RegulatorSimulator"]
