"""Platform adapters: :func:`build_adapter` picks one by the profile of a :class:`PlatformConfig`."""

from __future__ import annotations

from cloud.uplink.adapters.base import (
    DailyCountsAdapter,
    DownlinkItem,
    Outcome,
    PhotoRef,
    PlatformAdapter,
    PlatformConfig,
    PrePassResult,
    SendResult,
    UplinkRecord,
)

__all__ = [
    "HEARTBEAT_DEFAULT_S",
    "PROFILES",
    "DailyCountsAdapter",
    "DownlinkItem",
    "Outcome",
    "PhotoRef",
    "PlatformAdapter",
    "PlatformConfig",
    "PrePassResult",
    "SendResult",
    "UplinkRecord",
    "build_adapter",
]

#: Profiles this build knows, by family (REGULATION.md §2). Hubei has no public spec (§2.8): its
#: tenants pick the family their platform operator speaks.
PROFILES = ("transport_control", "transport_serial", "hengshui", "tianjin")

#: Gate heartbeat interval per profile when the tenant's platform sets none (0 = the profile has none).
#: transportControl ``putdcstatus`` and Tianjin gate status: once a minute [I] (§2.4 and §2.1 name the
#: message, not the period); Hengshui: 30 s, the keep-alive of its TCP link (§2.2) [I]; ``/transport/*``
#: has no heartbeat (§2.5).
HEARTBEAT_DEFAULT_S: dict[str, int] = {"transport_control": 60, "tianjin": 60, "hengshui": 30, "transport_serial": 0}


def build_adapter(config: PlatformConfig) -> PlatformAdapter:
    """The adapter for ``config.profile``.

    Raises:
        ValueError: for a profile this build does not implement.
    """
    if config.profile == "transport_control":
        from cloud.uplink.adapters.transport_control import TransportControlAdapter  # noqa: PLC0415

        return TransportControlAdapter(config)
    if config.profile == "transport_serial":
        from cloud.uplink.adapters.transport_serial import TransportSerialAdapter  # noqa: PLC0415

        return TransportSerialAdapter(config)
    if config.profile == "hengshui":
        from cloud.uplink.adapters.hengshui import HengshuiAdapter  # noqa: PLC0415

        return HengshuiAdapter(config)
    if config.profile == "tianjin":
        from cloud.uplink.adapters.tianjin import TianjinAdapter  # noqa: PLC0415

        return TianjinAdapter(config)
    raise ValueError(f"未支持的监管平台协议：{config.profile}")
