"""Every table of the cloud, imported as ``from cloud.db import models as m`` (STYLE.md)."""

from cloud.db.models._agents import Agent, Device
from cloud.db.models._audit import AuditLog
from cloud.db.models._blobs import Blob
from cloud.db.models._passes import PassEvent, Weighing
from cloud.db.models._reports import (
    ExportJob,
    NonRoadTransport,
    ReportDaily,
    ReportDailyCarrier,
    ReportDailyHour,
    ReportDailyReason,
    ReportRefreshState,
)
from cloud.db.models._sites import Gate, Lane, Site
from cloud.db.models._vehicles import Vehicle, VehicleDocument, VehicleVersion
from tenants.base import Base
from tenants.models import Membership, Region, Tenant, UserAccount

__all__ = [
    "Agent",
    "AuditLog",
    "Base",
    "Blob",
    "Device",
    "ExportJob",
    "Gate",
    "Lane",
    "Membership",
    "NonRoadTransport",
    "PassEvent",
    "Region",
    "ReportDaily",
    "ReportDailyCarrier",
    "ReportDailyHour",
    "ReportDailyReason",
    "ReportRefreshState",
    "Site",
    "Tenant",
    "UserAccount",
    "Vehicle",
    "VehicleDocument",
    "VehicleVersion",
    "Weighing",
]
