"""Vietnam's administrative divisions as data: provinces before and after the 2025 reform,
and portal levels (district kept valid for older portals).  Pure; no I/O beyond reading
the bundled data once."""

from pipelines.admin.levels import CURRENT_LEVELS, LEGACY_LEVELS, Level, is_current_level, normalize_level
from pipelines.admin.provinces import (
    AdminDataError,
    Province,
    Provinces,
    UnitType,
    current_province,
    load_provinces,
    province_filter,
    province_key,
    provinces_merged_into,
)

__all__ = [
    "CURRENT_LEVELS",
    "LEGACY_LEVELS",
    "AdminDataError",
    "Level",
    "Province",
    "Provinces",
    "UnitType",
    "current_province",
    "is_current_level",
    "load_provinces",
    "normalize_level",
    "province_filter",
    "province_key",
    "provinces_merged_into",
]
