"""Security test fixtures (issue 17): the cloud fixtures of tests/cloud, shared by S1's and S2's tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from cloud.settings import Settings
from tests.cloud.conftest import (
    PASSWORD,
    fx_app,
    fx_client,
    fx_login_as,
    fx_make_staff,
    fx_make_tenant,
    fx_make_user,
)
from tests.cloud.conftest import fx_settings as _cloud_settings


@pytest.fixture(name="settings")
def fx_settings(db_urls: object, tmp_path: Path) -> Settings:
    """The cloud test settings, in development mode (test secrets are not production secrets)."""
    settings: Settings = _cloud_settings.__wrapped__(db_urls, tmp_path)  # type: ignore[attr-defined]
    if any(f.name == "environment" for f in dataclasses.fields(settings)):
        settings = dataclasses.replace(settings, environment="development")
    return settings


__all__ = [
    "PASSWORD",
    "fx_app",
    "fx_client",
    "fx_login_as",
    "fx_make_staff",
    "fx_make_tenant",
    "fx_make_user",
    "fx_settings",
]
