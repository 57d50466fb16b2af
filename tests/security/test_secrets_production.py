"""Issue 17 finding 3: secrets fail closed, credentials are envelope-encrypted and rotatable, regulators never see them.

* Production mode refuses to start with a missing or weak session secret (``ECOGATE_SESSION_SECRET=x``),
  a missing or malformed uplink master key, or cookies without ``Secure`` — in ``create_app`` and as
  ``ecogate cloud serve`` (exit 2, a Chinese message, no traceback).
* Platform credentials (passwords and SM2 keys) are sealed with a data key per record wrapped by the
  master key, whose id is stored; ``rotate-key`` re-encrypts under a new master key.
* The regulator database role cannot read ``uplink_platform`` at all.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from cloud.app import create_app
from cloud.settings import InsecureSettingsError, Settings
from cloud.uplink import platforms
from tenants.context import Principal, Role
from tests.cloud.conftest import fx_superuser_url
from tests.security.conftest import PASSWORD

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
STRONG_SECRET = "Yk3-pX9qLm2Zt7VbN4sR8wE1hJ6cF0aUdG5yTiOo"
__all__ = ["fx_superuser_url"]


def _key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _production(settings: Settings, secret: str = STRONG_SECRET, *, secure: bool = True) -> Settings:
    auth = dataclasses.replace(settings.auth, session_secret=secret, secure_cookies=secure)
    return dataclasses.replace(settings, environment="production", auth=auth)


@pytest.mark.parametrize(
    ("secret", "key", "secure", "complaint"),
    [
        ("x", "good", True, "ECOGATE_SESSION_SECRET"),
        ("", "good", True, "ECOGATE_SESSION_SECRET"),
        ("a" * 48, "good", True, "熵过低"),
        (STRONG_SECRET, "", True, "ECOGATE_UPLINK_KEY"),
        (STRONG_SECRET, "c2hvcnQ", True, "32 字节"),
        (STRONG_SECRET, "good", False, "ECOGATE_SECURE_COOKIES"),
    ],
)
def test_production_mode_refuses_weak_or_missing_secrets(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, secret: str, key: str, secure: bool, complaint: str
) -> None:
    monkeypatch.setenv("ECOGATE_UPLINK_KEY", _key() if key == "good" else key)
    with pytest.raises(InsecureSettingsError, match=complaint):
        create_app(_production(settings, secret, secure=secure))


def test_production_mode_starts_with_real_secrets(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOGATE_UPLINK_KEY", _key())
    assert create_app(_production(settings)) is not None


def test_ecogate_cloud_serve_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ECOGATE_ENV": "production",
        "ECOGATE_SESSION_SECRET": "x",
        "ECOGATE_UPLINK_KEY": "",
        "DATABASE_APP_URL": "postgresql://nobody@127.0.0.1:9/none",
        "DATABASE_REGULATOR_URL": "postgresql://nobody@127.0.0.1:9/none",
        "ECOGATE_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "ecogate_cli", "cloud", "serve", "--no-migrate", "--port", "9"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "生产模式拒绝启动" in done.stderr
    assert "ECOGATE_SESSION_SECRET" in done.stderr
    assert "ECOGATE_UPLINK_KEY" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_development_key_is_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOGATE_ENV", "production")
    monkeypatch.delenv("ECOGATE_UPLINK_KEY", raising=False)
    with pytest.raises(InsecureSettingsError):
        platforms.seal(uuid.uuid4(), {"username": "u", "password": "p"})


async def _stored(superuser_url: str, tenant_id: uuid.UUID) -> Any:
    conn = await asyncpg.connect(superuser_url)
    try:
        return await conn.fetchrow(
            "SELECT credentials_enc, credentials_dek, credentials_key_id FROM uplink_platform WHERE tenant_id = $1",
            tenant_id,
        )
    finally:
        await conn.close()


async def test_credentials_are_envelope_encrypted_and_rotate(
    client, database, make_tenant, login_as, superuser_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = _key(), _key()
    monkeypatch.setenv("ECOGATE_UPLINK_KEY", first)
    tenant = await make_tenant()
    admin = await login_as(tenant.admin_login, PASSWORD)
    body = {
        "base_url": "http://127.0.0.1:9",
        "enterprise_code": "420102000001",
        "username": "ecogate",
        "password": "Platform-Pa55-7391",
    }
    assert (await client.put("/api/v1/uplink/platform", json=body, headers=admin)).status_code == 200
    row = await _stored(superuser_url, tenant.tenant_id)
    assert row["credentials_key_id"] == platforms.key_id(base64.urlsafe_b64decode(first))
    assert row["credentials_dek"] is not None
    assert b"Platform-Pa55-7391" not in row["credentials_enc"]

    # A Tianjin profile's SM2 private key is sealed the same way (the CLI and the API share configure()).
    sm2_key = "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
    actor = Principal(uuid.UUID(int=0), Role.TENANT_ADMIN, tenant.tenant_id, None, "test")
    async with database.session(actor) as session, session.begin():
        await platforms.configure(
            session,
            tenant.tenant_id,
            profile="tianjin",
            base_url="http://127.0.0.1:9",
            enterprise_code="TJ0001",
            credentials={"username": "tj", "password": "tj-pass", "prksm2": sm2_key},
        )
    row = await _stored(superuser_url, tenant.tenant_id)
    assert sm2_key.encode() not in row["credentials_enc"]
    assert bytes.fromhex(sm2_key) not in row["credentials_enc"]

    # Rotation: the new master key alone cannot open the old records until rotate-key re-encrypts them.
    monkeypatch.setenv("ECOGATE_UPLINK_KEY", second)
    async with database.session(actor) as session, session.begin():
        with pytest.raises(ValueError, match="主密钥"):
            await platforms.load(session, tenant.tenant_id)
    monkeypatch.setenv("ECOGATE_UPLINK_OLD_KEYS", first)
    result = await platforms.rotate_all(database)
    assert result["key_id"] == platforms.key_id(base64.urlsafe_b64decode(second))
    assert int(result["rotated"]) >= 1  # type: ignore[call-overload]
    monkeypatch.delenv("ECOGATE_UPLINK_OLD_KEYS")
    async with database.session(actor) as session, session.begin():
        config = await platforms.load(session, tenant.tenant_id)
    assert config is not None
    assert config.credentials["prksm2"] == sm2_key
    assert (await _stored(superuser_url, tenant.tenant_id))["credentials_key_id"] == result["key_id"]


async def test_the_regulator_role_cannot_read_platform_credentials(db_urls, client, make_tenant, login_as) -> None:
    tenant = await make_tenant(region_code="420102")
    admin = await login_as(tenant.admin_login, PASSWORD)
    body = {"base_url": "http://127.0.0.1:9", "enterprise_code": "E1", "username": "u", "password": "Reg-Pa55-1"}
    assert (await client.put("/api/v1/uplink/platform", json=body, headers=admin)).status_code == 200
    conn = await asyncpg.connect(db_urls.regulator_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        await conn.execute("SELECT set_config('app.region_code', '42', false)")
        for query in (
            "SELECT credentials_enc FROM uplink_platform",
            "SELECT credentials_dek, credentials_key_id FROM uplink_platform",
            "SELECT * FROM uplink_platform",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(query)
        # What is not secret stays readable (whether the enterprise reports to a platform, and which).
        async with conn.transaction():
            await conn.execute("SELECT set_config('app.region_code', '42', true)")
            assert (
                await conn.fetchval("SELECT count(*) FROM uplink_platform WHERE tenant_id = $1", tenant.tenant_id) == 1
            )
        for function in ("uplink_credential_tenants()", "auth_session_active(gen_random_uuid(), gen_random_uuid())"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"SELECT {function}")
    finally:
        await conn.close()
