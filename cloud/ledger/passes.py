"""Pass events (进出记录): the only code that inserts into ``pass_event`` (work in progress, issue 15)."""

from __future__ import annotations
