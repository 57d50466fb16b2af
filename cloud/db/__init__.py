"""Database layer of the cloud: models, engines, sessions and migrations."""
