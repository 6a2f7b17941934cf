"""Administrative levels of a portal, before and after the 2025 reform.

Since 1 July 2025 local government has two levels, province and commune: the district
level (huyện, quận, thị xã, provincial city) was abolished.  Registries and articles
written before keep ``district``, which stays a valid level (:data:`LEGACY_LEVELS`).
:func:`normalize_level` reads the registry's values and the Vietnamese words for them.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from pipelines.search.analysis import fold_words, words

logger = logging.getLogger(__name__)

__all__ = ["CURRENT_LEVELS", "LEGACY_LEVELS", "Level", "is_current_level", "normalize_level"]


class Level(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"  # abolished on 1 July 2025; kept for older portals and articles
    COMMUNE = "commune"
    DEPARTMENT = "department"


#: The levels of local government since 1 July 2025 (plus departments of either).
CURRENT_LEVELS = frozenset({Level.PROVINCE, Level.COMMUNE, Level.DEPARTMENT})
#: Levels that no longer exist but that older registries and articles use.
LEGACY_LEVELS = frozenset({Level.DISTRICT})

# folded words -> level; "thành phố" alone is either a province-level city or a district-level
# one, so it is not here: write "thành phố trực thuộc trung ương" or "thành phố thuộc tỉnh".
_NAMES: dict[tuple[str, ...], Level] = {
    **{tuple(k.split()): Level.PROVINCE for k in (
        "province", "provincial", "tinh", "cap tinh", "thanh pho truc thuoc trung uong", "thu do")},
    **{tuple(k.split()): Level.DISTRICT for k in (
        "district", "huyen", "quan", "thi xa", "cap huyen", "thanh pho thuoc tinh")},
    **{tuple(k.split()): Level.COMMUNE for k in (
        "commune", "ward", "township", "xa", "phuong", "thi tran", "dac khu", "cap xa")},
    **{tuple(k.split()): Level.DEPARTMENT for k in (
        "department", "agency", "so", "ban nganh", "so ban nganh", "co quan")},
}


def normalize_level(value: str | None) -> Level | None:
    """The level a registry value or a Vietnamese word names ("district", "Huyện",
    "xã", "Sở" …), or None when it names none."""
    key = tuple(fold_words(w) for w in words(value))
    return _NAMES.get(key)


def is_current_level(level: Level) -> bool:
    """False for a level abolished by the 2025 reform (district)."""
    return level in CURRENT_LEVELS
