"""Issue 17 finding 4: a failing request never puts a secret in the logs.

A 500 on ``PUT /api/v1/uplink/platform`` printed the plaintext platform password 10+ times, in the
local variables of its traceback (structlog's default console renderer shows every frame's locals).
Here the request fails for real inside the encryption (an unusable master key in the environment), and
the captured log output — console and JSON — holds the traceback but not the password. Secret-named
fields are redacted at any depth by one processor.
"""

from __future__ import annotations

import json
import logging

import pytest
import structlog

from cloud.logging import REDACTED, configure_logging, redact_secrets
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.anyio
SECRET = "Leak-Me-Not-4711-Pa55"


def test_secret_named_fields_are_redacted_at_any_depth() -> None:
    event = redact_secrets(
        None,
        "info",
        {
            "event": "uplink.configure",
            "password": SECRET,
            "session_secret": SECRET,
            "credentials": {"username": "u", "password": SECRET},
            "payload": {"platform": {"prksm2": SECRET, "token": SECRET}, "items": [{"api_key": SECRET}]},
            "plate": "鄂A12345",
            "tenant_id": "t-1",
        },
    )
    assert SECRET not in json.dumps(event, ensure_ascii=False)
    assert event["password"] == REDACTED
    assert event["credentials"] == REDACTED
    assert event["payload"]["items"] == [{"api_key": REDACTED}]
    assert (event["plate"], event["tenant_id"], event["event"]) == ("鄂A12345", "t-1", "uplink.configure")


@pytest.mark.parametrize("as_json", [False, True], ids=["console", "json"])
async def test_a_failing_request_leaves_no_secret_in_the_logs(
    client, make_tenant, login_as, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], as_json: bool
) -> None:
    monkeypatch.setenv("ECOGATE_LOG_JSON", "1" if as_json else "0")
    configure_logging(logging.INFO)
    try:
        tenant = await make_tenant()
        admin = await login_as(tenant.admin_login, PASSWORD)
        monkeypatch.setenv("ECOGATE_UPLINK_KEY", "dG9vLXNob3J0")  # unusable: the request fails in the encryption
        body = {"base_url": "http://127.0.0.1:9", "enterprise_code": "E1", "username": "u", "password": SECRET}
        failed = await client.put("/api/v1/uplink/platform", json=body, headers=admin)
        assert failed.status_code == 500
        assert failed.json()["code"] == "internal_error"
        structlog.get_logger("test").info("explicit", password=SECRET, credentials={"password": SECRET})
        captured = capfd.readouterr()
        output = captured.out + captured.err
    finally:
        monkeypatch.delenv("ECOGATE_LOG_JSON")
        configure_logging(logging.INFO)
    assert "unhandled error" in output
    assert "Traceback" in output or '"exception"' in output  # the traceback is there, only without locals
    assert SECRET not in output
    assert SECRET not in failed.text
