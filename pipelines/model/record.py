"""The dict form of the project's plain records (dataclasses): every field, nested ones too."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


class DictRecord:
    """Mixin for a dataclass whose ``to_dict`` is :func:`dataclasses.asdict` of itself."""

    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]  # a mixin: the subclass is the dataclass
