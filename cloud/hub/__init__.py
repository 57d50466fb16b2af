"""The agent hub: the cloud end of the agent websocket (docs/protocol.md)."""

from __future__ import annotations

from cloud.hub.handler import agent_socket

__all__ = ["agent_socket"]
