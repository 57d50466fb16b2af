"""Lane ROI set-up over a camera snapshot (issue 9): ask an agent for a frame, store and send a new ROI.

The flow (docs/portal.md "Agents"):

1. :func:`request_snapshot` issues a ``camera_snapshot`` command (lane code, 60 s to live) through the
   CommandBus; the agent uploads the lane camera's latest frame as a blob just before its answer, and
   the answer names the blob (``agent_command_result.blob_sha256``).
2. :func:`latest_snapshot` finds the newest answered snapshot of a lane; :func:`jpeg_size` reads the
   picture's size from the JPEG header so a ROI can be checked against it.
3. :func:`save_roi` validates the rectangle inside the picture (Chinese field errors, nothing written on
   error), appends a ``lane_roi`` row (who, when, which snapshot) and issues ``set_lane_roi`` without
   expiry: an offline agent gets it from the command log at its next hello (docs/sync.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.blobs import Blobs
from cloud.db import models as m
from cloud.domain import audit
from cloud.domain.common import FieldErrors
from cloud.hub import commands, health
from cloud.lib.problems import ProblemError
from tenants.context import Principal

__all__ = [
    "ROI_COMMAND",
    "SNAPSHOT_COMMAND",
    "SNAPSHOT_TTL",
    "Snapshot",
    "agent_lane",
    "ask_snapshot",
    "current_roi",
    "jpeg_size",
    "latest_snapshot",
    "picture_size",
    "request_snapshot",
    "roi_history",
    "save_over_snapshot",
    "save_roi",
    "site_lanes",
]

SNAPSHOT_COMMAND: Final = "camera_snapshot"
ROI_COMMAND: Final = "set_lane_roi"
#: A snapshot asked for but not answered within this time is not waited for any more.
SNAPSHOT_TTL: Final = dt.timedelta(seconds=60)
_SOF_MARKERS: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_MIN_SIDE: Final = 8


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A lane snapshot command and the agent's answer (``answered`` False while pending)."""

    command_id: uuid.UUID
    lane_id: uuid.UUID
    requested_at: dt.datetime
    expires_at: dt.datetime | None
    answered: bool
    ok: bool
    message: str
    sha256: str | None


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a JPEG's frame header (None when the bytes are not a JPEG)."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in _SOF_MARKERS and i + 9 <= len(data):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    return None


async def site_lanes(session: AsyncSession, site_id: uuid.UUID) -> list[tuple[m.Lane, str]]:
    """The lanes of a site with their gate names, in gate and lane code order."""
    rows = await session.execute(
        select(m.Lane, m.Gate.name)
        .join(m.Gate, (m.Gate.id == m.Lane.gate_id) & (m.Gate.tenant_id == m.Lane.tenant_id))
        .where(m.Gate.site_id == site_id)
        .order_by(m.Gate.code, m.Lane.code)
    )
    return [(lane, gate) for lane, gate in rows]


async def agent_lane(session: AsyncSession, agent_id: uuid.UUID, lane_id: uuid.UUID) -> tuple[m.Agent, m.Lane] | None:
    """The agent and the lane, if both are visible (RLS) and the lane belongs to the agent's site."""
    agent = await session.scalar(select(m.Agent).where(m.Agent.id == agent_id))
    if agent is None:
        return None
    lane = await session.scalar(
        select(m.Lane)
        .join(m.Gate, (m.Gate.id == m.Lane.gate_id) & (m.Gate.tenant_id == m.Lane.tenant_id))
        .where(m.Lane.id == lane_id, m.Gate.site_id == agent.site_id)
    )
    return None if lane is None else (agent, lane)


def _require_active(agent: m.Agent) -> None:
    if agent.status != "active":
        raise ProblemError(409, "agent_revoked", "代理已吊销", "该代理的凭据已吊销，不能再向它发送指令")


async def ask_snapshot(session: AsyncSession, principal: Principal, agent: m.Agent, lane: m.Lane) -> uuid.UUID:
    """:func:`request_snapshot` for an active, online agent (409 Problem otherwise: nobody would answer)."""
    _require_active(agent)
    if not health.assess(agent, dt.datetime.now(dt.UTC)).online:
        raise ProblemError(
            409, "agent_offline", "代理离线", "代理当前离线，无法抓拍画面。请确认门岗电脑已开机并连接网络后重试。"
        )
    return await request_snapshot(session, principal, agent, lane)


def picture_size(blobs: Blobs, sha256: str | None) -> tuple[int, int] | None:
    """Width and height of a stored snapshot (None when absent or not a JPEG)."""
    if not sha256:
        return None
    try:
        return jpeg_size(blobs.get(sha256))
    except (FileNotFoundError, ValueError):
        return None


async def save_over_snapshot(
    session: AsyncSession,
    principal: Principal,
    agent: m.Agent,
    lane: m.Lane,
    values: dict[str, str],
    blobs: Blobs,
) -> m.LaneRoi:
    """:func:`save_roi` checked against the lane's latest successful snapshot (409 Problem when none)."""
    _require_active(agent)
    snapshot = await latest_snapshot(session, agent.id, lane.id)
    sha = snapshot.sha256 if snapshot is not None and snapshot.ok else None
    size = await asyncio.to_thread(picture_size, blobs, sha)  # an HTTP read with an S3 bucket (issue 20)
    if size is None:
        raise ProblemError(409, "snapshot_missing", "没有画面", "请先抓拍车道画面，再在画面上设置识别区域")
    return await save_roi(session, principal, agent, lane, values, size, sha)


async def request_snapshot(session: AsyncSession, principal: Principal, agent: m.Agent, lane: m.Lane) -> uuid.UUID:
    """Ask the agent for the lane camera's latest frame (a command; sent if the caller's transaction commits)."""
    args: dict[str, str | int | float | bool | None] = {"lane": lane.code, "lane_id": str(lane.id)}
    command_id = await commands.issue_command(
        session, agent.tenant_id, SNAPSHOT_COMMAND, args, [agent.id], principal.user_id, SNAPSHOT_TTL
    )
    audit.record(
        session, principal, "agent.command.camera_snapshot", "agent", agent.id, {"command_id": str(command_id), **args}
    )
    return command_id


async def latest_snapshot(session: AsyncSession, agent_id: uuid.UUID, lane_id: uuid.UUID) -> Snapshot | None:
    """The newest snapshot asked of this agent for the lane, with its answer if any."""
    command = await session.scalar(
        select(m.AgentCommand)
        .where(
            m.AgentCommand.name == SNAPSHOT_COMMAND,
            m.AgentCommand.agent_ids.contains([agent_id]),
            m.AgentCommand.args["lane_id"].astext == str(lane_id),
        )
        .order_by(m.AgentCommand.created_at.desc())
        .limit(1)
    )
    if command is None:
        return None
    result = await session.scalar(
        select(m.AgentCommandResult).where(
            m.AgentCommandResult.command_id == command.id, m.AgentCommandResult.agent_id == agent_id
        )
    )
    return Snapshot(
        command_id=command.id,
        lane_id=lane_id,
        requested_at=command.created_at,
        expires_at=command.expires_at,
        answered=result is not None,
        ok=bool(result and result.ok and result.blob_sha256),
        message=result.message if result is not None else "",
        sha256=result.blob_sha256 if result is not None else None,
    )


async def current_roi(session: AsyncSession, lane_id: uuid.UUID) -> m.LaneRoi | None:
    """The ROI in force for a lane (its newest row)."""
    return await session.scalar(
        select(m.LaneRoi).where(m.LaneRoi.lane_id == lane_id).order_by(m.LaneRoi.created_at.desc()).limit(1)
    )


async def roi_history(session: AsyncSession, lane_id: uuid.UUID, limit: int = 20) -> list[m.LaneRoi]:
    """The lane's saved ROIs, newest first."""
    rows = await session.scalars(
        select(m.LaneRoi).where(m.LaneRoi.lane_id == lane_id).order_by(m.LaneRoi.created_at.desc()).limit(limit)
    )
    return list(rows)


def _coordinate(errors: FieldErrors, field: str, raw: str, limit: int, axis: str) -> int | None:
    text = raw.strip()
    if not text:
        errors.add(field, "roi.required", "请填写坐标")
        return None
    try:
        value = int(text)
    except ValueError:
        errors.add(field, "roi.not_integer", "坐标应为整数像素")
        return None
    if not 0 <= value <= limit:
        errors.add(field, "roi.outside", f"坐标应在图片范围内（0–{limit}，图片{axis} {limit} 像素）")
        return None
    return value


async def save_roi(
    session: AsyncSession,
    principal: Principal,
    agent: m.Agent,
    lane: m.Lane,
    values: dict[str, str],
    image: tuple[int, int],
    snapshot_sha256: str | None,
) -> m.LaneRoi:
    """Validate and append the lane's new ROI and send it to the agent (kept for delivery when offline).

    ``values`` holds the form text of ``x1``, ``y1``, ``x2``, ``y2``; ``image`` is the snapshot's
    (width, height). Raises a 422 ProblemError with one Chinese message per offending field.
    """
    width, height = image
    errors = FieldErrors()
    x1 = _coordinate(errors, "x1", values.get("x1", ""), width, "宽")
    y1 = _coordinate(errors, "y1", values.get("y1", ""), height, "高")
    x2 = _coordinate(errors, "x2", values.get("x2", ""), width, "宽")
    y2 = _coordinate(errors, "y2", values.get("y2", ""), height, "高")
    if x1 is not None and x2 is not None and x2 - x1 < _MIN_SIDE:
        errors.add("x2", "roi.too_narrow", f"右边界应大于左边界至少 {_MIN_SIDE} 像素")
    if y1 is not None and y2 is not None and y2 - y1 < _MIN_SIDE:
        errors.add("y2", "roi.too_low", f"下边界应大于上边界至少 {_MIN_SIDE} 像素")
    errors.raise_if_any()
    if x1 is None or y1 is None or x2 is None or y2 is None:  # unreachable: each None added an error
        raise AssertionError
    args: dict[str, str | int | float | bool | None] = {
        "lane": lane.code,
        "lane_id": str(lane.id),
        "x1": x1,
        "y1": y1,
        "x2": x2,
        "y2": y2,
    }
    # No expiry: an offline agent receives the ROI from the command log when it reconnects.
    command_id = await commands.issue_command(
        session, agent.tenant_id, ROI_COMMAND, args, [agent.id], principal.user_id, None
    )
    row = m.LaneRoi(
        tenant_id=agent.tenant_id,
        lane_id=lane.id,
        agent_id=agent.id,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        image_width=width,
        image_height=height,
        snapshot_sha256=snapshot_sha256,
        command_id=command_id,
        created_by=principal.user_id,
        created_by_login=principal.login,
    )
    session.add(row)
    await session.flush()
    audit.record(session, principal, "lane.roi_set", "lane", lane.id, {"command_id": str(command_id), **args})
    return row
