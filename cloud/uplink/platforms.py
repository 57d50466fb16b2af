"""Per-tenant platform configuration; credentials (passwords, SM2 keys) under envelope encryption.

Each record has its own random data key (AES-256-GCM) that encrypts the credentials JSON, bound to the
tenant (associated data), so a ciphertext copied to another tenant's row does not decrypt. The data
key is stored wrapped by the master key ``ECOGATE_UPLINK_KEY`` (32 bytes, URL-safe base64; in
production from the cloud's KMS), with the master key's id beside it (``credentials_key_id``,
migration 0015). Rotating the master key: set the new key as ``ECOGATE_UPLINK_KEY``, the old one in
``ECOGATE_UPLINK_OLD_KEYS`` (comma-separated), run ``ecogate uplink rotate-key`` (re-encrypts every
record under a fresh data key and the new master key), then drop the old key.

Production mode (cloud/settings.py) refuses to start without a valid master key; only development
mode falls back to a key derived from a fixed label, with a warning (the demo and tests). Rows
written before migration 0015 (``key_id = 'legacy'``, no data key) are read with the master keys
known, and re-encrypted by ``rotate-key``. The regulator role cannot read this table at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.settings import InsecureSettingsError, environment_from_env, uplink_key_problem
from cloud.uplink.adapters import PROFILES, PlatformConfig

if TYPE_CHECKING:
    from cloud.db.engine import Database

log = structlog.get_logger(__name__)
_warned = False
LEGACY_KEY_ID = "legacy"
_DEV_KEY = hashlib.sha256(b"ecogate-uplink-development-key").digest()
_DEK_AAD = b"ecogate-uplink-dek:"


def key_id(key: bytes) -> str:
    """A master key's public id (a digest prefix; it identifies the key without revealing it)."""
    return "k" + hashlib.sha256(b"ecogate-key-id:" + key).hexdigest()[:16]


def _decode(raw: str) -> bytes:
    problem = uplink_key_problem(raw)
    if problem:
        raise InsecureSettingsError(f"ECOGATE_UPLINK_KEY {problem}")
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))


def _current_key() -> bytes:
    """The master key new records are wrapped with."""
    global _warned  # noqa: PLW0603 - warn once per process
    raw = os.environ.get("ECOGATE_UPLINK_KEY", "")
    if raw:
        return _decode(raw)
    if environment_from_env() != "development":
        raise InsecureSettingsError("生产模式下必须设置 ECOGATE_UPLINK_KEY（监管平台凭据的主密钥）")
    if not _warned:
        log.warning("ECOGATE_UPLINK_KEY not set; platform credentials use the development key (development mode)")
        _warned = True
    return _DEV_KEY


def _known_keys(*, allow_dev: bool = False) -> dict[str, bytes]:
    """Every master key this process may unwrap with, by id (current first, then the old ones)."""
    keys = [_current_key()]
    keys += [_decode(k.strip()) for k in os.environ.get("ECOGATE_UPLINK_OLD_KEYS", "").split(",") if k.strip()]
    if allow_dev or environment_from_env() == "development":
        keys.append(_DEV_KEY)
    return {key_id(k): k for k in keys}


@dataclass(frozen=True)
class Sealed:
    """Encrypted credentials: the ciphertext, the wrapped data key and the master key's id."""

    ciphertext: bytes
    wrapped_key: bytes
    key_id: str


def seal(tenant_id: uuid.UUID, credentials: Mapping[str, str]) -> Sealed:
    """Encrypt the credentials (JSON) under a fresh data key wrapped by the current master key."""
    master = _current_key()
    dek = AESGCM.generate_key(bit_length=256)
    nonce, wrap_nonce = secrets.token_bytes(12), secrets.token_bytes(12)
    plain = json.dumps(dict(credentials), ensure_ascii=False).encode()
    ciphertext = nonce + AESGCM(dek).encrypt(nonce, plain, tenant_id.bytes)
    wrapped = wrap_nonce + AESGCM(master).encrypt(wrap_nonce, dek, _DEK_AAD + tenant_id.bytes)
    return Sealed(ciphertext, wrapped, key_id(master))


def open_sealed(
    tenant_id: uuid.UUID, ciphertext: bytes, wrapped_key: bytes | None, master_id: str, *, allow_dev: bool = False
) -> dict[str, str]:
    """The credentials stored by :func:`seal` (or by the pre-0015 direct encryption when ``wrapped_key`` is None).

    Raises:
        ValueError: when no known master key opens the record, or it was made for another tenant.
    """
    keys = _known_keys(allow_dev=allow_dev)
    try:
        plain = _unseal(tenant_id, ciphertext, wrapped_key, master_id, keys)
    except InvalidTag as exc:
        raise ValueError("监管平台凭据无法解密（密钥或企业不符）") from exc
    data = json.loads(plain)
    return {str(k): str(v) for k, v in data.items()}


def _unseal(
    tenant_id: uuid.UUID, ciphertext: bytes, wrapped_key: bytes | None, master_id: str, keys: dict[str, bytes]
) -> bytes:
    if wrapped_key is None:  # legacy: the master key encrypted the credentials directly
        for key in keys.values():
            try:
                return AESGCM(key).decrypt(ciphertext[:12], ciphertext[12:], tenant_id.bytes)
            except InvalidTag:
                continue
        raise InvalidTag
    master = keys.get(master_id)
    if master is None:
        raise ValueError(f"监管平台凭据的主密钥 {master_id} 不可用（请在 ECOGATE_UPLINK_OLD_KEYS 中提供）")
    dek = AESGCM(master).decrypt(wrapped_key[:12], wrapped_key[12:], _DEK_AAD + tenant_id.bytes)
    return AESGCM(dek).decrypt(ciphertext[:12], ciphertext[12:], tenant_id.bytes)


def _store(row: m.UplinkPlatform, tenant_id: uuid.UUID, credentials: Mapping[str, str]) -> None:
    sealed = seal(tenant_id, credentials)
    row.credentials_enc, row.credentials_dek, row.credentials_key_id = (
        sealed.ciphertext,
        sealed.wrapped_key,
        sealed.key_id,
    )


def credentials_of(row: m.UplinkPlatform, *, allow_dev: bool = False) -> dict[str, str]:
    """Decrypt a platform row's credentials."""
    return open_sealed(
        row.tenant_id, row.credentials_enc, row.credentials_dek, row.credentials_key_id, allow_dev=allow_dev
    )


async def configure(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    *,
    profile: str,
    base_url: str,
    enterprise_code: str,
    credentials: Mapping[str, str],
    enterprise_name: str = "",
    photo_max_bytes: int = 300_000,
    enabled: bool = True,
) -> m.UplinkPlatform:
    """Create or replace the tenant's platform (inside the caller's transaction, under RLS)."""
    if profile not in PROFILES:
        raise ValueError(f"未支持的监管平台协议：{profile}")
    row = await session.scalar(select(m.UplinkPlatform).where(m.UplinkPlatform.tenant_id == tenant_id))
    if row is None:
        row = m.UplinkPlatform(tenant_id=tenant_id)
        session.add(row)
    row.profile, row.base_url, row.enterprise_code = profile, base_url, enterprise_code
    row.enterprise_name, row.photo_max_bytes, row.enabled = enterprise_name, photo_max_bytes, enabled
    _store(row, tenant_id, credentials)
    await session.flush()
    return row


async def load_usable(session: AsyncSession, tenant_id: uuid.UUID) -> PlatformConfig | None:
    """:func:`load` for background work: credentials that cannot be decrypted (a master key missing from
    ``ECOGATE_UPLINK_OLD_KEYS`` after a rotation) are logged and the tenant skipped, never stopping the
    other tenants' uplink."""
    try:
        return await load(session, tenant_id)
    except ValueError as exc:
        log.error("uplink.credentials_unavailable", tenant_id=str(tenant_id), reason=str(exc))  # noqa: TRY400 - no traceback: an operator error, not a bug
        return None


async def load(session: AsyncSession, tenant_id: uuid.UUID) -> PlatformConfig | None:
    """The tenant's enabled platform, credentials decrypted; None when it has none."""
    row = await session.scalar(
        select(m.UplinkPlatform).where(m.UplinkPlatform.tenant_id == tenant_id, m.UplinkPlatform.enabled)
    )
    if row is None:
        return None
    return PlatformConfig(
        profile=row.profile,
        base_url=row.base_url,
        enterprise_code=row.enterprise_code,
        enterprise_name=row.enterprise_name,
        credentials=credentials_of(row),
        timeout_s=row.timeout_s,
        photo_max_bytes=row.photo_max_bytes,
        heartbeat_s=row.heartbeat_s,
    )


async def credential_tenants(session: AsyncSession) -> list[uuid.UUID]:
    """Every tenant with a platform row (the one cross-tenant read of key rotation; a SECURITY DEFINER function)."""
    return list(await session.scalars(text("SELECT uplink_credential_tenants()")))


async def rotate(session: AsyncSession, tenant_id: uuid.UUID) -> bool:
    """Re-encrypt the tenant's credentials under a fresh data key and the current master key (caller's transaction).

    Returns whether there was a row. Rows under the development key or a legacy format are re-encrypted too.
    """
    row = await session.scalar(
        select(m.UplinkPlatform).where(m.UplinkPlatform.tenant_id == tenant_id).with_for_update()
    )
    if row is None:
        return False
    old_key = row.credentials_key_id
    _store(row, tenant_id, credentials_of(row, allow_dev=True))
    await session.flush()
    log.info("uplink.credentials_rotated", tenant_id=str(tenant_id), from_key=old_key, to_key=row.credentials_key_id)
    return True


async def rotate_all(database: Database) -> dict[str, object]:
    """``ecogate uplink rotate-key``: re-encrypt every tenant's credentials under the current master key."""
    from tenants.context import Principal, Role  # noqa: PLC0415

    current = key_id(_current_key())
    async with database.system_session("uplink rotate-key: tenants with credentials") as session, session.begin():
        tenants = await credential_tenants(session)
    rotated = 0
    for tenant_id in tenants:
        actor = Principal(user_id=uuid.UUID(int=0), role=Role.TENANT_ADMIN, tenant_id=tenant_id, login="rotate-key")
        async with database.session(actor) as session, session.begin():
            rotated += int(await rotate(session, tenant_id))
    return {"key_id": current, "rotated": rotated}
