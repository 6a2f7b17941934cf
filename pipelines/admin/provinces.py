"""Provinces before and after the 2025 reform: which current province an old name is in.

On 12 June 2025 (Nghị quyết 202/2025/QH15) Vietnam merged its 63 provincial-level units
into 34; older portals and articles keep the old names.  The mapping is data
(``provinces.yaml`` beside this module, with its sources, checked against
``provinces.schema.json``); this module answers from it:

* :func:`current_province` — "Phú Yên", "Tỉnh Phú Yên", "phu yen" -> "Đắk Lắk";
* :func:`provinces_merged_into` — "Đắk Lắk" -> ("Đắk Lắk", "Phú Yên");
* :func:`province_filter` — the names a province filter matches: a current province
  includes the units merged into it, an abolished one only itself;
* :func:`province_key` — the comparison key of a name (aliases resolved: "TP.HCM" and
  "Thành phố Hồ Chí Minh" have one key), for stores that compare names.

Names are compared without case, diacritics, punctuation and a "Tỉnh"/"Thành phố"/"TP."/
"Thủ đô" prefix.  Pure; the data is loaded once, on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pipelines.search.analysis import fold_words, words
from pipelines.yamlfile import load_checked_yaml

logger = logging.getLogger(__name__)

__all__ = [
    "DATA_FILE",
    "AdminDataError",
    "Province",
    "Provinces",
    "UnitType",
    "current_province",
    "load_provinces",
    "name_key",
    "province_filter",
    "province_key",
    "provinces_merged_into",
]

DATA_FILE = Path(__file__).with_name("provinces.yaml")
SCHEMA_FILE = Path(__file__).with_name("provinces.schema.json")

#: Leading words that say what kind of unit a name is, not which one (folded).
_PREFIXES = (("thanh", "pho"), ("thu", "do"), ("tinh",), ("tp",), ("t", "p"))


class AdminDataError(ValueError):
    """The provinces file cannot be used; the message names the file and the entry."""


class UnitType(StrEnum):
    PROVINCE = "province"  # tỉnh
    CITY = "city"  # thành phố trực thuộc trung ương


@dataclass(frozen=True)
class Province:
    """A current provincial-level unit and the former units it was formed from."""

    name: str
    type: UnitType
    formed_from: tuple[str, ...]

    @property
    def merged(self) -> bool:
        return self.formed_from != (self.name,)

    @property
    def full_name(self) -> str:
        """"Tỉnh Đắk Lắk", "Thành phố Hồ Chí Minh"."""
        return ("Thành phố " if self.type is UnitType.CITY else "Tỉnh ") + self.name


def name_key(name: str | None) -> str:
    """The comparison key of a spelling: folded, prefix and punctuation removed
    ("Tỉnh Bà Rịa - Vũng Tàu" -> "bariavungtau").  No alias is resolved here."""
    folded = [fold_words(w) for w in words(name)]
    for prefix in _PREFIXES:
        if tuple(folded[:len(prefix)]) == prefix and len(folded) > len(prefix):
            folded = folded[len(prefix):]
            break
    return "".join(folded)


class Provinces:
    """The validated mapping, with its look-ups."""

    def __init__(self, current: Sequence[Province], aliases: Mapping[str, str]) -> None:
        self.current: tuple[Province, ...] = tuple(current)
        self._by_key: dict[str, str] = {}  # key -> canonical name (former or current)
        self._current_of: dict[str, Province] = {}  # canonical name -> the current unit
        self._current_by_name: dict[str, Province] = {}
        former: list[str] = []
        for unit in self.current:
            self._claim(unit.name, unit.name)
            self._current_by_name[unit.name] = unit
            for old in unit.formed_from:
                if old in former:
                    raise AdminDataError(f"{old!r} is listed in two provinces' formed_from")
                former.append(old)
                self._claim(old, old)
                self._current_of[old] = unit
        for unit in self.current:
            if unit.name not in self._current_of:
                self._current_of[unit.name] = unit
            elif self._current_of[unit.name] is not unit:
                raise AdminDataError(f"{unit.name!r} is a current province and a part of "
                                     f"{self._current_of[unit.name].name!r}")
        for alias, target in aliases.items():
            canonical = self._by_key.get(name_key(target))
            if canonical is None:
                raise AdminDataError(f"alias {alias!r} names {target!r}, which is no province")
            self._claim(alias, canonical)
        #: The former units, 63 before the reform, in the file's order.
        self.former: tuple[str, ...] = tuple(former)

    def _claim(self, spelling: str, canonical: str) -> None:
        key = name_key(spelling)
        if not key:
            raise AdminDataError(f"{spelling!r} is not a name")
        known = self._by_key.setdefault(key, canonical)
        if known != canonical:
            raise AdminDataError(f"{spelling!r} reads the same as {known!r}")

    def resolve(self, name: str | None) -> str | None:
        """The canonical name of a former or current unit in any spelling, or None."""
        return self._by_key.get(name_key(name))

    def current_province(self, name: str | None) -> Province | None:
        """The current unit that a former or current name is part of, or None if unknown."""
        canonical = self.resolve(name)
        return self._current_of.get(canonical) if canonical else None

    def provinces_merged_into(self, name: str | None) -> tuple[str, ...]:
        """The former units that form the current province ``name`` (itself included when it
        kept its name); () when ``name`` is not a current province."""
        canonical = self.resolve(name)
        unit = self._current_by_name.get(canonical) if canonical else None
        return unit.formed_from if unit else ()

    def filter_names(self, name: str) -> tuple[str, ...]:
        """The province names a filter for ``name`` matches: a current province and the units
        merged into it; a former unit alone; an unknown name as given."""
        canonical = self.resolve(name)
        if canonical is None:
            return (name,)
        unit = self._current_by_name.get(canonical)
        if unit is None:
            return (canonical,)
        return tuple(dict.fromkeys((unit.name, *unit.formed_from)))

    def key(self, name: str | None) -> str:
        """The comparison key of ``name`` with aliases resolved ("TP.HCM" -> "hochiminh")."""
        canonical = self.resolve(name)
        return name_key(canonical if canonical else name)

    def filter_keys(self, name: str) -> frozenset[str]:
        """The keys (:meth:`key`) of the names :meth:`filter_names` gives."""
        return frozenset(self.key(n) for n in self.filter_names(name))


@lru_cache(maxsize=4)
def load_provinces(path: str | Path | None = None) -> Provinces:
    """The mapping from ``path`` (default: the bundled ``provinces.yaml``)."""
    p = Path(path) if path is not None else DATA_FILE
    data = load_checked_yaml(p, SCHEMA_FILE, "provinces file", AdminDataError)
    units = [Province(item["name"], UnitType(item["type"]), tuple(item["formed_from"])) for item in data["provinces"]]
    try:
        return Provinces(units, data["aliases"])
    except AdminDataError as exc:
        raise AdminDataError(f"{p}: {exc}") from None


def current_province(name: str | None) -> str | None:
    """The name of the current province that ``name`` (former or current, any spelling) is
    part of: "Tỉnh Phú Yên" -> "Đắk Lắk"; None for a name that is no province."""
    unit = load_provinces().current_province(name)
    return unit.name if unit else None


def provinces_merged_into(current: str | None) -> tuple[str, ...]:
    """The former units of a current province: "Đắk Lắk" -> ("Đắk Lắk", "Phú Yên")."""
    return load_provinces().provinces_merged_into(current)


def province_filter(name: str) -> tuple[str, ...]:
    """The province names a filter for ``name`` matches (see :meth:`Provinces.filter_names`)."""
    return load_provinces().filter_names(name)


def province_key(name: str | None) -> str:
    """The comparison key of a province name, aliases resolved (see :meth:`Provinces.key`)."""
    return load_provinces().key(name)
