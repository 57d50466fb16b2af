"""Command groups of the ``ecogate`` console script that belong to the cloud."""
