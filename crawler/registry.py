"""Portal registry: load a YAML registry file and validate each entry against a schema.

The registry is the one place where per-portal facts live.  Loading never raises a
traceback at the user for a bad entry: every problem names the entry and the key, bad
entries are skipped and reported, and the valid ones are still usable.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator

from pipelines.yamlfile import load_yaml_file

logger = logging.getLogger(__name__)

LEVELS = ("province", "district", "commune", "department")


class RegistryError(ValueError):
    """The registry file cannot be used at all (missing, unreadable, not YAML, no portals)."""


@dataclass(frozen=True)
class Portal:
    """One portal from the registry."""

    id: str
    name: str
    level: str
    province: str
    url: str
    profile: str = "auto"
    every: str | None = None
    enabled: bool = True
    verified: bool = True
    max_pages: int | None = None
    start_urls: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def host(self) -> str:
        """Host (with port) the crawl must stay on."""
        return urlsplit(self.url).netloc.lower()

    @property
    def hostname(self) -> str:
        return (urlsplit(self.url).hostname or "").lower()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "level": self.level,
            "province": self.province,
            "url": self.url,
            "profile": self.profile,
            "every": self.every,
            "enabled": self.enabled,
            "verified": self.verified,
        }


@dataclass
class Registry:
    """Valid portals plus the problems found while loading."""

    path: str
    portals: list[Portal]
    problems: list[str]

    def get(self, portal_id: str) -> Portal | None:
        for portal in self.portals:
            if portal.id == portal_id:
                return portal
        return None

    def select(self, ids: list[str] | None) -> list[Portal]:
        """Portals named in ``ids`` (all enabled portals when empty); unknown ids raise."""
        if not ids:
            return [p for p in self.portals if p.enabled]
        known = {p.id: p for p in self.portals}
        missing = [i for i in ids if i not in known]
        if missing:
            raise RegistryError(
                f"{self.path}: no valid portal with id {', '.join(repr(m) for m in missing)}"
                + (f" (known: {', '.join(sorted(known))})" if known else "")
            )
        return [known[i] for i in ids]


def _schema() -> dict[str, Any]:
    text = resources.files("crawler").joinpath("schemas/registry.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _describe(entry: Any, index: int) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        return f"entry {index} (id {entry['id']!r})"
    return f"entry {index}"


def parse_registry(data: Any, source: str = "<registry>", placeholders: dict[str, str] | None = None) -> Registry:
    """Validate already-parsed YAML data and build a :class:`Registry`."""
    if isinstance(data, list):
        entries = data
    elif isinstance(data, dict) and isinstance(data.get("portals"), list):
        entries = data["portals"]
    else:
        raise RegistryError(f"{source}: expected a mapping with a 'portals:' list")
    validator = Draft202012Validator(_schema())
    portals: list[Portal] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"{source}: {_describe(entry, index)}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping of keys, got {type(entry).__name__}")
            continue
        errors = sorted(validator.iter_errors(entry), key=lambda e: list(e.path))
        if errors:
            for err in errors:
                key = ".".join(str(p) for p in err.path)
                if err.validator == "required":
                    problems.append(f"{where}: {err.message}")
                else:
                    problems.append(f"{where}: key {key!r}: {_short(err.message)}")
            continue
        pid = entry["id"]
        if pid in seen:
            problems.append(f"{where}: key 'id': duplicate id {pid!r}")
            continue
        seen.add(pid)
        url = str(entry["url"])
        for name, value in (placeholders or {}).items():
            url = url.replace("{" + name + "}", value)
        if "{" in url:
            problems.append(f"{where}: key 'url': unresolved placeholder in {url!r}")
            continue
        known = {"id", "name", "level", "province", "url", "profile", "every", "enabled",
                 "verified", "max_pages", "start_urls"}
        portals.append(
            Portal(
                id=pid,
                name=str(entry["name"]).strip(),
                level=entry["level"],
                province=str(entry["province"]).strip(),
                url=url,
                profile=entry.get("profile", "auto"),
                every=entry.get("every"),
                enabled=bool(entry.get("enabled", True)),
                verified=bool(entry.get("verified", True)),
                max_pages=entry.get("max_pages"),
                start_urls=tuple(entry.get("start_urls", ())),
                extra={k: v for k, v in entry.items() if k not in known},
            )
        )
    for problem in problems:
        logger.error("registry: %s", problem)
    return Registry(path=source, portals=portals, problems=problems)


def _short(message: str) -> str:
    return message if len(message) < 200 else message[:197] + "..."


def load_registry(path: str | Path, placeholders: dict[str, str] | None = None) -> Registry:
    """Read and validate a registry file.  Raises :class:`RegistryError` only when the
    file as a whole is unusable; bad entries are reported in ``Registry.problems``."""
    p = Path(path)
    data = load_yaml_file(p, "registry file", RegistryError)
    return parse_registry(data, source=str(p), placeholders=placeholders)
