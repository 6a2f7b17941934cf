"""Site-family profiles: declarative YAML files, validated and compiled once.

This module is the ONE place profiles are loaded.  Every ``*.yaml`` file in this
package directory (and, optionally, in an extra directory given by the user) describes
one platform family, e.g. Tân Dân SharePoint, NukeViet, Liferay/VNPT ePortal:

* ``detect``: rules that recognise a page of the family (URL regex, CSS selector
  present, ``<meta name="generator">`` substring, class-name prefix, raw substring),
  each with a weight, and the ``threshold`` the summed weights must reach;
* ``navigation``: regexes the spider may use (``article_url``, ``listing_url``,
  ``pagination``);
* ``fields``: CSS or XPath selectors for title, date, views, body, summary, author,
  category (the first selector that yields a usable value wins; when none does, the
  generic extractor fills the field);
* ``remove``: selectors for things inside the article that are not body text
  (captions, related boxes, tools, tags).

Adding a portal on a known platform needs nothing; adding a family is one YAML file.
Loading validates each file against a JSON Schema and compiles every regex and
selector; any problem raises :class:`ProfileError` naming the file and the key.
Keep the returned :class:`ProfileSet` and pass it around (it is immutable): loading
is not cached globally.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from cssselect import HTMLTranslator, SelectorError
from jsonschema import Draft202012Validator
from lxml import etree

logger = logging.getLogger(__name__)

__all__ = [
    "FIELD_NAMES",
    "DetectRule",
    "FieldSelector",
    "Profile",
    "ProfileError",
    "ProfileSet",
    "builtin_profile_dir",
    "load_profiles",
    "profile_schema",
]

FIELD_NAMES = ("title", "date", "views", "body", "summary", "author", "category")
RULE_KINDS = ("url", "selector", "generator", "class_prefix", "contains")


class ProfileError(ValueError):
    """A profile file is unreadable or invalid; the message names the file and the key."""


def profile_schema() -> dict[str, Any]:
    """The JSON Schema every profile YAML file must satisfy (a fresh copy)."""
    text = {"type": "string", "minLength": 1}
    selector = {
        "oneOf": [
            text,
            {
                "type": "object",
                "additionalProperties": False,
                "properties": {**dict.fromkeys(("css", "xpath", "attr", "regex"), text),
                               "pick": {"enum": ["first", "last", "all"]}},
                "oneOf": [{"required": ["css"]}, {"required": ["xpath"]}],
            },
        ]
    }
    selector_list = {"type": "array", "items": selector}
    regex_list = {"type": "array", "items": text}
    rule = {
        "type": "object",
        "additionalProperties": False,
        "properties": {**dict.fromkeys(RULE_KINDS, text), "weight": {"type": "number", "exclusiveMinimum": 0}},
        "minProperties": 1,
        "oneOf": [{"required": [k]} for k in RULE_KINDS],
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "portalnews site-family profile",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "detect"],
        "properties": {
            "name": {"type": "string", "pattern": "^[a-z][a-z0-9_-]*$"},
            "description": {"type": "string"},
            "detect": {
                "type": "object",
                "additionalProperties": False,
                "required": ["rules"],
                "properties": {
                    "threshold": {"type": "number", "exclusiveMinimum": 0},
                    "rules": {"type": "array", "minItems": 1, "items": rule},
                },
            },
            "navigation": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "article_url": regex_list,
                    "listing_url": regex_list,
                    "pagination": regex_list,
                },
            },
            "fields": {
                "type": "object",
                "additionalProperties": False,
                "properties": {name: selector_list for name in FIELD_NAMES},
            },
            "remove": selector_list,
        },
    }


@dataclass(frozen=True)
class FieldSelector:
    """One compiled selector: an XPath (CSS is translated), optional attribute and regex."""

    source: str
    xpath: etree.XPath
    attr: str | None = None
    regex: re.Pattern[str] | None = None
    pick: str = "first"
    # ids ("#x") and classes (".x") a CSS selector needs: a page without one of them cannot
    # match, and the XPath is not run (measured: most fallback selectors miss on a page)
    required: frozenset[tuple[str, str]] = frozenset()

    def select(self, root: etree._Element, names: NameLookup | None = None) -> list[Any]:
        """Matching nodes (elements or strings) in document order.  ``names`` (the page's
        ids and classes) lets a selector that needs a name the page lacks answer at once."""
        if names is not None and self.required and not all(names.has_name(k, n) for k, n in self.required):
            return []
        result = self.xpath(root)
        if not isinstance(result, list):
            return [] if result is None or result == "" else [str(result)]
        return result


class NameLookup(Protocol):
    """The ids and classes present on a page."""

    def has_name(self, kind: str, name: str) -> bool: ...


@dataclass(frozen=True)
class DetectRule:
    """One detection rule; ``kind`` is one of ``url``, ``selector``, ``generator``,
    ``class_prefix``, ``contains``."""

    kind: str
    value: str
    weight: float
    pattern: re.Pattern[str] | None = None
    xpath: etree.XPath | None = None
    # A selector rule that is one tag/id/class test ("#news-bodyhtml", "div.ms-rtestate-field",
    # a class prefix) as (tag or "", "#" or ".", name): answered from the page's class/id index
    # instead of an XPath over the whole tree (see profile_engine.detect).
    simple: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Profile:
    """A compiled site-family profile."""

    name: str
    description: str
    source: str
    rules: tuple[DetectRule, ...]
    threshold: float
    article_url: tuple[re.Pattern[str], ...] = ()
    listing_url: tuple[re.Pattern[str], ...] = ()
    pagination: tuple[re.Pattern[str], ...] = ()
    fields: Mapping[str, tuple[FieldSelector, ...]] = field(default_factory=dict)
    remove: tuple[FieldSelector, ...] = ()

    def selectors(self, field_name: str) -> tuple[FieldSelector, ...]:
        """Selectors for one field (empty when the profile leaves it to the generic extractor)."""
        return self.fields.get(field_name, ())

    def matches_article_url(self, url: str) -> bool:
        return any(p.search(url) for p in self.article_url)

    def matches_listing_url(self, url: str) -> bool:
        return any(p.search(url) for p in self.listing_url) or any(p.search(url) for p in self.pagination)


@dataclass(frozen=True)
class ProfileSet:
    """An immutable, ordered collection of profiles."""

    profiles: tuple[Profile, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.profiles)

    def get(self, name: str) -> Profile | None:
        for profile in self.profiles:
            if profile.name == name:
                return profile
        return None

    def __iter__(self) -> Iterator[Profile]:
        return iter(self.profiles)

    def __len__(self) -> int:
        return len(self.profiles)

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.profiles)


def builtin_profile_dir() -> Path:
    """Directory holding the bundled family profiles."""
    return Path(__file__).resolve().parent


_CSS_NAME = re.compile(r"([#.])([A-Za-z_][\w-]*)")


def _required_names(css: str) -> frozenset[tuple[str, str]]:
    """The ids and classes every match of a CSS selector carries (or its ancestors do): those
    outside attribute brackets and pseudo-classes, for a selector without a "," union."""
    if "," in css or ":" in css:
        return frozenset()
    plain = re.sub(r"\[[^\]]*\]", " ", css)
    return frozenset((m.group(1), m.group(2)) for m in _CSS_NAME.finditer(plain))


_SIMPLE_SELECTOR = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)?([#.])([A-Za-z_][\w-]*)")


def _class_prefix_xpath(prefix: str) -> str:
    literal = _xpath_literal(prefix)
    spaced = _xpath_literal(" " + prefix)
    return f"//*[starts-with(normalize-space(@class), {literal}) or contains(@class, {spaced})][1]"


def _xpath_literal(value: str) -> str:
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    parts = value.split("'")
    return "concat(" + ', "\'", '.join(f"'{p}'" for p in parts) + ")"


class _Compiler:
    """Compiles one validated profile document; errors name the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.translator = HTMLTranslator()

    def error(self, key: str, message: str) -> ProfileError:
        return ProfileError(f"{self.source}: {key}: {message}")

    def regex(self, key: str, pattern: str) -> re.Pattern[str]:
        try:
            return re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            raise self.error(key, f"invalid regex {pattern!r}: {exc}") from None

    def xpath(self, key: str, expr: str) -> etree.XPath:
        try:
            return etree.XPath(expr)
        except etree.XPathSyntaxError as exc:
            raise self.error(key, f"invalid XPath {expr!r}: {exc}") from None

    def css(self, key: str, css: str) -> etree.XPath:
        try:
            expr = self.translator.css_to_xpath(css)
        except SelectorError as exc:
            raise self.error(key, f"invalid CSS selector {css!r}: {exc}") from None
        return self.xpath(key, expr)

    def selector(self, key: str, spec: str | Mapping[str, Any]) -> FieldSelector:
        if isinstance(spec, str):
            return FieldSelector(source=spec, xpath=self.css(key, spec), required=_required_names(spec))
        required: frozenset[tuple[str, str]] = frozenset()
        if "css" in spec:
            source, compiled = spec["css"], self.css(key, spec["css"])
            required = _required_names(source)
        else:
            source, compiled = spec["xpath"], self.xpath(key, spec["xpath"])
        regex = self.regex(f"{key}.regex", spec["regex"]) if "regex" in spec else None
        if regex is not None and regex.groups > 1:
            raise self.error(f"{key}.regex", "use at most one capturing group")
        return FieldSelector(
            source=source, xpath=compiled, attr=spec.get("attr"), regex=regex, pick=spec.get("pick", "first"),
            required=required,
        )

    def rule(self, key: str, spec: Mapping[str, Any]) -> DetectRule:
        kind = next(k for k in RULE_KINDS if k in spec)
        value = str(spec[kind])
        weight = float(spec.get("weight", 1))
        if kind == "url":
            return DetectRule(kind, value, weight, pattern=self.regex(f"{key}.url", value))
        if kind == "selector":
            m = _SIMPLE_SELECTOR.fullmatch(value.strip())
            simple = (m.group(1) or "", m.group(2), m.group(3)) if m else None
            return DetectRule(kind, value, weight, xpath=self.css(f"{key}.selector", value), simple=simple)
        if kind == "class_prefix":
            return DetectRule(
                kind, value, weight, xpath=self.xpath(f"{key}.class_prefix", _class_prefix_xpath(value)),
                simple=("", "^", value),
            )
        return DetectRule(kind, value.lower() if kind == "generator" else value, weight)

    def profile(self, doc: Mapping[str, Any]) -> Profile:
        detect = doc["detect"]
        rules = tuple(self.rule(f"detect.rules[{i}]", r) for i, r in enumerate(detect["rules"]))
        nav = doc.get("navigation", {})
        fields = {
            name: tuple(self.selector(f"fields.{name}[{i}]", s) for i, s in enumerate(specs))
            for name, specs in doc.get("fields", {}).items()
        }
        return Profile(
            name=doc["name"],
            description=doc.get("description", ""),
            source=self.source,
            rules=rules,
            threshold=float(detect.get("threshold", 1)),
            article_url=tuple(
                self.regex(f"navigation.article_url[{i}]", p)
                for i, p in enumerate(nav.get("article_url", []))
            ),
            listing_url=tuple(
                self.regex(f"navigation.listing_url[{i}]", p)
                for i, p in enumerate(nav.get("listing_url", []))
            ),
            pagination=tuple(
                self.regex(f"navigation.pagination[{i}]", p) for i, p in enumerate(nav.get("pagination", []))
            ),
            fields=fields,
            remove=tuple(self.selector(f"remove[{i}]", s) for i, s in enumerate(doc.get("remove", []))),
        )


def _load_file(path: Path, validator: Draft202012Validator) -> Profile:
    source = str(path)
    try:
        doc = yaml.load(
            path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        )
    except OSError as exc:
        raise ProfileError(f"{source}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ProfileError(f"{source}: (root): a profile must be a mapping")
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        err = errors[0]
        key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in err.absolute_path) or "(root)"
        key = key.replace(".[", "[")
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise ProfileError(f"{source}: {key}: {err.message}{more}")
    return _Compiler(source).profile(doc)


def load_profiles(extra_dir: Path | None = None) -> ProfileSet:
    """Load, validate and compile the bundled profiles plus those in ``extra_dir``.

    A profile in ``extra_dir`` with the name of a bundled one replaces it.  Raises
    :class:`ProfileError` (naming the file and the key) for any invalid file or for two
    files in one directory declaring the same name.
    """
    validator = Draft202012Validator(profile_schema())
    loaded: dict[str, Profile] = {}
    dirs = [builtin_profile_dir()]
    if extra_dir is not None:
        extra = Path(extra_dir)
        if not extra.is_dir():
            raise ProfileError(f"{extra}: not a directory")
        dirs.append(extra)
    for directory in dirs:
        seen_here: set[str] = set()
        for path in sorted(directory.glob("*.y*ml")):
            if path.suffix not in (".yaml", ".yml"):
                continue
            profile = _load_file(path, validator)
            if profile.name in seen_here:
                raise ProfileError(f"{path}: name: duplicate profile name {profile.name!r} in {directory}")
            seen_here.add(profile.name)
            if profile.name in loaded:
                logger.info("profile %s from %s replaces %s", profile.name, path, loaded[profile.name].source)
            loaded[profile.name] = profile
    logger.debug("loaded %d profiles: %s", len(loaded), ", ".join(loaded))
    return ProfileSet(tuple(loaded.values()))
