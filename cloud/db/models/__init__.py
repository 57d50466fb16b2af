"""Every table of the cloud, imported as ``from cloud.db import models as m`` (STYLE.md)."""

from cloud.db.models._agents import Agent, AgentCommand, AgentCommandResult, AgentEnrollmentCode, Device
from cloud.db.models._audit import AuditLog
from cloud.db.models._blobs import Blob
from cloud.db.models._clips import PassClip
from cloud.db.models._compliance import (
    AuditSample,
    BlacklistEntry,
    BlacklistRevocation,
    ChainAnchor,
    CheckFlag,
    CheckResolution,
    CheckState,
    CloudChainEntry,
    EmergencyResponse,
    InventoryLine,
    InventorySheet,
    PolicyVersion,
    RegionAlert,
    VehicleReview,
)
from cloud.db.models._jobs import BackgroundJob
from cloud.db.models._lane_roi import LaneRoi
from cloud.db.models._passes import PassCorrection, PassEvent, Weighing
from cloud.db.models._precheck import PrecheckSerial
from cloud.db.models._reports import (
    ExportJob,
    NonRoadTransport,
    ReportDaily,
    ReportDailyCarrier,
    ReportDailyHour,
    ReportDailyReason,
    ReportMonthlyCarrier,
    ReportRefreshState,
)
from cloud.db.models._retention import LegalHold, RetentionMove, RetentionPurge, RetentionSetting
from cloud.db.models._sites import Gate, Lane, Site
from cloud.db.models._uplink import UplinkAlarm, UplinkAttempt, UplinkDailyReport, UplinkOutbox, UplinkPlatform
from cloud.db.models._vehicles import Vehicle, VehicleDocument, VehicleVersion
from cloud.db.models.billing import (
    BillingAccount,
    BillingCoupon,
    BillingEvent,
    BillingInvoice,
    BillingNotice,
    BillingPlan,
    BillingPrice,
)
from tenants.base import Base
from tenants.models import Membership, Region, Tenant, UserAccount

__all__ = [
    "Agent",
    "AgentCommand",
    "AgentCommandResult",
    "AgentEnrollmentCode",
    "AuditLog",
    "AuditSample",
    "BackgroundJob",
    "Base",
    "BillingAccount",
    "BillingCoupon",
    "BillingEvent",
    "BillingInvoice",
    "BillingNotice",
    "BillingPlan",
    "BillingPrice",
    "BlacklistEntry",
    "BlacklistRevocation",
    "Blob",
    "ChainAnchor",
    "CheckFlag",
    "CheckResolution",
    "CheckState",
    "CloudChainEntry",
    "Device",
    "EmergencyResponse",
    "ExportJob",
    "Gate",
    "InventoryLine",
    "InventorySheet",
    "Lane",
    "LaneRoi",
    "LegalHold",
    "Membership",
    "NonRoadTransport",
    "PassClip",
    "PassCorrection",
    "PassEvent",
    "PolicyVersion",
    "PrecheckSerial",
    "Region",
    "RegionAlert",
    "ReportDaily",
    "ReportDailyCarrier",
    "ReportDailyHour",
    "ReportDailyReason",
    "ReportMonthlyCarrier",
    "ReportRefreshState",
    "RetentionMove",
    "RetentionPurge",
    "RetentionSetting",
    "Site",
    "Tenant",
    "UplinkAlarm",
    "UplinkAttempt",
    "UplinkDailyReport",
    "UplinkOutbox",
    "UplinkPlatform",
    "UserAccount",
    "Vehicle",
    "VehicleDocument",
    "VehicleReview",
    "VehicleVersion",
    "Weighing",
]
