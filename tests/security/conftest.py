"""Security test fixtures (issue 17): the cloud fixtures of tests/cloud, shared by S1's and S2's tests."""

from __future__ import annotations

from tests.cloud.conftest import (
    PASSWORD,
    fx_app,
    fx_client,
    fx_login_as,
    fx_make_staff,
    fx_make_tenant,
    fx_make_user,
    fx_settings,
)

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
