"""Alert de-duplication as the duty officer sees it: a broken portal pages once, not after
every evaluation; it pages again after the repeat interval; its recovery sends one
"resolved" notice; an alert that reached no channel is sent next time.

Real components: a SQLite store file, the ``portalnews check`` command in a subprocess, and
a webhook receiver on loopback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipelines.storage import RunRecord, open_store
from tests.monitoring_servers import WebhookReceiver

ROOT = Path(__file__).resolve().parent.parent

RULES = """
stale: {enabled: false}
no_new_articles: {enabled: false}
extraction_failures: {enabled: false}
crawl_failed: {outcomes: [failed]}
"""


def save_run(store_url: str, portal: str, n: int, outcome: str, message: str = "") -> None:
    store = open_store(store_url)
    store.open()
    try:
        store.save_run(RunRecord(run_id=f"{portal}-{n}", portal_id=portal, started_at=f"2026-11-2{n}T00:00:00+00:00",
                                 finished_at=f"2026-11-2{n}T00:05:00+00:00", outcome=outcome, pages_fetched=3,
                                 message=message))
    finally:
        store.close()


@pytest.fixture()
def setup(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, "utf-8")
    save_run(store, "xa-down", 1, "failed", "home page unreachable: connection refused")
    save_run(store, "huyen-ok", 1, "ok")
    yield store, rules


def check(store: str, rules: Path, hook: WebhookReceiver, *extra: str, **env: str
          ) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    """Run ``check --notify``; return the result and the webhook bodies this run produced."""
    before = len(hook.calls)
    full_env = {**_environ(), "PORTALNEWS_ALERT_WEBHOOK": hook.url, **env}
    done = subprocess.run([sys.executable, "-m", "crawler.cli", "check", "--store", store, "--rules", str(rules),
                           *(extra or ("--notify",))], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=full_env)
    assert "Traceback" not in done.stderr, done.stderr
    return done, [c["body"] for c in hook.calls[before:]]


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PORTALNEWS_ALERT")}


def test_a_failing_portal_pages_once_then_after_the_interval_and_its_recovery_once(
        setup: tuple[str, Path]) -> None:
    store, rules = setup
    with WebhookReceiver() as hook:
        first, sent = check(store, rules, hook)
        assert first.returncode == 1 and "xa-down" in first.stdout
        assert [(b["event"], b["portal_id"]) for b in sent] == [("alert", "xa-down")]

        again, sent = check(store, rules, hook)
        assert again.returncode == 1 and "xa-down" in again.stdout  # check still names it...
        assert sent == []  # ...but nobody is paged twice
        assert "1 held" in again.stderr

        _, sent = check(store, rules, hook, PORTALNEWS_ALERT_REPEAT_HOURS="0")  # the interval has passed
        assert [b["portal_id"] for b in sent] == ["xa-down"]
        _, sent = check(store, rules, hook, "--resend")
        assert [b["portal_id"] for b in sent] == ["xa-down"]

        save_run(store, "xa-down", 2, "ok")  # the portal is back
        recovered, sent = check(store, rules, hook)
        assert recovered.returncode == 0
        assert len(sent) == 1 and sent[0]["event"] == "resolved" and sent[0]["portal_id"] == "xa-down"
        assert "home page unreachable" in sent[0]["previous_summary"]

        quiet, sent = check(store, rules, hook)
        assert quiet.returncode == 0 and sent == []

        save_run(store, "xa-down", 3, "failed", "HTTP 503")  # down again: a new page at once
        _, sent = check(store, rules, hook)
        assert [(b["event"], b["portal_id"]) for b in sent] == [("alert", "xa-down")]


def test_an_alert_no_channel_took_is_sent_at_the_next_evaluation(setup: tuple[str, Path]) -> None:
    store, rules = setup
    with WebhookReceiver(status=400) as refusing:
        done, _ = check(store, rules, refusing)
        assert done.returncode == 1 and "delivery error" in done.stderr
    with WebhookReceiver() as hook:
        _, sent = check(store, rules, hook)
        assert [b["portal_id"] for b in sent] == ["xa-down"]


def test_a_bad_repeat_interval_is_named_and_the_default_used(setup: tuple[str, Path]) -> None:
    store, rules = setup
    with WebhookReceiver() as hook:
        done, sent = check(store, rules, hook, PORTALNEWS_ALERT_REPEAT_HOURS="daily")
    assert "PORTALNEWS_ALERT_REPEAT_HOURS='daily'" in done.stderr
    assert [b["portal_id"] for b in sent] == ["xa-down"]
