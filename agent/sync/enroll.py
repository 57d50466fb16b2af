"""Enroll this agent with a one-time code: ``ecogate agent enroll CODE --cloud URL [--data DIR]``.

The code (created by a tenant admin or installer for a site) is exchanged at
``POST {cloud}/api/v1/agent-enrollment`` for a device credential bound to (tenant, site), written to
``DIR/credential.json`` with mode 0600 (atomically; the folder is fsync'd). The runtime's ``[cloud]``
section reads it from there (docs/sync.md).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Final

import msgspec

__all__ = ["CREDENTIAL_FILE", "Credential", "EnrollError", "enroll", "load_credential", "save_credential"]

CREDENTIAL_FILE: Final = "credential.json"


class Credential(msgspec.Struct, frozen=True, kw_only=True):
    """What enrollment leaves in the data folder."""

    agent_id: str
    tenant_id: str
    site_id: str
    name: str = ""
    token: str
    hub_url: str


class EnrollError(RuntimeError):
    """Enrollment failed; the message is Chinese, for the installer."""


def hub_url(cloud: str, path: str = "/agent/ws") -> str:
    """The websocket URL of the hub for a cloud base URL (``https`` → ``wss``)."""
    parts = urllib.parse.urlsplit(cloud.rstrip("/"))
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + path, "", ""))


def enroll(code: str, cloud: str, *, software: str = "", timeout_s: float = 30.0) -> Credential:
    """Exchange ``code`` at the cloud; return the credential (not yet saved).

    Raises:
        EnrollError: the cloud refused the code or could not be reached.
    """
    parts = urllib.parse.urlsplit(cloud)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise EnrollError(f"云端地址无效：{cloud}（应为 http(s)://主机[:端口]）")
    body = json.dumps({"code": code.strip(), "software": software[:100]}).encode()
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        cloud.rstrip("/") + "/api/v1/agent-enrollment",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail") or exc.reason
        except ValueError:
            detail = exc.reason
        raise EnrollError(f"云端拒绝注册（HTTP {exc.code}）：{detail}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise EnrollError(f"无法连接云端 {cloud}：{exc}") from exc
    return Credential(
        agent_id=str(answer["agent_id"]),
        tenant_id=str(answer["tenant_id"]),
        site_id=str(answer["site_id"]),
        name=str(answer.get("name", "")),
        token=str(answer["token"]),
        hub_url=hub_url(cloud, str(answer.get("hub_path") or "/agent/ws")),
    )


def save_credential(data_dir: Path, credential: Credential) -> Path:
    """Write the credential to ``data_dir/credential.json`` (0600, atomic, durable)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIAL_FILE
    tmp = data_dir / f".{CREDENTIAL_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, msgspec.json.encode(credential))
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.chmod(0o600)
    tmp.replace(path)
    dir_fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def load_credential(data_dir: Path) -> Credential | None:
    """The saved credential, or None when the agent is not enrolled."""
    try:
        return msgspec.json.decode((data_dir / CREDENTIAL_FILE).read_bytes(), type=Credential)
    except FileNotFoundError:
        return None
