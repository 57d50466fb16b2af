"""The agent runtime: configuration, supervisor, lane pipelines and the ``check-config``/``run`` commands."""
