"""Portal registry: load a YAML registry file and validate each entry against a schema.

The registry is the one place where per-portal facts live.  Loading never raises a
traceback at the user for a bad entry: every problem names the entry and the key, bad
entries are skipped and reported, and the valid ones are still usable.

Besides the schema (``crawler/schemas/registry.schema.json``) an entry is refused when

* it has a key the schema does not know (a typo such as ``enable: false`` would otherwise
  leave the portal enabled): the message suggests the closest known key; free-form text
  goes under ``notes``, whose content is never checked;
* its ``every`` is shorter than ``PORTALNEWS_MIN_INTERVAL`` (default 60 s; tests lower it);
* its ``url`` or a ``start_urls`` entry points inside the operator's network: link-local
  addresses always, loopback and private ones unless ``PORTALNEWS_ALLOW_PRIVATE_HOSTS=1``
  (:mod:`crawler.middlewares.private_hosts`, which checks resolved addresses at fetch time).

Loading is linear and lean (:mod:`pipelines.yamlfile`); messages quote values shortly.
"""

from __future__ import annotations

import difflib
import functools
import json
import logging
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator, ValidationError

from crawler.middlewares.private_hosts import allow_private_hosts as _allow_private_hosts
from crawler.middlewares.private_hosts import host_refusal
from crawler.scheduling.intervals import format_duration, parse_duration
from pipelines.admin import load_provinces
from pipelines.yamlfile import load_yaml_file, quote

logger = logging.getLogger(__name__)

LEVELS = ("province", "district", "commune", "department")
#: The key whose content is free-form (anything the operator wants to note).
FREE_FORM_KEY = "notes"
#: Shortest crawl interval a registry entry may ask for, unless PORTALNEWS_MIN_INTERVAL says otherwise.
MIN_INTERVAL_VARIABLE = "PORTALNEWS_MIN_INTERVAL"
DEFAULT_MIN_INTERVAL = 60.0


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
    #: The province after the 2025 reform when the registry says it (else derived from
    #: ``province`` by :mod:`pipelines.admin` when documents are stored).
    current_province: str | None = None
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


def min_interval(value: str | float | None = None) -> float:
    """The shortest crawl interval allowed, in seconds: ``value`` when given, else
    ``PORTALNEWS_MIN_INTERVAL`` from the environment, else 60 s."""
    raw = value if value not in (None, "") else os.environ.get(MIN_INTERVAL_VARIABLE, "")
    if raw in (None, ""):
        return DEFAULT_MIN_INTERVAL
    try:
        return parse_duration(raw)  # type: ignore[arg-type]
    except ValueError as exc:
        raise RegistryError(f"{MIN_INTERVAL_VARIABLE}={raw!r}: {exc}") from None


class _EntryChecker:
    """Validates registry entries against the schema, fast.

    jsonschema takes about 100 µs per entry (4 s for a 10 MB registry), most of it walking the
    same keywords for the same values.  Entries are judged valid here with one small validator
    per property, remembering the verdict for short repeated values (``level: commune``,
    ``every: 6h``): about 4 times faster (measured, scripts/bench_registry.py).  Only an entry that
    is not valid goes through the whole schema, whose errors make the messages.  The shortcut is
    taken only while the schema's top level uses nothing but type/required/properties/
    additionalProperties: false, where it gives the same verdict."""

    _TOP = frozenset({"$schema", "title", "description", "type", "required", "properties", "additionalProperties"})
    _ANNOTATIONS = frozenset({"title", "description", "$comment", "examples"})

    def __init__(self, schema: dict[str, Any]) -> None:
        self.full = Draft202012Validator(schema)
        self.known = sorted(schema.get("properties", {}))
        self.required = tuple(schema.get("required", ()))
        self.fast = (set(schema) <= self._TOP and schema.get("type") == "object"
                     and schema.get("additionalProperties") is False)
        # a property whose schema has no keyword that checks anything (``notes``) takes any value
        self.props = {k: None if set(v) <= self._ANNOTATIONS else Draft202012Validator(v)
                      for k, v in schema.get("properties", {}).items()}
        self.verdicts: dict[tuple[str, type, Any], bool] = {}

    def is_valid(self, entry: dict[str, Any]) -> bool:
        if not self.fast:
            return bool(self.full.is_valid(entry))
        if any(k not in entry for k in self.required):
            return False
        for key, value in entry.items():
            if key not in self.props:
                return False
            prop = self.props[key]
            if prop is None:
                continue
            if type(value) in (str, int, bool, float) and (type(value) is not str or len(value) <= 64):
                memo = (key, type(value), value)
                verdict = self.verdicts.get(memo)
                if verdict is None:
                    verdict = bool(prop.is_valid(value))
                    if len(self.verdicts) < 4096:
                        self.verdicts[memo] = verdict
            else:
                verdict = bool(prop.is_valid(value))
            if not verdict:
                return False
        return True

    def problems(self, entry: dict[str, Any]) -> list[str]:
        """One message per problem of an entry: unknown keys first, then the schema's errors."""
        out = [_unknown_key(key, self.known) for key in entry if key not in self.props]
        errors = sorted((e for e in self.full.iter_errors(entry) if e.validator != "additionalProperties"),
                        key=lambda e: [str(p) for p in e.path])
        for err in errors:
            if err.validator == "required":
                out.append(_explain(err))
            else:
                out.append(f"key {'.'.join(str(p) for p in err.path)!r}: {_explain(err)}")
        return out


def _unknown_key(key: Any, known: list[str]) -> str:
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    hint = (f"did you mean {close[0]!r}?" if close else
            f"known keys: {', '.join(known)}; free-form text goes under {FREE_FORM_KEY!r}")
    return f"unknown key {quote(key, 60)} ({hint})"


def _explain(err: ValidationError) -> str:
    """A schema error in one short line that quotes at most a little of the value."""
    value = quote(err.instance)
    if err.validator == "type":
        return f"{value} is not of type {err.validator_value!r}"
    if err.validator == "pattern":
        return f"{value} does not match {err.validator_value!r}"
    if err.validator == "enum":
        return f"{value} is not one of {', '.join(map(repr, err.validator_value))}"
    return _short(err.message)


def _describe(entry: Any, index: int) -> str:
    if isinstance(entry, dict) and isinstance(entry.get("id"), str):
        return f"entry {index} (id {entry['id']!r})"
    return f"entry {index}"


def parse_registry(data: Any, source: str = "<registry>", placeholders: dict[str, str] | None = None,
                   *, allow_private_hosts: bool | None = None, min_every: float | None = None) -> Registry:
    """Validate already-parsed YAML data and build a :class:`Registry`.

    ``allow_private_hosts`` (default: ``PORTALNEWS_ALLOW_PRIVATE_HOSTS``) lets entries point at
    loopback and private addresses; ``min_every`` (default: ``PORTALNEWS_MIN_INTERVAL``, 60 s) is
    the shortest ``every`` accepted."""
    if isinstance(data, list):
        entries = data
    elif isinstance(data, dict) and isinstance(data.get("portals"), list):
        entries = data["portals"]
    else:
        raise RegistryError(f"{source}: expected a mapping with a 'portals:' list")
    allow = _allow_private_hosts(allow_private_hosts)
    shortest = min_interval(min_every)
    checker = _EntryChecker(_schema())
    portals: list[Portal] = []
    problems: list[str] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        where = f"{source}: {_describe(entry, index)}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: expected a mapping of keys, got {type(entry).__name__}")
            continue
        if not checker.is_valid(entry):
            problems.extend(f"{where}: {problem}" for problem in checker.problems(entry))
            continue
        pid = entry["id"]
        if pid in seen:
            problems.append(f"{where}: key 'id': duplicate id {pid!r}")
            continue
        entry_problems = _entry_problems(entry, placeholders, allow, shortest)
        if entry_problems:
            problems.extend(f"{where}: {problem}" for problem in entry_problems)
            continue
        seen.add(pid)
        portals.append(
            Portal(
                id=pid,
                name=str(entry["name"]).strip(),
                level=entry["level"],
                province=str(entry["province"]).strip(),
                url=_fill(str(entry["url"]), placeholders),
                profile=entry.get("profile", "auto"),
                every=entry.get("every"),
                enabled=bool(entry.get("enabled", True)),
                verified=bool(entry.get("verified", True)),
                max_pages=entry.get("max_pages"),
                start_urls=tuple(_fill(u, placeholders) for u in entry.get("start_urls", ())),
                current_province=_current_province(entry.get("current_province")),
                extra={FREE_FORM_KEY: entry[FREE_FORM_KEY]} if FREE_FORM_KEY in entry else {},
            )
        )
    for problem in problems:
        logger.error("registry: %s", problem)
    return Registry(path=source, portals=portals, problems=problems)


@functools.lru_cache(maxsize=256)
def _duration(value: str) -> float:
    return parse_duration(value)


def _fill(url: str, placeholders: dict[str, str] | None) -> str:
    for name, value in (placeholders or {}).items():
        url = url.replace("{" + name + "}", value)
    return url


def _entry_problems(entry: dict[str, Any], placeholders: dict[str, str] | None, allow_private: bool,
                    shortest: float) -> list[str]:
    """What the schema cannot tell about a valid entry: placeholders, hosts, the interval."""
    out = []
    for key in ("url", "start_urls"):
        urls = [entry[key]] if key == "url" else entry.get(key, [])
        for raw in urls:
            url = _fill(str(raw), placeholders)
            if "{" in url:
                out.append(f"key {key!r}: unresolved placeholder in {quote(url)}")
                continue
            try:
                host = urlsplit(url).hostname or ""
            except ValueError as exc:
                out.append(f"key {key!r}: {quote(url)} is not a valid URL ({exc})")
                continue
            reason = host_refusal(host, allow_private)
            if reason:
                out.append(f"key {key!r}: refused {quote(url)}: {reason}")
    current = entry.get("current_province")
    if current is not None and _current_province(current) is None:
        names = ", ".join(p.name for p in load_provinces().current)
        out.append(f"key 'current_province': {quote(str(current))} is not one of the 34 provinces since the 2025 reform "
                   f"({names})")
    every = entry.get("every")
    if every is not None:
        try:
            seconds = _duration(every)
        except ValueError as exc:
            out.append(f"key 'every': {exc}")
        else:
            if seconds < shortest:
                out.append(f"key 'every': {every!r} is shorter than the minimum interval "
                           f"{format_duration(shortest)} ({MIN_INTERVAL_VARIABLE})")
    return out


def _current_province(name: str | None) -> str | None:
    """The canonical name of a current (2025) province in any spelling; None otherwise."""
    if not name:
        return None
    provinces = load_provinces()
    canonical = provinces.resolve(name)
    return canonical if canonical in {p.name for p in provinces.current} else None


def _short(message: str) -> str:
    return message if len(message) < 200 else message[:197] + "..."


def load_registry(path: str | Path, placeholders: dict[str, str] | None = None, *,
                  allow_private_hosts: bool | None = None, min_every: float | None = None) -> Registry:
    """Read and validate a registry file.  Raises :class:`RegistryError` only when the
    file as a whole is unusable; bad entries are reported in ``Registry.problems``.
    See :func:`parse_registry` for the keyword arguments."""
    p = Path(path)
    data = load_yaml_file(p, "registry file", RegistryError)
    return parse_registry(data, source=str(p), placeholders=placeholders,
                          allow_private_hosts=allow_private_hosts, min_every=min_every)
