"""Commissioning of a lane by the installer: ``ecogate agent commission`` (issue 23, :mod:`agent.commission.cli`)."""
