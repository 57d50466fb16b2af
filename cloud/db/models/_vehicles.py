"""The vehicle ledger: transport vehicles, in-plant vehicles and non-road mobile machinery.

A vehicle is a stable identity; its data lives in immutable versions. A correction or a retirement
is a new version that records who made it and why (issue 2, ARCHITECTURE.md "Data model").
Fields follow REGULATION.md §1.4.2 (a)–(c).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from tenants.base import Base, TenantOwned, utcnow_column

CATEGORIES = ("transport", "in_plant", "nrmm")


class Vehicle(TenantOwned, Base):
    """A vehicle or machine of one of the three ledger categories; points at its current version."""

    __tablename__ = "vehicle"
    __table_args__ = (CheckConstraint("category IN ('transport', 'in_plant', 'nrmm')", name="category"),)

    category: Mapped[str] = mapped_column(String(10))
    current_version_id: Mapped[uuid.UUID | None]
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = utcnow_column()


class VehicleVersion(TenantOwned, Base):
    """One immutable version of a vehicle's ledger data (every HJ 1321 field of its category)."""

    __tablename__ = "vehicle_version"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "vehicle_id"], ["vehicle.tenant_id", "vehicle.id"]),
        UniqueConstraint("tenant_id", "vehicle_id", "version"),
        CheckConstraint("status IN ('active', 'retired')", name="status"),
        CheckConstraint("review IN ('pending', 'verified', 'rejected')", name="review"),
        Index("ix_vehicle_version_plate", "tenant_id", "plate"),
        Index("ix_vehicle_version_vin", "tenant_id", "vin"),
    )

    vehicle_id: Mapped[uuid.UUID]
    version: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(8), default="active")
    review: Mapped[str] = mapped_column(String(8), default="pending")  # maker-checker state
    reason: Mapped[str] = mapped_column(String(200))  # why this version exists (创建/更正原因)
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()
    # Identity
    plate: Mapped[str | None] = mapped_column(String(10))  # 车牌号码 (canonical)
    plate_colour: Mapped[str | None] = mapped_column(String(12))  # 号牌颜色
    plate_type: Mapped[str | None] = mapped_column(String(2))  # 号牌种类 GA/T 16 (migration 0016)
    vin: Mapped[str | None] = mapped_column(String(17))  # 车辆识别代号
    env_reg_code: Mapped[str | None] = mapped_column(String(32))  # 环保登记编码
    internal_code: Mapped[str | None] = mapped_column(String(32))  # 内部管理号牌
    pin: Mapped[str | None] = mapped_column(String(64))  # 机械环保代码/产品识别码 (NRMM)
    local_code: Mapped[str | None] = mapped_column(String(32))  # 地方登记编码 (e.g. 天津编码)
    # Description
    vehicle_type: Mapped[str | None] = mapped_column(String(3))  # 车辆类型 GA/T 16.4
    machine_kind: Mapped[str | None] = mapped_column(String(16))  # 机械种类 (NRMM)
    brand_model: Mapped[str | None] = mapped_column(String(64))  # 品牌型号 / 机械型号
    register_date: Mapped[dt.date | None] = mapped_column(Date)  # 注册登记日期
    production_date: Mapped[dt.date | None] = mapped_column(Date)  # 生产日期
    engine_model: Mapped[str | None] = mapped_column(String(64))  # 发动机型号
    engine_maker: Mapped[str | None] = mapped_column(String(100))  # 发动机生产厂
    engine_no: Mapped[str | None] = mapped_column(String(32))  # 发动机编号
    fuel_type: Mapped[str | None] = mapped_column(String(12))  # 燃料类型
    emission_stage: Mapped[str | None] = mapped_column(String(12))  # 排放阶段
    use_nature: Mapped[str | None] = mapped_column(String(2))  # 使用性质
    network_status: Mapped[str | None] = mapped_column(String(12))  # 联网状态
    env_list_no: Mapped[str | None] = mapped_column(String(32))  # 随车清单 信息公开编号
    fleet_name: Mapped[str | None] = mapped_column(String(100))  # 车队名称
    owner_name: Mapped[str | None] = mapped_column(String(100))  # 车辆所有人(单位)
    owner_address: Mapped[str | None] = mapped_column(String(200))  # 车辆所有人地址 (migration 0016)
    total_mass_kg: Mapped[int | None] = mapped_column(Integer)  # 总质量
    rated_load_kg: Mapped[int | None] = mapped_column(Integer)  # 核定载质量
    extra: Mapped[dict[str, object]] = mapped_column(JSONB, default=dict)


class VehicleDocument(TenantOwned, Base):
    """A document photo of a vehicle (随车清单, 行驶证, nameplates, environmental label)."""

    __tablename__ = "vehicle_document"
    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "vehicle_id"], ["vehicle.tenant_id", "vehicle.id"]),
        ForeignKeyConstraint(["tenant_id", "blob_sha256"], ["blob.tenant_id", "blob.sha256"]),
        CheckConstraint(
            "kind IN ('env_list', 'driving_license', 'vehicle_nameplate', 'engine_nameplate', 'env_label', 'other')",
            name="kind",
        ),
    )

    vehicle_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(20))
    blob_sha256: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[dt.datetime] = utcnow_column()
