"""The alert rules file: the bundled default, overrides, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.monitoring.rules import Rules, RulesError, load_rules, parse_rules, rules_path


def test_bundled_rules_load_and_match_the_defaults() -> None:
    rules = load_rules()
    assert rules.source.endswith("rules.yaml")
    d = rules.default
    assert (d.stale.days, d.no_new_articles.crawls, d.extraction_failures.percent) == (30, 3, 20)
    assert d.extraction_failures.fields == ("published_at", "title", "body")
    assert d.crawl_failed.outcomes == ("failed",)
    assert rules.overrides == {}
    assert d == Rules().default


def test_overrides_inherit_the_file_defaults(tmp_path: Path) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text("stale: {days: 10}\nno_new_articles: false\n"
                 "extraction_failures: {percent: 50, fields: [published_at, view_count]}\n"
                 "portals:\n  xa-a:\n    stale: {days: 120}\n    crawl_failed: {enabled: false}\n", "utf-8")
    rules = load_rules(f)
    assert rules.default.stale.days == 10 and not rules.default.no_new_articles.enabled
    assert rules.default.extraction_failures.fields == ("published_at", "view_count")
    xa = rules.for_portal("xa-a")
    assert xa.stale.days == 120 and not xa.crawl_failed.enabled
    assert xa.extraction_failures.percent == 50 and not xa.no_new_articles.enabled
    assert rules.for_portal("other") is rules.default
    assert rules.runs_needed == 5


@pytest.mark.parametrize(("text", "expected"), [
    ("stale: {days: -1}\n", "key 'stale.days'"),
    ("stale: {dayz: 3}\n", "'dayz' was unexpected"),
    ("extraction_failures: {fields: [date]}\n", "key 'extraction_failures.fields.0'"),
    ("alerts: {}\n", "'alerts' was unexpected"),
    ("portals: {BAD ID: {}}\n", "BAD ID"),
    ("stale: [\n", "not valid YAML at line"),
])
def test_bad_rules_files_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    f = tmp_path / "rules.yaml"
    f.write_text(text, "utf-8")
    with pytest.raises(RulesError) as exc:
        load_rules(f)
    assert expected in str(exc.value) and str(f) in str(exc.value)


def test_missing_rules_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="rules file not found"):
        load_rules(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("", "utf-8")
    assert load_rules(empty).default == Rules().default
    assert parse_rules({"crawl_failed": {"outcomes": ["failed", "partial"]}}).default.crawl_failed.outcomes == (
        "failed", "partial")


def test_rules_path_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORTALNEWS_ALERT_RULES", "/env.yaml")
    assert rules_path("/cli.yaml", {"PORTALNEWS_ALERT_RULES": "/set.yaml"}) == "/cli.yaml"
    assert rules_path(None, {"PORTALNEWS_ALERT_RULES": "/set.yaml"}) == "/set.yaml"
    assert rules_path(None, {"PORTALNEWS_ALERT_RULES": ""}) == "/env.yaml"
    monkeypatch.delenv("PORTALNEWS_ALERT_RULES")
    assert rules_path(None, None) is None
