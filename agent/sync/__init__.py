"""The agent end of the agent ↔ cloud websocket (docs/protocol.md)."""

from __future__ import annotations

from agent.sync.client import SyncAuthError, SyncClient, SyncFatalError

__all__ = ["SyncAuthError", "SyncClient", "SyncFatalError"]
