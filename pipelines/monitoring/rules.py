"""Alert rules: the configuration file, its schema and the per-portal rule sets.

The rules live in a YAML file checked against ``pipelines/monitoring/rules.schema.json``;
``pipelines/monitoring/rules.yaml`` is the bundled default.  Five rules exist:

* ``stale``: the newest stored article is older than ``days`` (or none is dated);
* ``no_new_articles``: the last ``crawls`` finished crawls found no new article;
* ``extraction_failures``: on more than ``percent`` % of the article pages of the last
  ``crawls`` crawls one of ``fields`` was not found (judged from ``min_pages`` pages on);
* ``crawl_failed``: the last crawl ended with one of ``outcomes``;
* ``http_errors``: more than ``percent`` % of the last crawl's requests got an HTTP error or
  no answer (judged from ``min_requests`` requests on; a failed crawl is ``crawl_failed``'s).

``portals:`` overrides any of them for single portals.  The file is chosen with
``--rules FILE``, the ``PORTALNEWS_ALERT_RULES`` setting or environment variable.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from pipelines.yamlfile import load_yaml_file

logger = logging.getLogger(__name__)

RULE_NAMES = ("stale", "no_new_articles", "extraction_failures", "crawl_failed", "http_errors")


class RulesError(ValueError):
    """The rules file cannot be used; the message names the file, the key and the problem."""


@dataclass(frozen=True)
class StaleRule:
    enabled: bool = True
    days: float = 30.0


@dataclass(frozen=True)
class NoNewArticlesRule:
    enabled: bool = True
    crawls: int = 3


@dataclass(frozen=True)
class ExtractionFailuresRule:
    enabled: bool = True
    percent: float = 20.0
    fields: tuple[str, ...] = ("published_at", "title", "body")
    min_pages: int = 5
    crawls: int = 5


@dataclass(frozen=True)
class CrawlFailedRule:
    enabled: bool = True
    outcomes: tuple[str, ...] = ("failed",)


@dataclass(frozen=True)
class HttpErrorsRule:
    enabled: bool = True
    percent: float = 20.0
    min_requests: int = 10


@dataclass(frozen=True)
class RuleSet:
    """The rules that apply to one portal."""

    stale: StaleRule = field(default_factory=StaleRule)
    no_new_articles: NoNewArticlesRule = field(default_factory=NoNewArticlesRule)
    extraction_failures: ExtractionFailuresRule = field(default_factory=ExtractionFailuresRule)
    crawl_failed: CrawlFailedRule = field(default_factory=CrawlFailedRule)
    http_errors: HttpErrorsRule = field(default_factory=HttpErrorsRule)

    @property
    def runs_needed(self) -> int:
        """How many recent runs of a portal the rules look at."""
        return max(self.no_new_articles.crawls, self.extraction_failures.crawls, 1)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in RULE_NAMES:
            rule = getattr(self, name)
            out[name] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in rule.__dict__.items()}
        return out


@dataclass(frozen=True)
class Rules:
    """The default rule set plus per-portal overrides."""

    default: RuleSet = field(default_factory=RuleSet)
    overrides: dict[str, RuleSet] = field(default_factory=dict)
    source: str = "<defaults>"

    def for_portal(self, portal_id: str) -> RuleSet:
        return self.overrides.get(portal_id, self.default)

    @property
    def runs_needed(self) -> int:
        return max([self.default.runs_needed, *(r.runs_needed for r in self.overrides.values())])


@cache
def rules_schema() -> dict[str, Any]:
    text = resources.files("pipelines.monitoring").joinpath("rules.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def default_rules_path() -> Path:
    """The bundled ``pipelines/monitoring/rules.yaml``."""
    return Path(str(resources.files("pipelines.monitoring").joinpath("rules.yaml")))


def rules_path(explicit: str | None = None, settings: Any = None) -> str | None:
    """``--rules``, else the ``PORTALNEWS_ALERT_RULES`` setting, else the environment; None = bundled."""
    if explicit:
        return explicit
    value = settings.get("PORTALNEWS_ALERT_RULES") if settings is not None else None
    return str(value or os.environ.get("PORTALNEWS_ALERT_RULES") or "") or None


def _merge(base: RuleSet, data: dict[str, Any]) -> RuleSet:
    changes: dict[str, Any] = {}
    for name in RULE_NAMES:
        if name not in data:
            continue
        value = data[name]
        current = getattr(base, name)
        if isinstance(value, bool):
            changes[name] = replace(current, enabled=value)
            continue
        fields = {k: (tuple(v) if isinstance(v, list) else v) for k, v in value.items()}
        changes[name] = replace(current, **fields)
    return replace(base, **changes)


def parse_rules(data: Any, source: str = "<rules>") -> Rules:
    """Validate already-parsed YAML data and build :class:`Rules`."""
    if data is None:
        data = {}
    errors = sorted(Draft202012Validator(rules_schema()).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        problems = []
        for err in errors[:5]:
            key = ".".join(str(p) for p in err.absolute_path) or "(top level)"
            message = err.message
            if err.validator == "oneOf" and err.context:  # the branch of the value's type says what is wrong
                best = best_match(e for e in err.context if e.validator != "type") or best_match(err.context)
                if best is not None:
                    key = ".".join(str(p) for p in best.absolute_path) or key
                    message = best.message
            problems.append(f"key {key!r}: {message if len(message) < 200 else message[:197] + '...'}")
        raise RulesError(f"{source}: " + "; ".join(problems))
    default = _merge(RuleSet(), data)
    overrides = {pid: _merge(default, value or {}) for pid, value in (data.get("portals") or {}).items()}
    return Rules(default=default, overrides=overrides, source=source)


def load_rules(path: str | Path | None = None) -> Rules:
    """Read a rules file (the bundled default when ``path`` is None).  Raises :class:`RulesError`."""
    p = Path(path) if path else default_rules_path()
    data = load_yaml_file(p, "rules file", RulesError)
    return parse_rules(data, source=str(p))
