"""Apply the cloud's commands and snapshots on the agent (docs/sync.md).

:class:`CommandHandler` is the SyncClient's command hook. It applies

* ``set_emergency_level`` (``level``, ``starts_at``, ``ends_at``): the decision engine uses the level
  while its window is open and falls back to ``none`` at ``ends_at`` by itself, so an alert ends on
  time even offline (REGULATION.md §4.3). The window is kept in ``data_dir/emergency_level.json``
  so a restart offline keeps it.
* ``snapshot`` messages (registry with blacklist, control policy): written atomically to
  ``data_dir/registry.json`` / ``policy.json`` and swapped into the engine; their versions are
  announced in the next hello, so the cloud sends only newer ones.
* ``policy_updated`` / ``blacklist_updated`` / ``registry_updated``: the snapshot arrives just before
  the command; the answer says which version the agent holds.
* ``open_barrier`` (``lane_id``, ``reason``, ``operator``, ``operator_name``, ``plate`` or
  ``confirm_plate``) and ``reload_config``: through callbacks of the runtime.
* ``chain_anchor``: kept in ``data_dir/chain_anchors.jsonl``.
* ``camera_snapshot`` (``lane``: the lane code): the latest frame of the lane's camera as JPEG; the
  result names its sha256 (``blob_sha256``) and the client uploads it just before the result.
* ``set_lane_roi`` (``lane``, ``x1``, ``y1``, ``x2``, ``y2``): the lane's plate-recognition region,
  kept as a local override in ``data_dir/lane_rois.json`` (wins over ``cameras[].roi`` of the
  configuration file, also after a restart) and applied to the running recognizer at once.

Commands are idempotent and deduplicated by id (the hub may send a pending command twice: once live,
once again at a reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import msgspec
import structlog

from agent.decision.engine import DecisionEngine
from agent.decision.registry import LocalRegistry, RegistrySnapshot, save_snapshot
from agent_protocol import messages as msg
from hj1321.grading import WarningLevel
from hj1321.rules import ControlPolicy, encode_policy

__all__ = ["CommandHandler", "LevelWindow"]

log = structlog.get_logger(__name__)

_SEEN_MAX: Final = 1000


class RemoteRelease(msgspec.Struct, frozen=True, kw_only=True):
    """An ``open_barrier`` command: who asked, why, and the plate they typed or confirmed (issue 15)."""

    lane_id: str | None
    reason: str
    operator: str | None = None  # the portal user's account
    operator_name: str | None = None  # ... and display name
    plate: str | None = None  # typed by the user (the cloud checked it; the agent checks again)
    confirm_plate: bool = False  # the user confirmed the plate of the lane's last refused read


#: Raises the barrier for a remote release; answers a Chinese text.
OpenBarrier = Callable[[RemoteRelease], Awaitable[str]]
Reload = Callable[[], Awaitable[str]]
#: Latest camera frame of a lane (by lane code) as JPEG bytes, None when no frame arrived yet.
Snapshot = Callable[[str], Awaitable[bytes | None]]
#: Apply a lane's ROI to the running recognizer; answers a Chinese text.
ApplyRoi = Callable[[str, tuple[int, int, int, int]], Awaitable[str]]
ROI_FILE: Final = "lane_rois.json"


def load_roi_overrides(data_dir: Path) -> dict[str, tuple[int, int, int, int]]:
    """The lane ROIs set from the cloud (lane code → x1, y1, x2, y2); empty when none or unreadable."""
    try:
        data = json.loads((data_dir / ROI_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    out: dict[str, tuple[int, int, int, int]] = {}
    for lane, roi in dict(data).items():
        with contextlib.suppress(TypeError, ValueError):
            x1, y1, x2, y2 = (int(v) for v in roi)
            out[str(lane)] = (x1, y1, x2, y2)
    return out


class LevelWindow(msgspec.Struct, frozen=True, kw_only=True):
    """A warning level and the period it applies (None ends: until replaced)."""

    level: WarningLevel = WarningLevel.NONE
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    alert_id: str | None = None

    def effective(self, now: dt.datetime) -> WarningLevel:
        """The level in force at ``now``."""
        if self.starts_at is not None and now < self.starts_at:
            return WarningLevel.NONE
        if self.ends_at is not None and now >= self.ends_at:
            return WarningLevel.NONE
        return self.level

    def next_change(self, now: dt.datetime) -> dt.datetime | None:
        """When :meth:`effective` changes next (None: never)."""
        for moment in (self.starts_at, self.ends_at):
            if moment is not None and moment > now:
                return moment
        return None


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


class CommandHandler:
    """The agent end of cloud commands and snapshots."""

    def __init__(
        self,
        data_dir: Path,
        engine: DecisionEngine | None = None,
        *,
        open_barrier: OpenBarrier | None = None,
        reload_config: Reload | None = None,
        snapshot: Snapshot | None = None,
        apply_roi: ApplyRoi | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        """Prepare the handler and restore the level window kept in ``data_dir``."""
        self.data_dir = data_dir
        self.engine = engine
        self.open_barrier = open_barrier
        self.reload_config = reload_config
        self.snapshot = snapshot
        self.apply_roi = apply_roi
        #: Snapshot JPEGs waiting for the client to upload them with their result (sha256 → bytes).
        self._uploads: dict[str, bytes] = {}
        self.clock = clock
        self.window = LevelWindow()
        self.registry_version: str | None = None
        self.policy_version: str | None = None
        #: Monotonic time at which each level was last applied to the engine (for tests and the booth).
        self.level_applied: dict[str, float] = {}
        self._seen: OrderedDict[str, msg.CommandResult] = OrderedDict()
        self._timer: asyncio.TimerHandle | None = None
        self._restore()

    @property
    def features(self) -> list[str]:
        """Capabilities announced in hello."""
        return [msg.FEATURE_COMMANDS, msg.FEATURE_SNAPSHOTS]

    # ------------------------------------------------------------------ state on disk

    def _restore(self) -> None:
        state = self.data_dir / "sync-state.json"
        with contextlib.suppress(FileNotFoundError, ValueError, msgspec.ValidationError):
            data = json.loads(state.read_text(encoding="utf-8"))
            self.registry_version = data.get("registry_version")
            self.policy_version = data.get("policy_version")
            self.window = msgspec.convert(data.get("level") or {}, LevelWindow)
        self._apply_level()

    def _persist(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        body = {
            "registry_version": self.registry_version,
            "policy_version": self.policy_version,
            "level": msgspec.to_builtins(self.window),
        }
        _write_atomic(self.data_dir / "sync-state.json", json.dumps(body, ensure_ascii=False).encode())

    # ------------------------------------------------------------------ level

    def _apply_level(self) -> WarningLevel:
        now = self.clock()
        level = self.window.effective(now)
        if self.engine is not None and self.engine.level != level:
            self.engine.update(level=level)
        self.level_applied[level.value] = asyncio.get_event_loop().time() if _has_loop() else 0.0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        change = self.window.next_change(now)
        if change is not None and _has_loop():
            delay = max(0.0, (change - now).total_seconds()) + 0.01
            self._timer = asyncio.get_running_loop().call_later(delay, self._apply_level)
        return level

    # ------------------------------------------------------------------ snapshots

    async def on_snapshot(self, snapshot: msg.Snapshot) -> None:
        """Store and apply a registry or policy snapshot (a bad one is logged and ignored).

        Shielded: a stop that arrives while the file is being written still finishes the apply (and
        waits for it), so the version in memory never lags the snapshot on disk and nothing is
        written after the sync client has returned.
        """
        apply = asyncio.ensure_future(self._apply_snapshot(snapshot))
        try:
            await asyncio.shield(apply)
        except asyncio.CancelledError:
            # Finish the apply before the stop goes on: a shielded apply left running after the
            # client returned wrote registry.json behind a restarted handler's back (CI flake).
            await apply
            raise

    async def _apply_snapshot(self, snapshot: msg.Snapshot) -> None:
        try:
            if snapshot.kind == "registry":
                registry = msgspec.convert({**snapshot.data, "version": snapshot.version}, RegistrySnapshot)
                await asyncio.to_thread(self._save_registry, registry)
                if self.engine is not None:
                    self.engine.update(registry=LocalRegistry(registry))
                self.registry_version = snapshot.version
            else:
                policy = msgspec.convert(snapshot.data, ControlPolicy)
                await asyncio.to_thread(_write_atomic, self.data_dir / "policy.json", encode_policy(policy))
                if self.engine is not None:
                    self.engine.update(policy=policy)
                self.policy_version = snapshot.version
            await asyncio.to_thread(self._persist)
            log.info("sync.snapshot_applied", kind=snapshot.kind, version=snapshot.version)
        except (msgspec.ValidationError, ValueError, TypeError, OSError) as exc:
            log.exception("sync.snapshot_refused", kind=snapshot.kind, version=snapshot.version, error=str(exc)[:300])

    def _save_registry(self, registry: RegistrySnapshot) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        save_snapshot(self.data_dir / "registry.json", registry)

    # ------------------------------------------------------------------ commands

    async def on_command(self, command: msg.Command) -> msg.CommandResult:
        """Apply one command; the same id twice gets the first answer again."""
        done = self._seen.get(command.command_id)
        if done is not None:
            return done
        blob: str | None = None
        try:
            outcome = await self._apply(command)
            ok, text = outcome[0], outcome[1]
            blob = outcome[2] if len(outcome) > 2 else None
        except (ValueError, TypeError, OSError) as exc:
            ok, text = False, f"指令执行失败：{exc}"[:500]
        result = msg.CommandResult(command_id=command.command_id, ok=ok, message=text[:500], blob_sha256=blob)
        self._seen[command.command_id] = result
        while len(self._seen) > _SEEN_MAX:
            self._seen.popitem(last=False)
        log.info("sync.command", name=command.name, command_id=command.command_id, ok=ok)
        return result

    async def _apply(self, command: msg.Command) -> tuple[bool, str] | tuple[bool, str, str]:  # noqa: PLR0911 - one branch per command
        args = command.args
        if command.name == "set_emergency_level":
            window = LevelWindow(
                level=WarningLevel(str(args.get("level") or "none")),
                starts_at=_parse_time(args.get("starts_at")),
                ends_at=_parse_time(args.get("ends_at")),
                alert_id=str(args["alert_id"]) if args.get("alert_id") else None,
            )
            await asyncio.to_thread(self._persist_window, window)
            level = self._apply_level()
            return True, f"预警级别已更新，当前执行：{level.label}"
        if command.name in {"policy_updated", "blacklist_updated", "registry_updated"}:
            held = self.policy_version if command.name == "policy_updated" else self.registry_version
            return True, f"已持有版本 {held or '无'}"
        if command.name == "open_barrier":
            if self.open_barrier is None:
                return False, "本代理未接道闸，无法远程开闸"
            return True, await self.open_barrier(_remote_release(args))
        if command.name == "reload_config":
            if self.reload_config is None:
                return False, "本代理不支持远程重载配置"
            return True, await self.reload_config()
        if command.name == "camera_snapshot":
            return await self._snapshot(command)
        if command.name == "set_lane_roi":
            return True, await self._set_roi(command)
        if command.name == "chain_anchor":
            line = json.dumps(dict(args), ensure_ascii=False) + "\n"
            await asyncio.to_thread(self._append_anchor, line)
            return True, "已保存链锚点"
        return False, f"不支持的指令：{command.name}"

    async def _snapshot(self, command: msg.Command) -> tuple[bool, str] | tuple[bool, str, str]:
        lane = str(command.args.get("lane") or "")
        if self.snapshot is None:
            return False, "本代理没有接入相机，无法抓拍"
        jpeg = await self.snapshot(lane)
        if not jpeg:
            return False, f"车道 {lane} 的相机还没有画面"
        if len(jpeg) > msg.MAX_BLOB_BYTES:
            return False, "抓拍图片过大，无法上传"
        digest = hashlib.sha256(jpeg).hexdigest()
        while len(self._uploads) >= 4:
            self._uploads.pop(next(iter(self._uploads)))
        self._uploads[digest] = jpeg
        return True, f"已抓拍车道 {lane} 画面 sha256:{digest}", digest

    def take_upload(self, sha256: str) -> bytes | None:
        """The snapshot bytes a result names (the SyncClient uploads them just before the result)."""
        return self._uploads.pop(sha256, None)

    async def _set_roi(self, command: msg.Command) -> str:
        args = command.args
        lane = str(args.get("lane") or "")
        if not lane:
            raise ValueError("缺少车道")
        x1, y1, x2, y2 = (int(str(args.get(k))) for k in ("x1", "y1", "x2", "y2"))
        if not (0 <= x1 < x2 and 0 <= y1 < y2):
            raise ValueError(f"识别区域无效：{x1},{y1},{x2},{y2}")
        roi = (x1, y1, x2, y2)
        await asyncio.to_thread(self._save_roi, lane, roi)
        applied = await self.apply_roi(lane, roi) if self.apply_roi is not None else "重启后生效"
        return f"车道 {lane} 识别区域已设为 {x1},{y1},{x2},{y2}：{applied}"

    def _save_roi(self, lane: str, roi: tuple[int, int, int, int]) -> None:
        overrides = load_roi_overrides(self.data_dir)
        overrides[lane] = roi
        body = {k: list(v) for k, v in sorted(overrides.items())}
        _write_atomic(self.data_dir / ROI_FILE, json.dumps(body, ensure_ascii=False).encode())

    def _persist_window(self, window: LevelWindow) -> None:
        self.window = window
        self._persist()

    def _append_anchor(self, line: str) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with (self.data_dir / "chain_anchors.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def close(self) -> None:
        """Cancel the level timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _remote_release(args: dict[str, str | int | float | bool | None]) -> RemoteRelease:
    def text(key: str) -> str | None:
        value = args.get(key)
        return str(value).strip() or None if value not in (None, "") else None

    return RemoteRelease(
        lane_id=text("lane_id"),
        reason=text("reason") or "远程开闸",
        operator=text("operator"),
        operator_name=text("operator_name"),
        plate=text("plate"),
        confirm_plate=args.get("confirm_plate") is True,
    )
