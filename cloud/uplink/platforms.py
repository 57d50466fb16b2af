"""Per-tenant platform configuration; credentials encrypted at rest with AES-GCM.

The key is ``ECOGATE_UPLINK_KEY`` (32 bytes, URL-safe base64). Without it a development key derived
from a fixed label is used and a warning says so: fine for the demo and tests, not for production
(docs/uplink.md). The tenant id is the associated data, so a ciphertext copied to another tenant's row
does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import uuid
from collections.abc import Mapping

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import models as m
from cloud.uplink.adapters import PROFILES, PlatformConfig

log = structlog.get_logger(__name__)
_warned = False


def _key() -> bytes:
    global _warned  # noqa: PLW0603 - warn once per process
    raw = os.environ.get("ECOGATE_UPLINK_KEY", "")
    if raw:
        key = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        if len(key) != 32:
            raise ValueError("ECOGATE_UPLINK_KEY 须为 32 字节（URL 安全的 base64）")
        return key
    if not _warned:
        log.warning("ECOGATE_UPLINK_KEY not set; platform credentials use the development key")
        _warned = True
    return hashlib.sha256(b"ecogate-uplink-development-key").digest()


def encrypt(tenant_id: uuid.UUID, credentials: Mapping[str, str]) -> bytes:
    """Nonce ‖ AES-GCM ciphertext of the credentials (JSON), bound to the tenant."""
    nonce = secrets.token_bytes(12)
    plain = json.dumps(dict(credentials), ensure_ascii=False).encode()
    return nonce + AESGCM(_key()).encrypt(nonce, plain, tenant_id.bytes)


def decrypt(tenant_id: uuid.UUID, blob: bytes) -> dict[str, str]:
    """The credentials stored by :func:`encrypt`.

    Raises:
        ValueError: when the blob was not made for this tenant with this key.
    """
    try:
        plain = AESGCM(_key()).decrypt(blob[:12], blob[12:], tenant_id.bytes)
    except InvalidTag as exc:
        raise ValueError("监管平台凭据无法解密（密钥或企业不符）") from exc
    data = json.loads(plain)
    return {str(k): str(v) for k, v in data.items()}


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
    row.credentials_enc = encrypt(tenant_id, credentials)
    await session.flush()
    return row


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
        credentials=decrypt(tenant_id, row.credentials_enc),
        timeout_s=row.timeout_s,
        photo_max_bytes=row.photo_max_bytes,
        heartbeat_s=row.heartbeat_s,
    )
